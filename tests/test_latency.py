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
    # the default times the official computation (as the baselines run as mmseg ships them)
    ran = [{k: r.metrics[k] for k in ('fused_head_attention', 'fused_encoder_attention', 'fast_fuse', 'compile',
                                        'cudnn_benchmark', 'distinct_shapes')} for r in recs]
    assert ran[0] == dict(fused_head_attention=False, fused_encoder_attention=False, fast_fuse=False, compile=False,
                          cudnn_benchmark=True, distinct_shapes=1)
    assert ran[1]['fused_head_attention'] is True and ran[1]['fused_encoder_attention'] is True
    assert ran[1]['fast_fuse'] is True and 'tf32_matmul' in recs[0].metrics
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


def test_latency_key_is_independent_of_the_planning_machine(tmp_path, monkeypatch, capsys):
    """Planned on a CPU login node, timed on a GPU node, reported on the login node:
    one key throughout; the device is the record's and is shown beside the value."""
    import torch
    from experiments.core import device
    from experiments.cli.parser import parse_args
    from experiments.cli.selection import select_tasks
    monkeypatch.setenv('UMIX_LATENCY_WARMUP', '1')
    monkeypatch.setenv('UMIX_LATENCY_RUNS', '2')
    base = ['tiny_latency', '--tables', TABLES, '--runs-dir', str(tmp_path), '--latency-protocol', 'single-image']
    (login, ) = select_tasks(parse_args(base))[4]
    with monkeypatch.context() as gpu:  # the GPU node's identity
        gpu.setattr(torch.cuda, 'is_available', lambda: True)
        gpu.setattr(torch.cuda, 'get_device_name', lambda i=0: 'NVIDIA A100-SXM4-80GB')
        (node, ) = select_tasks(parse_args(base))[4]
    assert node.key == login.key and 'cpu' not in login.key
    a100 = 'cuda:NVIDIA A100-SXM4-80GB'
    with monkeypatch.context() as gpu:  # executed where device_name() says A100 (timed on this CPU)
        gpu.setattr(device, 'device_name', lambda: a100)
        assert main(base) == 0
    (rec, ) = Store(str(tmp_path)).records()
    assert rec.key == login.key and rec.device == a100 and rec.metrics['device'] == a100
    capsys.readouterr()
    assert main(['status'] + base) == 0 and main(base) == 0  # seen as done from the login node
    out = capsys.readouterr().out
    assert '1 already done, 0 to run' in ' '.join(out.split()) and 'A100' in out  # the device beside the value
    assert main(['report'] + base + ['--format', 'html,csv']) == 0
    html = (tmp_path / 'reports' / 'paper' / 'tiny_latency.html').read_text()
    assert a100 in html


def test_declared_latency_device_is_checked_before_timing(tmp_path, monkeypatch):
    from experiments.core import device
    monkeypatch.setenv('UMIX_LATENCY_WARMUP', '1')
    monkeypatch.setenv('UMIX_LATENCY_RUNS', '2')
    base = ['tiny_latency', '--tables', TABLES, '--runs-dir', str(tmp_path), '--latency-protocol', 'single-image',
            '--latency-device', 'A100']
    assert main(base) == 1  # this CPU is no A100
    (rec, ) = Store(str(tmp_path)).records()
    assert rec.status == 'failed' and "declared for device 'a100'" in rec.error and '-a100-single-fp32' in rec.key
    assert '--latency-device a100' in rec.command
    a100 = 'cuda:NVIDIA A100-SXM4-80GB'
    monkeypatch.setattr(device, 'device_name', lambda: a100)
    assert main(base) == 0
    assert Store(str(tmp_path)).get(rec.key).status == 'done'


def test_channels_last_alone_keeps_the_official_computation(tmp_path, monkeypatch):
    """--channels-last is the memory format only: it no longer switches the fused paths on
    while the record said optimize: false."""
    monkeypatch.setenv('UMIX_LATENCY_WARMUP', '1')
    monkeypatch.setenv('UMIX_LATENCY_RUNS', '2')
    assert main(['tiny_latency', '--tables', TABLES, '--runs-dir', str(tmp_path), '--latency-protocol',
                 'single-image', '--channels-last']) == 0
    (rec, ) = Store(str(tmp_path)).records()
    m = rec.metrics
    assert m['channels_last'] is True and m['optimize'] is False
    assert m['fused_head_attention'] is False and m['fused_encoder_attention'] is False and m['fast_fuse'] is False


def test_cudnn_benchmark_is_set_per_protocol(tmp_path, monkeypatch):
    """The benchmark protocol runs with cudnn.benchmark off (benchmark.py), whatever an
    earlier task in the same process left (the single-image protocol turns it on)."""
    import torch
    monkeypatch.setenv('UMIX_LATENCY_WARMUP', '1')
    monkeypatch.setenv('UMIX_LATENCY_IMAGES', '3')
    monkeypatch.setattr(torch.backends.cudnn, 'benchmark', True)
    assert main(['tiny_latency', '--tables', TABLES, '--runs-dir', str(tmp_path), '--profile', 'tiny']) == 0
    (rec, ) = Store(str(tmp_path)).records()
    assert rec.metrics['cudnn_benchmark'] is False and torch.backends.cudnn.benchmark is False
    assert rec.metrics['distinct_shapes'] >= 1
