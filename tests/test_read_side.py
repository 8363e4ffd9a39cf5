"""The read side answers without the model code: ``list``, ``show``, ``plan``, ``status`` and
``report`` import neither torch nor mmcv nor mmseg nor umixformer's models (on a cluster's
login node, where importing torch from a network file system takes tens of seconds), also
with a plugin that adds a stage; and the configs they read come from a cache that gives
exactly what mmengine parses (content, tuples, shared objects), renewed when a base changes."""
import glob
import io
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from mmengine.config import Config

from conftest import CONFIG_DIR, ROOT, TINY_TABLES, model_configs
from test_extending import TABLE as TOYS
from umixformer_config.configs import cache_dir, read_config

HEAVY = ('torch', 'mmcv', 'mmseg', 'umixformer', 'umixformer.models')
PROBE = '''
import json, sys
from experiments.cli import main
rc = main(sys.argv[1:])
print('LOADED ' + json.dumps({{m: m in sys.modules for m in {heavy!r}}}) + ' RC ' + str(rc))
'''


def _loaded(argv, tmp_path, plugins=''):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / 'cache'), UMIX_PLUGINS=plugins,
               PYTHONPATH=os.pathsep.join([os.path.join(ROOT, 'tests'), ROOT]))
    out = subprocess.run([sys.executable, '-c', PROBE.format(heavy=HEAVY), *argv], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    line = next((l for l in out.stdout.splitlines() if l.startswith('LOADED ')), None)
    assert line is not None, out.stdout[-2000:] + out.stderr[-3000:]
    loaded, rc = line[len('LOADED '):].rsplit(' RC ', 1)
    return {m for m, yes in json.loads(loaded).items() if yes}, int(rc), out.stdout


@pytest.mark.parametrize('argv', [
    ['list'], ['show', 'table1'], ['plan', 'table1'], ['status', 'table1'], ['status', 'table2', '--all'],
    ['plan', 'robustness', '--profile', 'smoke'], ['report', 'table1', '--format', 'html,csv'],
], ids=lambda a: ' '.join(a))
def test_read_commands_load_no_model_code(argv, tmp_path):
    runs = ['--runs-dir', str(tmp_path / 'runs')] if argv[0] not in ('list', 'show') else []
    out = ['--out', str(tmp_path / 'reports')] if argv[0] == 'report' else []
    loaded, rc, stdout = _loaded(argv + runs + out, tmp_path)
    assert rc == 0, stdout
    assert not loaded, f'{" ".join(argv)} imported {sorted(loaded)}'


def test_a_plugin_stage_loads_no_model_code_until_it_runs(tmp_path):
    """The toy plugin declares a stage (its computation imports the model library when it
    runs): planning, status and the report with it loaded stay light."""
    tables = tmp_path / 'tables'
    tables.mkdir()
    (tables / 'toys.toml').write_text(TOYS.format(published=512))  # the extension test's table
    common = ['toys', '--tables', str(tables), '--profile', 'tiny', '--runs-dir', str(tmp_path / 'runs')]
    for argv in (['status'] + common, ['plan'] + common, ['report'] + common + ['--out', str(tmp_path / 'rep')]):
        loaded, rc, stdout = _loaded(argv, tmp_path, plugins='toy_plugin')
        assert rc == 0 and (argv[0] == 'report' or 'tensors' in stdout), stdout
        assert not loaded, f'{argv[0]} with the toy plugin imported {sorted(loaded)}'


def _shape(cfg: Config):
    """The config's content with its types, and which of its objects are one object."""
    ids, out = {}, []

    def walk(x, path):
        if isinstance(x, (list, dict)):
            if id(x) in ids:
                out.append((path, 'same as', ids[id(x)]))
                return
            ids[id(x)] = path
            for k, v in (dict.items(x) if isinstance(x, dict) else enumerate(x)):
                walk(v, path + (k, ))
        out.append((path, type(x).__name__, '' if isinstance(x, (list, dict)) else repr(x)))
    walk(cfg._cfg_dict, ())
    return out


def test_cached_configs_are_what_mmengine_parses(tmp_path, monkeypatch):
    """Every config of the suite, parsed then read back from the cache: the same content,
    the same tuples, the same shared objects (a pipeline that ``{{_base_.x}}`` puts in two
    places is one object; the profiles scale it in place, and the record keys hold that)."""
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    for path in model_configs():
        parsed = Config.fromfile(path, import_custom_modules=False)
        first, cached = read_config(path), read_config(path)
        assert _shape(parsed) == _shape(first) == _shape(cached), path
    assert len(glob.glob(os.path.join(cache_dir(), 'configs', '*.json'))) == len(model_configs())


def test_a_changed_base_is_parsed_again_and_a_damaged_entry_too(tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    configs = tmp_path / 'configs'
    shutil.copytree(CONFIG_DIR, configs)
    path = str(configs / 'umixformer' / 'umixformer_mit-b0_1xb16-160k_ade20k-512x512.py')
    assert read_config(path).find_unused_parameters is True
    runtime = configs / '_base_' / 'umixformer_runtime.py'  # one of its bases
    runtime.write_text(runtime.read_text().replace('find_unused_parameters = True', 'find_unused_parameters = False'))
    assert read_config(path).find_unused_parameters is False
    for entry in glob.glob(os.path.join(cache_dir(), 'configs', '*.json')):
        with open(entry, 'w') as f:
            f.write('{"config": {"d": [["model"')  # torn
    assert read_config(path).find_unused_parameters is False


def test_a_config_reading_the_environment_is_never_cached(tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    path = tmp_path / 'env.py'
    path.write_text("lr = '{{$READ_SIDE_TEST_LR:0.1}}'\n")
    monkeypatch.setenv('READ_SIDE_TEST_LR', '0.5')
    assert read_config(str(path)).lr == '0.5'
    monkeypatch.setenv('READ_SIDE_TEST_LR', '0.7')
    assert read_config(str(path)).lr == '0.7'
    assert not glob.glob(os.path.join(cache_dir(), 'configs', '*.json'))


def test_a_report_with_figures_loads_no_model_code(tiny_trained, tmp_path):
    """A trained and tested row: its report draws the training curves, the per-class table
    and the qualitative figure (the class maps over the images, as mmseg's visualizer draws
    them) without torch or mmseg."""
    runs, data = tiny_trained
    out = tmp_path / 'reports'
    loaded, rc, stdout = _loaded(['report', 'tiny', '--tables', TINY_TABLES, '--profile', 'tiny', '--runs-dir',
                                  str(runs), '--data-root', f'ade20k={data}', '--out', str(out)], tmp_path)
    assert rc == 0, stdout
    html = (out / 'tiny.html').read_text()
    assert 'alt="curves-umix-b0"' in html and 'alt="qualitative-ade20k-MiT-B0"' in html, html[-3000:]
    assert not loaded, f'report imported {sorted(loaded)}'


def _screen(argv, width=80):
    """What a command prints in a terminal of ``width`` columns (and its exit status)."""
    from rich.console import Console

    from experiments.cli import handler
    from experiments.cli.parser import parse_args
    out = io.StringIO()
    rc = handler(argv[0])(parse_args(argv), Console(file=out, width=width))
    return rc, out.getvalue()


def test_status_fits_an_80_column_terminal(tmp_path):
    """Row ids whole, results broken between values, never inside one, no empty job column,
    no table name before every row (the title says it)."""
    from experiments.registry.tables import get_table
    from experiments.store import Store
    from test_verdicts import fabricate
    table = get_table('table1')
    rows = [table.row(r) for r in ('umixformer_mit-b0_ade20k', 'segformer_mit-b0_cityscapes')]
    fabricate(Store(str(tmp_path)), table, rows, lambda t: {'gflops': 6.16, 'params_published_layout_m': 6.14,
                                                            'params_m': 5.04} if t.stage == 'complexity' else None, [0])
    for extra in ([], ['--all']):
        rc, text = _screen(['status', 'table1', '--runs-dir', str(tmp_path), '--stages', 'complexity'] + extra)
        assert rc == 0 and max(len(line) for line in text.splitlines()) <= 80, text
        lines = text.splitlines()
        for row in rows:
            assert any(row.id in line for line in lines), (row.id, text)
        assert 'table1/' not in text and '┃ job' not in text
        shown = re.findall(r'(params_effective_m|params_m|gflops)=([\d.]+)', text)
        assert sorted(v for k, v in shown) == ['5.04', '5.04', '6.14', '6.14', '6.16', '6.16'], text


def test_status_and_plan_of_thousands_of_tasks_fit_a_screen(tmp_path):
    """Table 2 with 400 seeds (8,811 tasks): one line per row and stage, its seeds and counts."""
    seeds = ','.join(map(str, range(400)))
    common = ['table2', '--profile', 'paper', '--seeds', seeds, '--runs-dir', str(tmp_path)]
    rc, status = _screen(['status'] + common, width=120)
    assert rc == 0 and '8811 tasks: 8811 missing' in status and len(status.splitlines()) < 60, status
    assert re.search(r'^umixformer_mit-b5_ade20k +train +400 missing', status, re.M), status
    rc, planned = _screen(['plan'] + common, width=160)
    assert rc == 0 and '8811 tasks, 8811 to run' in planned and len(planned.splitlines()) < 80, planned
    assert re.search(r'│ train +│ table2/umixformer_mit-b5_ade20k +│ 0-399 +│ 400 records', planned), planned


def test_status_prints_each_value_with_its_metric_digits(tmp_path):
    """final_loss has 3 digits in the catalogue, iterations none: status prints them so."""
    from experiments.registry.tables import get_table
    from experiments.store import Store
    from test_verdicts import fabricate
    table = get_table('table1')
    fabricate(Store(str(tmp_path)), table, [table.row('umixformer_mit-b0_ade20k')],
              lambda t: {'final_loss': 1.49637, 'iters': 320} if t.stage == 'train' else None, [0])
    rc, text = _screen(['status', 'table1', '--runs-dir', str(tmp_path), '--stages', 'train'], width=120)
    assert rc == 0 and 'final_loss=1.496' in text, text


def test_seeds_planned_at_once_are_what_each_seed_resolved_alone_gives(tmp_path, monkeypatch):
    """Planning resolves a row's config once and puts each seed in place (config and hashed
    text): the same keys, hashes and configs as resolving every seed on its own."""
    import experiments.planning.tasks as planning
    from experiments.planning.options import PlanOptions
    from experiments.planning.select import select
    opts = PlanOptions(table='ablation_unet', profile='smoke', runs_dir=str(tmp_path), seeds=(0, 1, 7),
                       stages=('train', 'test'))
    fast = select(opts).tasks
    resolve_once = planning._SeededConfigs.__init__

    def each_seed_alone(self, *args, **kwargs):
        resolve_once(self, *args, **kwargs)
        self.once = False
    monkeypatch.setattr(planning._SeededConfigs, '__init__', each_seed_alone)
    slow = select(opts).tasks
    assert len(fast) == len(slow) > 6
    for a, b in zip(fast, slow):
        assert (a.key, a.config_hash, a.needs) == (b.key, b.config_hash, b.needs)
        assert a.cfg.to_dict() == b.cfg.to_dict() and a.cfg.randomness == {'seed': a.seed}
