"""Extending the suite from outside ``experiments/``, as the README says: a stage, an
option, a metric and a backend, each declared once in ``tests/toy_plugin.py`` and loaded
with ``UMIX_PLUGINS``, go through plan, run (as separate processes: the backend's jobs
re-plan from the task's command), status, the record's reproduce command and the report."""
import base64
import csv
import io
import json
import os
import re
import shlex
import subprocess
import sys

import pytest
from PIL import Image

from conftest import ROOT
from experiments.core.metrics import fmt
from experiments.store import Store

TESTS = os.path.join(ROOT, 'tests')
TABLE = '''
name = "toys"
title = "Parameter tensors"
source = "tests/toy_plugin.py"
metrics = ["param_tensors", "params_m"]

[[rows]]
id = "umix-b0"
method = "U-MixFormer"
encoder = "MiT-B0"
dataset = "ade20k"
config = "umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py"
stages = ["tensors", "complexity"]
published = {{ param_tensors = {published}, params_m = 6.1 }}
provenance = "twice the tensors of mmseg's build"
'''


def _cli(*argv, check=True):
    env = dict(os.environ, UMIX_PLUGINS='toy_plugin', PYTHONPATH=os.pathsep.join(
        [TESTS, ROOT] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    out = subprocess.run([sys.executable, '-m', 'experiments.cli', *argv], env=env, capture_output=True, text=True,
                         cwd=ROOT)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture(scope='module')
def toys(tmp_path_factory):
    from umixformer.complexity import build_segmentor
    from umixformer.apis import load_config
    cfg = load_config(os.path.join(ROOT, 'experiments', 'configs', 'umixformer',
                                   'umixformer_mit-b0_1xb16-160k_ade20k-512x512.py'))
    tensors = sum(1 for _ in build_segmentor(cfg).named_parameters())
    base = tmp_path_factory.mktemp('toys')
    (base / 'tables').mkdir()
    (base / 'tables' / 'toys.toml').write_text(TABLE.format(published=2 * tensors))
    common = ['--tables', str(base / 'tables'), '--profile', 'tiny', '--runs-dir', str(base / 'runs')]
    return base, common, tensors


def test_a_plugin_stage_option_metric_and_backend_run_through_every_command(toys):
    base, common, tensors = toys
    planned = _cli('plan', 'toys', *common, '--tensor-scale', '2').stdout
    assert 'tensors' in planned and 'to run' in planned
    ran = _cli('run', 'toys', *common, '--tensor-scale', '2', '--backend', 'subprocess', '--subprocess-timeout', '900')
    jobs = sorted(re.findall(r'^(sub-\d): (\w+) +toys/umix-b0 exited 0 \(limit 900 s\)$', ran.stdout, re.M),
                  key=lambda j: j[1])
    assert [stage for _, stage in jobs] == ['complexity', 'tensors'], ran.stdout
    job = dict((stage, name) for name, stage in jobs)['tensors']
    recs = {r.stage: r for r in Store(str(base / 'runs')).records()}
    rec = recs['tensors']
    # the option: in the key (readable and hashed), the record's settings and its command
    assert rec.status == 'done' and rec.key.endswith('-model-x2'), rec.key
    assert rec.metrics['param_tensors'] == 2 * tensors and rec.settings == {'tensor_scale': 2}
    assert '--tensor-scale 2' in rec.command and '--stages tensors' in rec.command
    assert 'tensor_scale' not in recs['complexity'].settings  # an option of its own stage only

    # status: the backend's job, the metric under its name
    status = _cli('status', 'toys', *common, '--tensor-scale', '2').stdout
    (line, ) = [l for l in status.splitlines() if '-model-x2' in l or 'param_tensors=' in l]
    assert job in line and f'param_tensors={fmt(2 * tensors, 0)}' in line, status
    # without the option it is another record, not yet computed
    assert 'missing' in _cli('status', 'toys', *common).stdout

    # the record's own command reproduces it: nothing left to compute
    words = shlex.split(rec.command)  # a plugin's record names the plugins it needs
    assert words[:2] == ['UMIX_PLUGINS=toy_plugin', 'run-experiment'], rec.command
    again = _cli(*words[2:])
    assert '0 to run' in again.stdout, again.stdout
    assert Store(str(base / 'runs')).get(rec.key).finished_at == rec.finished_at

    # the report: the metric's column and its verdict against the table's published value
    _cli('report', 'toys', *common, '--tensor-scale', '2', '--format', 'csv,html', '--out', str(base / 'report'))
    (line, ) = csv.DictReader(open(base / 'report' / 'toys.csv'))
    assert float(line['param_tensors']) == 2 * tensors and float(line['param_tensors_published']) == 2 * tensors
    verdicts = {v['metric']: v for v in csv.DictReader(open(base / 'report' / 'toys.verdicts.csv'))}
    assert verdicts['param_tensors']['verdict'] == 'reproduced'
    html = (base / 'report' / 'toys.html').read_text()
    assert 'Param. tensors' in html
    # the stage's own figure, declared in its spec: the bar of the measured count
    images = dict(re.findall(r'<img alt="([\w-]+)" src="data:image/png;base64,([^"]+)"', html))
    drawn = json.loads(Image.open(io.BytesIO(base64.b64decode(images['tensors']))).text['toy:bars'])
    assert drawn == {'umix-b0': 2 * tensors}, drawn


def test_a_plugin_option_checks_its_values_and_a_plugin_must_import(toys):
    base, common, _ = toys
    bad = _cli('plan', 'toys', *common, '--tensor-scale', '0', check=False)
    assert bad.returncode == 2 and '--tensor-scale takes a positive integer, got 0' in bad.stderr
    env = dict(os.environ, UMIX_PLUGINS='no_such_plugin')
    missing = subprocess.run([sys.executable, '-m', 'experiments.cli', 'list'], env=env, capture_output=True,
                             text=True, cwd=ROOT)
    assert missing.returncode == 2 and "$UMIX_PLUGINS names 'no_such_plugin', which does not import" in missing.stderr
    # the stage and its option are known only where the plugin is loaded
    unknown = subprocess.run([sys.executable, '-m', 'experiments.cli', 'show', 'toys', '--tables',
                              str(base / 'tables')], capture_output=True, text=True, cwd=ROOT,
                             env={k: v for k, v in os.environ.items() if k != 'UMIX_PLUGINS'})
    said = unknown.stdout + unknown.stderr
    assert unknown.returncode == 2 and 'toys.toml' in said and "unknown stage(s) ['tensors']" in said, said
