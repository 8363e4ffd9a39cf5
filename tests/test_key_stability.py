"""Every record key of every table under every profile equals the stored list
(tests/data/record-keys.txt): a key that changes orphans every record a user has
computed under it, so no refactor may change one by accident. After a change of what
a key holds (with KEY_VERSION raised), regenerate on purpose:

    UMIX_WRITE_KEYS=1 .venv/bin/python -m pytest tests/test_key_stability.py
"""
import difflib
import os
from typing import List

from conftest import DATA_DIR
from experiments.cli.parser import parse_args
from experiments.cli.selection import select_tasks
from experiments.registry.profiles import PROFILES
from experiments.registry.tables import load_registry

STORED = os.path.join(DATA_DIR, 'record-keys.txt')


def planned_keys(runs: str) -> List[str]:
    """'table profile stage row seed key' for every task of every row of every table."""
    lines = []
    for table in sorted(load_registry()):
        for profile in PROFILES:
            args = parse_args(['plan', table, '--profile', profile, '--runs-dir', runs])
            lines += [f'{table} {profile} {t.stage} {t.row.id} {t.seed} {t.key}'
                      for t in select_tasks(args, profile_rows=False)[4]]
    return lines


def test_every_record_key_is_unchanged(tmp_path, monkeypatch):
    # keys must not depend on where a user runs from or keeps data and weights
    monkeypatch.chdir(tmp_path)
    for var in ('UMIX_ADE20K_ROOT', 'UMIX_CITYSCAPES_ROOT', 'UMIX_TABLES', 'UMIX_WEIGHTS', 'UMIX_RUNS'):
        monkeypatch.delenv(var, raising=False)
    keys = planned_keys(str(tmp_path / 'runs'))
    assert len(keys) == len(set(keys)) > 500
    if os.environ.get('UMIX_WRITE_KEYS'):
        with open(STORED, 'w') as f:
            f.write('\n'.join(keys) + '\n')
    with open(STORED) as f:
        stored = f.read().splitlines()
    diff = list(difflib.unified_diff(stored, keys, 'stored', 'planned now', lineterm='', n=0))
    assert not diff, 'record keys changed (regenerate only on purpose, see the module doc):\n' + '\n'.join(diff[:40])
