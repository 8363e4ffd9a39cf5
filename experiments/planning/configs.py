"""Reading a row's config: the suite's own, or a user's that builds on them."""
import os
import tempfile

from mmengine.config import Config

from experiments.core.errors import UsageError
from experiments.registry.schema import CONFIG_DIR
from umixformer.apis import load_config

SUITE_PREFIX = 'suite::'  # in a user config's _base_: a path under experiments/configs


def load_base_config(path: str) -> Config:
    """Loads a row's config. A ``_base_`` entry ``'suite::umixformer/x.py'`` names
    a config of this suite (experiments/configs) from a config kept anywhere:
    the file is read through a rewritten copy beside it (relative bases keep
    working), which is removed again."""
    with open(path) as f:
        text = f.read()
    if SUITE_PREFIX not in text:
        return load_config(path)
    text = text.replace(SUITE_PREFIX, CONFIG_DIR + os.sep)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path)[:-3] + '-', suffix='.py')
    except OSError as err:
        raise UsageError(f'cannot read {path}: its suite:: bases need a temporary copy beside it ({err})') from None
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        return load_config(tmp)
    finally:
        os.unlink(tmp)
