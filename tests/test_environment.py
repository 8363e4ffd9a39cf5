"""The UMIX_* variables: one table (``experiments.core.environment``) that every name in the
source is in, and the README's list of what a user sets is the table's."""
import glob
import os
import re

import pytest

from conftest import ROOT, TINY_TABLES
from experiments.cli import main
from experiments.core.environment import USER, VARIABLES

NAME = re.compile(r'\bUMIX_[A-Z0-9_]*[A-Z0-9]\b')
SOURCES = ('experiments', 'slurm', 'analysis', 'reports', 'umixformer', 'tools', 'tests', 'Makefile', '.ci')


def _source_names():
    found = {}
    for top in SOURCES:
        path = os.path.join(ROOT, top)
        files = [path] if os.path.isfile(path) else glob.glob(os.path.join(path, '**', '*'), recursive=True)
        for f in files:
            if os.path.isfile(f) and not f.endswith(('.pyc', '.png', '.pth', '.whl', 'environment.py')) and \
                    '/data/' not in f:
                for name in NAME.findall(open(f, errors='replace').read()):
                    found.setdefault(name, os.path.relpath(f, ROOT))
    return found


def test_every_variable_the_source_reads_is_in_the_table():
    table = {v.name for v in VARIABLES}
    unknown = {n: f for n, f in _source_names().items() if n not in table}
    assert not unknown, f'add these to experiments/core/environment.py: {unknown}'
    unused = table - set(_source_names())
    assert not unused, f'in the table but read nowhere: {sorted(unused)}'


def test_the_readme_lists_what_a_user_sets():
    readme = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    block = readme.split('<!-- environment: user -->', 1)[1].split('<!-- /environment -->', 1)[0]
    listed = [line for line in block.strip().splitlines()]
    assert listed == [f'* `{v.name}`: {v.meaning}' for v in VARIABLES if v.who == USER]


@pytest.mark.parametrize('name,text,said', [
    ('UMIX_STALE_AFTER_S', '-10', 'takes a number of seconds above 0'),
    ('UMIX_STALE_AFTER_S', '5', 'is not more than the heartbeat'),  # a live task would be taken over
    ('UMIX_HEARTBEAT_S', 'abc', 'takes a number of seconds above 0'),
    ('UMIX_HEARTBEAT_S', 'nan', 'takes a number of seconds above 0'),
    ('UMIX_LATENCY_RUNS', '0', 'takes a whole number of at least 1'),
    ('UMIX_LATENCY_IMAGES', '0', 'takes a whole number of at least 1'),
    ('UMIX_LATENCY_IMAGES', '-3', 'takes a whole number of at least 1'),
    ('UMIX_LATENCY_WARMUP', 'abc', 'takes a whole number of at least 0'),
    ('UMIX_RUNS', '', 'is empty'),
    ('UMIX_WEIGHTS', ' ', 'is empty'),
])
def test_a_bad_value_is_refused_naming_the_variable_before_anything_starts(tmp_path, monkeypatch, capsys,
                                                                          name, text, said):
    monkeypatch.setenv(name, text)
    rc = main(['tiny', '--tables', TINY_TABLES, '--profile', 'tiny', '--stages', 'complexity', '--rows', 'umix-b0',
               '--runs-dir', str(tmp_path / 'runs')])
    err = capsys.readouterr().err
    assert rc == 2 and f'${name}={text!r}' in err and said in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'runs').exists()  # nothing started


def test_an_empty_runs_dir_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(['status', 'tiny', '--tables', TINY_TABLES, '--runs-dir', ''])
    assert exit_.value.code == 2 and '--runs-dir is empty' in capsys.readouterr().err


def test_every_user_variable_with_a_value_to_check_declares_how():
    """The numbers and folders a user sets are parsed, not read as any text."""
    checked = {'UMIX_RUNS', 'UMIX_WEIGHTS', 'UMIX_WEIGHTS_MANIFEST', 'UMIX_SLURM_PROFILE', 'UMIX_CITYSCAPES_C_ROOT',
               'UMIX_LATENCY_WARMUP', 'UMIX_LATENCY_IMAGES', 'UMIX_LATENCY_RUNS', 'UMIX_HEARTBEAT_S',
               'UMIX_STALE_AFTER_S'}
    assert {v.name for v in VARIABLES if v.parse is not None} == checked
