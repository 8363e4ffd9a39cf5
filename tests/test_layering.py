"""The package layers of ``experiments.LAYERS``, computed from the source: each package
imports only the packages below it; no project import hides inside a function (the
CLI's one dispatch goes through importlib); modules and functions stay small enough to
read; tests use public names only."""
import ast
import glob
import os
import warnings

from conftest import ROOT
from experiments import LAYERS

PROJECT = ('experiments', 'slurm', 'analysis', 'reports', 'umixformer', 'umixformer_config')
LEVEL = {pkg: i for i, level in enumerate(LAYERS) for pkg in level}
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 80


def _package(module: str) -> str:
    """The layered package a module name belongs to ('' if none)."""
    parts = module.split('.')
    for n in (2, 1):
        if '.'.join(parts[:n]) in LEVEL:
            return '.'.join(parts[:n])
    return ''


def _sources(*roots):
    for root in roots:
        yield from glob.glob(os.path.join(ROOT, root, '**', '*.py'), recursive=True)


def _module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
    return rel[:-len('.__init__')] if rel.endswith('.__init__') else rel


def _imports(tree, module: str):
    """(imported module, line, inside a function) of every import."""
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inside = {id(s) for f in funcs for s in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:  # relative: resolved against this module's package
                pkg = module.split('.')[:-node.level] if not module.endswith('__init__') else module.split('.')
                base = '.'.join(pkg + ([base] if base else []))
            names = [base]
        else:
            continue
        for name in names:
            yield name, node.lineno, id(node) in inside


def test_every_package_imports_only_the_layers_below():
    bad = []
    for path in _sources(*PROJECT):
        module = _module_name(path)
        own = _package(module)
        if not own:
            continue
        for name, line, _ in _imports(ast.parse(open(path).read()), module):
            other = _package(name)
            if other and other != own and LEVEL[other] >= LEVEL[own]:
                bad.append(f'{os.path.relpath(path, ROOT)}:{line} ({own}, level {LEVEL[own]}) imports {name} '
                           f'({other}, level {LEVEL[other]})')
    assert not bad, '\n'.join(bad)


def test_every_package_has_a_layer():
    for top in ('experiments', ):
        for entry in os.scandir(os.path.join(ROOT, top)):
            if entry.is_dir() and os.path.exists(os.path.join(entry.path, '__init__.py')):
                assert f'{top}.{entry.name}' in LEVEL, f'{top}/{entry.name} is in no layer of experiments.LAYERS'


def test_no_project_import_inside_a_function():
    """The model library (umixformer: torch, mmseg) may be imported late on purpose; the
    suite's own packages are imported at the top of the module that uses them."""
    bad = []
    for path in _sources('experiments', 'slurm', 'analysis', 'reports'):
        module = _module_name(path)
        for name, line, in_function in _imports(ast.parse(open(path).read()), module):
            if in_function and name.split('.')[0] in PROJECT[:4]:
                bad.append(f'{os.path.relpath(path, ROOT)}:{line} imports {name} inside a function')
    assert not bad, '\n'.join(bad)


def test_functions_are_small_and_long_modules_are_named():
    """A function past 80 lines fails; a module past 300 is a warning (concepts, not sizes,
    decide a module: a long one is worth a look, not a split for its own sake)."""
    bad = []
    for path in _sources('experiments'):
        text = open(path).read()
        rel = os.path.relpath(path, ROOT)
        if text.count('\n') > MAX_MODULE_LINES:
            warnings.warn(f'{rel}: {text.count(chr(10))} lines (over {MAX_MODULE_LINES}): one concept?')
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    bad.append(f'{rel}:{node.lineno} {node.name}: {n} lines (at most {MAX_FUNCTION_LINES})')
    assert not bad, '\n'.join(bad)


def test_tests_import_public_names_only():
    bad = []
    for path in glob.glob(os.path.join(ROOT, 'tests', '*.py')):
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom) and (node.module or '').split('.')[0] in PROJECT + ('test_verdicts', ):
                bad += [f'{os.path.basename(path)}:{node.lineno} imports {node.module}.{a.name}'
                        for a in node.names if a.name.startswith('_')]
    assert not bad, '\n'.join(bad)
