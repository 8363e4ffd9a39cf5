"""`run-experiment export` and the onnxruntime latency protocol: the exported model computes
what PyTorch computes (ONNX Runtime, max abs difference), at the row's size and another."""
import json
import os

import numpy as np

from conftest import DATA_DIR, TINY_TABLES
from experiments.cli import main
from experiments.engine.compute.export import TOLERANCE, session
from experiments.store import Store


def test_export_of_a_trained_row_runs_in_onnxruntime(tiny_trained, tmp_path, capsys):
    runs, data = tiny_trained
    out = tmp_path / 'onnx'
    assert main(['export', 'tiny', '--rows', 'umix-b0', '--tables', TINY_TABLES, '--profile', 'tiny',
                 '--runs-dir', str(runs), '--data-root', f'ade20k={data}', '--out', str(out)]) == 0
    said = ' '.join(capsys.readouterr().out.split())
    assert 'dynamic height and width' in said and 'opset 17' in said
    meta = json.loads((out / 'umix-b0.json').read_text())
    assert meta['dynamic'] and [c['input_hw'] for c in meta['checks']] == [[512, 512], [384, 512]]
    assert all(c['max_abs_diff'] <= TOLERANCE for c in meta['checks'])
    train = next(r for r in Store(str(runs)).records() if r.stage == 'train')
    assert meta['weights'] == Store(str(runs)).abs(train.artifacts['checkpoint'])  # the row's trained weights
    logits = session(str(out / 'umix-b0.onnx')).run(None, {'image': np.zeros((1, 3, 256, 320), np.float32)})[0]
    assert logits.shape[2:] == (64, 80) and np.isfinite(logits).all()  # any size, logits at 1/4


def test_export_without_weights_says_how_to_get_them(tmp_path, capsys):
    rc = main(['export', 'tiny', '--rows', 'umix-b0', '--tables', TINY_TABLES, '--profile', 'tiny',
               '--runs-dir', str(tmp_path)])
    out = ' '.join(capsys.readouterr().out.split())
    assert rc == 2 and 'has no finished training' in out and '--checkpoint FILE' in out
    assert not os.path.exists(tmp_path / 'exports')


def test_onnxruntime_latency_protocol(tmp_path, monkeypatch):
    monkeypatch.setenv('UMIX_LATENCY_WARMUP', '1')
    monkeypatch.setenv('UMIX_LATENCY_RUNS', '3')
    tables = os.path.join(DATA_DIR, 'tables')
    base = ['tiny_latency', '--tables', tables, '--runs-dir', str(tmp_path), '--latency-protocol', 'onnxruntime']
    assert main(base) == 0
    (rec, ) = Store(str(tmp_path)).records()
    m = rec.metrics
    assert rec.key.endswith('-ort-fp32') and m['protocol'] == 'onnxruntime' and m['latency_ms'] > 0
    assert m['onnx_max_abs_diff'] <= TOLERANCE and m['onnxruntime'] and 'onnxruntime' in m['device']
    assert m['fused_head_attention'] is False  # the official computation unless --optimize
