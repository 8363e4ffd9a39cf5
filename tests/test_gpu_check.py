"""tools/gpu_check.sh --cpu: the GPU check's every section still runs (on the CPU, small
sizes), so that the script is ready when a GPU is lent."""
import json
import os
import subprocess

from conftest import ROOT


def test_gpu_check_runs_on_the_cpu(tmp_path):
    res = subprocess.run(['bash', os.path.join(ROOT, 'tools', 'gpu_check.sh'), '--cpu', '--out', str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    result = json.load(open(tmp_path / 'gpu-check.json'))
    assert result['cpu'] is True and result['environment']['device'].startswith('cpu')
    # each family as the suite trains it; U-MixFormer-B0 also as the official code computes it
    # (--train-compile inductor only on a GPU: minutes of compiling on a CPU)
    assert [r['family'] for r in result['train']] == ['U-MixFormer MiT-B0', 'U-MixFormer MiT-B0 (official)',
                                                     'U-MixFormer LVT', 'U-MixFormer MSCAN-T',
                                                     'FeedFormer MiT-B0', 'SegFormer MiT-B0']
    assert all(r['s_per_iter'] > 0 for r in result['train'])
    resume = result['resume']  # preempted once, resumed from its checkpoint, the same weights
    assert resume['status'] == 'done' and resume['preempted'] == 1 and resume['iters'] == 60
    assert resume['resumed_from'].endswith('iter_20.pth') and resume['equal'] is True
    assert result['process_group'] == dict(backend='gloo', local_id=1, visible_gpus=0, device='cpu', local_rank=1,
                                           ddp_step=True)
    assert [r['precision'] for r in result['logits']] == ['fp32', 'fp16', 'bf16']
    assert all(r['within'] for r in result['logits'])
    timed = {(r['protocol'], r['optimize']) for r in result['latency']}
    assert timed == {(p, o) for p in ('single-image', 'mmseg-benchmark') for o in (False, True)}
    md = (tmp_path / 'gpu-check.md').read_text()
    assert 'CPU stand-in' in md and '| fp16 |' in md
