"""What a table file may say: its fields, the stages, datasets and metrics it can name.

The metrics and their tolerances are the catalogue's (``experiments.core.metrics``)."""
import os
import re
import tomllib
from typing import Any, Dict

from experiments.core.errors import SuiteError
from experiments.core.metrics import PUBLISHED

SUITE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(SUITE_DIR, 'configs')
TABLE_DIR = os.path.join(SUITE_DIR, 'tables')

STAGES = ('train', 'test', 'complexity', 'latency', 'robustness')
# a stage that needs another stage's result of the same (row, seed)
STAGE_NEEDS = {'test': 'train', 'robustness': 'train'}
# stages that measure the model itself: independent of profile, data and seed
MODEL_STAGES = ('complexity', 'latency')
DATASETS = ('ade20k', 'cityscapes')
METRICS = PUBLISHED
# what --rows can name (a comma separates ids there) and a file name can hold
ROW_ID = re.compile(r'[A-Za-z0-9][A-Za-z0-9._+-]*')
ROW_FIELDS = {'id', 'group', 'method', 'encoder', 'dataset', 'config', 'seeds', 'stages',
              'schedule', 'published', 'provenance', 'cited', 'notes', 'gpu_hours', 'gpus', 'nodes', 'pipeline',
              'tolerance', 'approximate'}
TABLE_FIELDS = {'name', 'title', 'source', 'metrics', 'defaults', 'rows', 'profiles', 'notes', 'reference',
                'expectations', 'layout'}
DEFAULT_GPU_HOURS = {'train': 24.0, 'test': 0.3, 'complexity': 0.02, 'latency': 0.05,
                     'robustness': 6.0}


class RegistryError(SuiteError, ValueError):
    """A table file is malformed; the message names file, row and field."""


def read_toml(path: str, error: Any = None, missing: str = 'no such file') -> Dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file raises ``error``
    (RegistryError by default) naming the file."""
    error = error or RegistryError
    try:
        with open(path, 'rb') as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise error(f'{path}: {missing}') from None
    except tomllib.TOMLDecodeError as err:
        raise error(f'{path}: malformed TOML: {err}') from None


def check_type(where: str, name: str, value: Any, kind: Any, what: str) -> None:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise RegistryError(f'{where}: field {name!r} must be {what}, got {value!r}')
