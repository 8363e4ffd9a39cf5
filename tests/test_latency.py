"""The latency stage on the CPU: protocol fields, and optimized runs recorded apart."""
import os

from conftest import DATA_DIR
from experiments.cli import main
from experiments.store import Store

TABLES = os.path.join(DATA_DIR, 'tables')


def test_latency_stage_records_protocol(tmp_path, monkeypatch):
    monkeypatch.setenv('UMIX_LATENCY_WARMUP', '1')
    monkeypatch.setenv('UMIX_LATENCY_RUNS', '3')
    base = ['tiny_latency', '--tables', TABLES, '--runs-dir', str(tmp_path)]
    assert main(base) == 0
    assert main(base + ['--optimize']) == 0
    recs = sorted(Store(str(tmp_path)).records(), key=lambda r: r.key)
    assert len(recs) == 2  # plain and optimized are different measurements
    for r in recs:
        m = r.metrics
        assert r.stage == 'latency' and r.status == 'done'
        assert m['input_hw'] == [512, 512] and m['mode'] == 'whole' and m['batch_size'] == 1
        assert m['precision'] == 'fp32' and m['device'].startswith('cpu') and m['runs'] == 3
        assert m['latency_p10_ms'] <= m['latency_ms'] <= m['latency_p90_ms']
        assert abs(m['fps'] - 1000.0 / m['latency_ms']) < 1e-6
    assert [r.metrics['optimize'] for r in recs] == [False, True]
    assert recs[1].command.endswith('--optimize')
