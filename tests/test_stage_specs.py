"""The stages (``experiments.core.stages``): every spec names a computation that imports,
what planning, the registry, projection, SLURM and the reports read of a stage comes from
its spec, and no stage is named anywhere else."""
import ast
import glob
import os

import pytest

import experiments.engine.process.executor as executor
from conftest import ROOT
from experiments.core.errors import StageError
from experiments.core.stages import StageSpec, register_stage, stage_names, stage_spec, stage_specs
from experiments.engine.process.executor import stage_runner
from slurm.profile import DEFAULTS, resources


def test_every_stage_has_its_computation():
    missing = [s.name for s in stage_specs() if not callable(stage_runner(s.name))]
    assert not missing, f'give {missing} a computation (StageSpec(compute=\'module:function\'))'
    assert set(stage_names()) >= {'train', 'test', 'complexity', 'latency', 'robustness'}


def test_a_stage_after_the_one_it_needs_and_facts_from_the_spec():
    for spec in stage_specs():
        if spec.needs:
            assert stage_names().index(spec.needs) < stage_names().index(spec.name)
    assert [s.name for s in stage_specs() if s.model_only] == ['complexity', 'latency']
    assert [s.name for s in stage_specs() if s.seeded] == ['train', 'test', 'robustness']
    # SLURM: a timing takes a whole node unless the cluster profile says otherwise
    assert resources(dict(DEFAULTS), 'latency', 1)['exclusive'] and not resources(dict(DEFAULTS), 'test', 1)['exclusive']


def test_a_stage_is_registered_whole_or_not_at_all(monkeypatch):
    with pytest.raises(ValueError, match="needs 'nothing', which is not registered"):
        register_stage(StageSpec('orphan', compute='m:f', needs='nothing'))
    with pytest.raises(ValueError, match="'train' is registered already"):
        register_stage(StageSpec('train', compute='m:f'))
    with pytest.raises(ValueError, match="give its computation as compute='module:function'"):
        register_stage(StageSpec('nameless'))
    assert not {'orphan', 'nameless'} & set(stage_names()) and stage_spec('train').config == 'training'
    nowhere = StageSpec('nowhere', compute='experiments.engine.compute.stages:no_such_function')
    monkeypatch.setattr(executor, 'stage_spec', lambda name: nowhere)
    with pytest.raises(StageError, match="stage 'nowhere': its computation .* does not import"):
        stage_runner('nowhere')


# where a stage is named only in its declarations (specs, options, metrics) and the commands
LAYERS_WITHOUT_STAGE_NAMES = ('reports', 'analysis', 'experiments/engine', 'experiments/planning', 'experiments/store',
                              'experiments/backends')


def test_no_stage_is_named_in_a_comparison_outside_the_declarations():
    """What the code does with a stage comes from its spec: no ``stage == 'latency'`` (or
    ``in``) in the reports, the analysis, the engine, planning, the store or the backends."""
    names = set(stage_names())
    bad = []
    for top in LAYERS_WITHOUT_STAGE_NAMES:
        for path in glob.glob(os.path.join(ROOT, top, '**', '*.py'), recursive=True):
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.Compare) and any(
                        isinstance(n, ast.Constant) and n.value in names for n in ast.walk(node)):
                    bad.append(f'{os.path.relpath(path, ROOT)}:{node.lineno}: {ast.unparse(node)}')
    assert not bad, '\n'.join(bad)
