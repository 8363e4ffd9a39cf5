"""tools/gpu_check.sh: the GPU check's one shot. The --cpu stand-in runs every section (on
the CPU, small sizes) so that the script is ready when a GPU is lent; a failing section
is reported and the next one runs; a run killed at the device's limit leaves what it
measured; the device set-up builds mmcv's ops for the CPU with the GPUs hidden."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, 'tools'))
import gpu_check  # noqa: E402


def test_gpu_check_runs_on_the_cpu(tmp_path):
    res = subprocess.run(['bash', os.path.join(ROOT, 'tools', 'gpu_check.sh'), '--cpu', '--out', str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    result = json.load(open(tmp_path / 'gpu-check.json'))
    assert result['cpu'] is True and result['environment']['device'].startswith('cpu')
    assert result['complete'] is True and result['failed'] == {} and result['skipped'] == []
    # in the order the project needs them; the compiles last
    assert result['sections'] == ['train', 'resume', 'latency', 'process_group', 'logits', 'compiled']
    # each family as the suite trains it; U-MixFormer-B0 also as the official code computes it
    assert [r['family'] for r in result['train']] == ['U-MixFormer MiT-B0', 'U-MixFormer MiT-B0 (official)',
                                                     'U-MixFormer LVT', 'U-MixFormer MSCAN-T',
                                                     'FeedFormer MiT-B0', 'SegFormer MiT-B0']
    assert all(r['s_per_iter'] > 0 for r in result['train'])
    resume = result['resume']  # preempted once, resumed from its checkpoint, the same weights
    assert resume['status'] == 'done' and resume['preempted'] == 1 and resume['iters'] == 2
    assert resume['resumed_from'].endswith('iter_1.pth') and resume['equal'] is True
    assert result['process_group'] == dict(backend='gloo', local_id=1, visible_gpus=0, device='cpu', local_rank=1,
                                           ddp_step=True)
    assert [r['precision'] for r in result['logits']] == ['fp32', 'fp16', 'bf16']
    assert all(r['within'] for r in result['logits'])
    timed = {(r['protocol'], r['optimize']) for r in result['latency']}
    assert timed == {(p, o) for p in ('single-image', 'mmseg-benchmark') for o in (False, True)}
    assert 'minutes on a CPU' in result['compiled']['skipped']  # inductor: GPU only
    md = (tmp_path / 'gpu-check.md').read_text()
    assert 'CPU stand-in' in md and '| fp16 |' in md and 'still running' not in md


def test_a_failing_section_is_reported_and_the_next_runs(tmp_path, monkeypatch, capsys):
    """A CUDA error inside a task: the section is reported with its task's run.log beside
    the results, the next section runs, the exit status says it failed."""
    import experiments.engine.compute.stages as stages

    def cuda_error(task):
        raise RuntimeError('CUDA error: an illegal memory access was encountered')
    monkeypatch.setattr(stages, 'measure_latency', cuda_error)
    out = tmp_path / 'out'
    assert gpu_check.main(['--cpu', '--out', str(out), '--sections', 'latency,process_group']) == 1
    result = json.load(open(out / 'gpu-check.json'))
    assert list(result['failed']) == ['latency'] and 'latency run failed' in result['failed']['latency']
    assert result['process_group']['ddp_step'] is True and result['complete'] is True
    (log, ) = result['logs']['latency']
    assert 'CUDA error: an illegal memory access' in (out / log).read_text()
    md = (out / 'gpu-check.md').read_text()
    assert '**latency failed**' in md and 'Process group of a task' in md
    # past the deadline no section starts; the skipped ones are named
    assert gpu_check.main(['--cpu', '--out', str(out), '--sections', 'logits,process_group',
                           '--deadline', str(time.time() + 5)]) == 0
    result = json.load(open(out / 'gpu-check.json'))
    assert result['skipped'] == ['logits', 'process_group'] and 'logits' not in result
    assert 'Skipped: logits, process_group (too little time left' in (out / 'gpu-check.md').read_text()


def test_a_killed_run_leaves_what_it_measured(tmp_path):
    out = tmp_path / 'out'
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, 'tools', 'gpu_check.py'), '--cpu', '--out', str(out),
                             '--sections', 'process_group,train'], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if (out / 'gpu-check.json').exists() and 'process_group' in json.load(open(out / 'gpu-check.json')):
                break
            time.sleep(0.2)
        assert proc.poll() is None, 'the run ended before the kill'
        proc.send_signal(signal.SIGKILL)  # as the device's limit ends a command
    finally:
        proc.kill()
        proc.wait()
    result = json.load(open(out / 'gpu-check.json'))
    assert result['process_group']['ddp_step'] is True and 'train' not in result and result['complete'] is False
    assert 'still running or stopped' in (out / 'gpu-check.md').read_text()


STUB = r'''#!/usr/bin/env bash
# the device's python3, recorded: each call with the environment the build depends on
echo "$* | CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset} | FORCE_CUDA=${FORCE_CUDA-unset} | MMCV_WITH_OPS=${MMCV_WITH_OPS-unset} | PYTHONPATH=${PYTHONPATH-}" >> "$STUB_LOG"
case "$1 $2" in
  "-c import mmseg, mmcv.ops") echo "ModuleNotFoundError: No module named 'mmseg'" >&2; exit 1 ;;
  "-c import mmcv.ops") [ -f "$STUB_LOG.built" ] && exit 0
                        echo "ImportError: libc10.so: cannot open shared object file" >&2; exit 1 ;;
  "-m pip") case "$*" in *mmcv-2.1.0.tar.gz*) touch "$STUB_LOG.built" ;; esac; exit 0 ;;
esac
case "$1" in
  tools/install_choice.py) exec python3 "$@" ;;
  tools/gpu_check.py) exit 0 ;;
esac
exit 3
'''


def test_device_setup_builds_cpu_ops_with_the_gpus_hidden(tmp_path):
    """tools/gpu_check.sh on a device machine (a GPU visible, no mmseg): the carried wheels
    installed, why mmcv.ops did not import printed, its ops compiled for the CPU with the
    GPUs hidden (mmcv's setup.py builds CUDA kernels whenever torch sees a GPU), then
    gpu_check.py run with the installed packages on the path."""
    stub, log, wheels = tmp_path / 'python3', tmp_path / 'calls', tmp_path / 'whl'
    stub.write_text(STUB)
    stub.chmod(0o755)
    wheels.mkdir()
    for name in ('mmengine-0.10.7-py3-none-any.whl', 'mmcv-2.1.0.tar.gz'):
        (wheels / name).write_bytes(b'')
    env = dict(os.environ, PYTHON=str(stub), STUB_LOG=str(log), UMIX_GPU_CHECK_WHEELS=str(wheels),
               UMIX_GPU_CHECK_SITE=str(tmp_path / 'site'), CUDA_VISIBLE_DEVICES='0')
    res = subprocess.run(['bash', os.path.join(ROOT, 'tools', 'gpu_check.sh'), '--out', str(tmp_path / 'out')],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "[gpu_check] import mmseg, mmcv.ops: ModuleNotFoundError: No module named 'mmseg'" in res.stderr
    assert '[gpu_check] import mmcv.ops: ImportError: libc10.so' in res.stderr  # why, before the compile
    calls = log.read_text().splitlines()
    (wheel_install, ) = [c for c in calls if c.startswith('-m pip') and 'mmengine' in c]
    (build, ) = [c for c in calls if 'mmcv-2.1.0.tar.gz' in c]
    assert '| CUDA_VISIBLE_DEVICES=0 |' in wheel_install  # only the build is hidden from the GPUs
    assert '| CUDA_VISIBLE_DEVICES= | FORCE_CUDA=0 | MMCV_WITH_OPS=1 |' in build
    assert '--no-index' in build and f'--target {tmp_path / "site"}' in build
    (run, ) = [c for c in calls if c.startswith('tools/gpu_check.py')]
    assert '| CUDA_VISIBLE_DEVICES=0 |' in run and f'PYTHONPATH={ROOT}:{tmp_path / "site"}' in run


def test_update_docs_from_a_returned_file(tmp_path, monkeypatch):
    """The device returns gpu-check.md under $OUT; here it goes into docs/performance.md."""
    doc = tmp_path / 'performance.md'
    doc.write_text('# Performance\n\ntext\n')
    monkeypatch.setattr(gpu_check, 'DOCS', str(doc))
    md = tmp_path / 'gpu-check.md'
    md.write_text('### GPU check (GPU)\n\n| a |\n')
    assert gpu_check.main(['--update-docs-from', str(md)]) == 0
    text = doc.read_text()
    assert text.startswith('# Performance\n\ntext\n') and '<!-- gpu-check:start -->\n### GPU check (GPU)' in text
