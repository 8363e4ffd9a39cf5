"""The latency stage on the CPU: both protocols' fields, optimized runs recorded apart."""
import os

from conftest import DATA_DIR
from experiments.cli import main
from experiments.store import Store

TABLES = os.path.join(DATA_DIR, 'tables')


def test_latency_stage_records_protocol(tmp_path, monkeypatch):
    monkeypatch.setenv('UMIX_LATENCY_WARMUP', '1')
    monkeypatch.setenv('UMIX_LATENCY_RUNS', '3')
    base = ['tiny_latency', '--tables', TABLES, '--runs-dir', str(tmp_path), '--latency-protocol', 'single-image']
    assert main(base) == 0
    assert main(base + ['--optimize']) == 0
    recs = sorted(Store(str(tmp_path)).records(), key=lambda r: r.metrics.get('optimize', False))
    assert len(recs) == 2  # plain and optimized are different measurements
    for r in recs:
        m = r.metrics
        assert r.stage == 'latency' and r.status == 'done'
        assert m['input_hw'] == [512, 512] and m['mode'] == 'whole' and m['batch_size'] == 1
        assert m['precision'] == 'fp32' and m['device'].startswith('cpu') and m['runs'] == 3
        assert m['protocol'] == 'single-image' and m['torch'] and r.settings['protocol'] == 'single-image'
        assert m['latency_p10_ms'] <= m['latency_ms'] <= m['latency_p90_ms']
        assert abs(m['fps'] - 1000.0 / m['latency_ms']) < 1e-6
    assert [r.metrics['optimize'] for r in recs] == [False, True]
    assert '--optimize' in recs[1].command and '--optimize' not in recs[0].command
    assert recs[0].key.endswith('-single-fp32') and recs[1].key.endswith('-single-fp32-opt')


def test_mmseg_benchmark_protocol_on_validation_images(tmp_path, monkeypatch):
    """The default protocol: validation images through the test pipeline, predict mode,
    warm-up images excluded (built-in data here)."""
    monkeypatch.setenv('UMIX_LATENCY_WARMUP', '2')
    monkeypatch.setenv('UMIX_LATENCY_IMAGES', '6')
    assert main(['tiny_latency', '--tables', TABLES, '--runs-dir', str(tmp_path), '--profile', 'tiny']) == 0
    (rec, ) = Store(str(tmp_path)).records()
    m = rec.metrics
    assert m['protocol'] == 'mmseg-benchmark' and m['images'] == 4 and m['warmup'] == 2
    assert abs(m['fps'] - 1000.0 / m['latency_ms']) < 1e-6 and m['mode'] == 'whole'
    assert m['device'].startswith('cpu') and m['torch'] and m['cpu_threads'] >= 1
    assert rec.key.endswith('-bench-fp32') and rec.command.startswith('run-experiment tiny_latency')


def test_latency_tasks_take_a_whole_node_on_slurm(tmp_path, capsys):
    """Rendered (not submitted): latency arrays ask for --exclusive unless the profile says not."""
    profile = tmp_path / 'p.toml'
    profile.write_text('partition = "gpu"\n')
    args = ['plan', 'tiny_latency', '--tables', TABLES, '--runs-dir', str(tmp_path), '--backend', 'slurm',
            '--slurm-profile', str(profile), '--latency-protocol', 'single-image']
    assert main(args) == 0
    assert '#SBATCH --exclusive' in capsys.readouterr().out
    profile.write_text('partition = "gpu"\n[stages.latency]\nexclusive = false\n')
    assert main(args) == 0
    assert '#SBATCH --exclusive' not in capsys.readouterr().out


def test_slurm_plan_shows_the_dependency_chain(tmp_path, capsys):
    profile = tmp_path / 'p.toml'
    profile.write_text('partition = "gpu"\n')
    assert main(['plan', 'tiny', '--tables', TABLES, '--runs-dir', str(tmp_path), '--profile', 'tiny',
                 '--backend', 'slurm', '--slurm-profile', str(profile)]) == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert 'dependency chain to submit:' in out
    assert 'train: 2 task(s), no dependency' in out
    assert 'test: 2 task(s), each task after its own train task in array train (aftercorr' in out
