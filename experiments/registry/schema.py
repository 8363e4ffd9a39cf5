"""What a table file may say: its fields, the datasets and metrics it can name.

The stages are ``experiments.core.stages``', the metrics and their tolerances the catalogue's
(``experiments.core.metrics``)."""
import os
import re
import tomllib
from typing import Any, Dict

from experiments.core.errors import SuiteError

SUITE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(SUITE_DIR, 'configs')
TABLE_DIR = os.path.join(SUITE_DIR, 'tables')

DATASETS = ('ade20k', 'cityscapes')
# what --rows can name (a comma separates ids there) and a file name can hold
ROW_ID = re.compile(r'[A-Za-z0-9][A-Za-z0-9._+-]*')
ROW_FIELDS = {'id', 'group', 'method', 'encoder', 'dataset', 'config', 'seeds', 'stages',
              'schedule', 'published', 'provenance', 'cited', 'notes', 'gpu_hours', 'gpus', 'nodes', 'pipeline',
              'tolerance', 'approximate'}
TABLE_FIELDS = {'name', 'title', 'source', 'metrics', 'defaults', 'rows', 'profiles', 'notes', 'reference',
                'expectations', 'layout'}


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
