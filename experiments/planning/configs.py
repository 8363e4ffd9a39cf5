"""Reading a row's config: the suite's own, or a user's that builds on them. Planning reads
configs without their ``custom_imports`` (no model code: ``status`` and ``plan`` answer on
a login node), through the parsed-config cache of ``umixformer_config.configs``."""
import os

from mmengine.config import Config
from umixformer_config.configs import read_config

from experiments.registry.schema import CONFIG_DIR

SUITE_PREFIX = 'suite::'  # in a user config's _base_: a path under experiments/configs


def load_base_config(path: str) -> Config:
    """Loads a row's config. A ``_base_`` entry ``'suite::umixformer/x.py'`` names
    a config of this suite (experiments/configs) from a config kept anywhere: the
    text is read with that prefix replaced (relative bases keep working)."""
    with open(path) as f:
        text = f.read()
    if SUITE_PREFIX not in text:
        return read_config(path)
    return read_config(path, text.replace(SUITE_PREFIX, CONFIG_DIR + os.sep))
