"""The UMIX_* variables: one table (``experiments.core.environment``) that every name in the
source is in, and the README's list of what a user sets is the table's."""
import glob
import os
import re

from conftest import ROOT
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
