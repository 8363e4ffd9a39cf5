"""The option table (``experiments.planning.options``): every option a command declares is
parsed from its flag, planned, carried by its stages' tasks, in their keys as declared,
and given back by the task's reproduce command, which plans the same task again."""
import itertools
import shlex

import pytest

from experiments.cli.parser import parse_args
from experiments.cli.selection import plan_options
from experiments.core.stages import stage_names
from experiments.planning.commands import invalidate_command, reproduce_command
from experiments.planning.options import TABLE_COMMANDS, option_table
from experiments.planning.select import select

SAMPLE = {'latency_device': 'a100'}  # a value other than the default, where the option has no choices
TABLE = """
name = "every_stage"
title = "A row per dataset, every stage"
metrics = ["gflops", "miou", "latency_ms", "miou_corrupted"]

[[rows]]
id = "ade"
method = "U-MixFormer"
encoder = "MiT-B0"
dataset = "ade20k"
config = "umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py"
stages = ["train", "test", "complexity", "latency"]

[[rows]]
id = "city"
method = "U-MixFormer"
encoder = "MiT-B0"
dataset = "cityscapes"
config = "umixformer/umixformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py"
stages = ["train", "test", "robustness"]
"""


@pytest.fixture(scope='module')
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp('tables')
    (folder / 'every_stage.toml').write_text(TABLE)
    return str(folder)


def _values(opt):
    """Every value the option takes on the command line, as words after the command."""
    if opt.switch:
        return [[opt.flag]]
    if opt.repeat:
        return [[opt.flag, v] for v in opt.choices] + [[w for v in opt.choices for w in (opt.flag, v)]]
    values = [c for c in opt.choices if c != opt.default] if opt.choices else [SAMPLE[opt.name]]
    return [[opt.flag, str(v)] for v in values]


def _plan(command, words, runs, tables):
    args = parse_args([command, 'every_stage', '--tables', tables, '--profile', 'tiny', '--runs-dir', runs,
                       '--stages', ','.join(stage_names())] + words)
    return args, select(plan_options(args))


CASES = [(command, opt.name, words) for opt in option_table() if opt.stages
         for command in sorted(opt.commands & TABLE_COMMANDS) for words in _values(opt)]


@pytest.mark.parametrize('command,name,words', CASES, ids=[f'{c}-{" ".join(w)}' for c, _, w in CASES])
def test_every_declared_option_value_plans_and_reproduces(tmp_path, tables, command, name, words):
    opt = {o.name: o for o in option_table()}[name]
    args, selection = _plan(command, words, str(tmp_path), tables)
    _, plain = _plan(command, [], str(tmp_path), tables)
    carried = [t for t in selection.tasks if opt.applies(t.stage)]
    assert carried, f'{opt.flag} applies to no planned stage'
    plain_keys = {t.key for t in plain.tasks}
    for task in carried:
        held = task.runtime if opt.runtime else task.options
        assert opt.recorded in held and held[opt.recorded] == getattr(args, opt.name) or (
            opt.repeat and tuple(held[opt.recorded]) == tuple(dict.fromkeys(getattr(args, opt.name))))
        # in the key exactly when it can change the number
        assert (task.key in plain_keys) == (opt.in_key == 'none'), (opt.name, task.key)
        # the task's command gives the option back and plans this very task
        again = shlex.split(reproduce_command(task, {}, str(tmp_path)))[1:]
        assert all(w in again for w in words)
        redo = select(plan_options(parse_args(again)))
        assert task.key in {t.key for t in redo.tasks}
        # and the command that sets its record aside names that record
        aside = parse_args(shlex.split(invalidate_command(task, selection.store))[1:])
        assert task.key in {t.key for t in select(plan_options(aside)).tasks}
        if task.needs:  # and the record it reads (a lost checkpoint: its training set aside)
            need = task.needs.split('/', 1)[0]
            aside = parse_args(shlex.split(invalidate_command(task, selection.store, need))[1:])
            assert task.needs in {t.key for t in select(plan_options(aside)).tasks}
    for task in selection.tasks:  # the other stages' tasks are as without it
        if not opt.applies(task.stage) and not task.needs:
            assert task.key in plain_keys


def test_all_options_at_once_plan(tmp_path, tables):
    """Every option of `run` away from its default, together (one value each)."""
    words = list(itertools.chain.from_iterable(_values(o)[0] for o in option_table()
                                               if 'run' in o.commands and o.stages))
    _, selection = _plan('run', words, str(tmp_path), tables)
    assert {t.stage for t in selection.tasks} == set(stage_names())
