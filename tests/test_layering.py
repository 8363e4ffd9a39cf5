"""Imports between the packages run one way: slurm/ imports experiments/, never
the reverse (the CLI names backends in experiments/backends.py only), and the
core imports no backend."""
import ast
import glob
import os

from conftest import ROOT

CORE = ('registry', 'tasks', 'store', 'stages', 'executor', 'datasets', 'profiles', 'lease', 'hooks')


def _imports(path):
    out = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            out.add(('.' * node.level) + (node.module or ''))
    return out


def test_experiments_never_imports_slurm():
    for path in glob.glob(os.path.join(ROOT, 'experiments', '*.py')):
        bad = {m for m in _imports(path) if m.split('.')[0] == 'slurm'}
        assert not bad, f'{path} imports {bad}'


def test_the_core_imports_no_backend():
    for name in CORE:
        mods = _imports(os.path.join(ROOT, 'experiments', f'{name}.py'))
        bad = {m for m in mods if m.lstrip('.').split('.')[-1] in ('local', 'backends', 'cli') or 'slurm' in m}
        assert not bad, f'experiments/{name}.py imports {bad}'
