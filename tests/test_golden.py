"""Golden values: short deterministic computations of each stage, stored with the stage's
computation version (``StageSpec.version``) in ``tests/data/golden.json``. A code change
that alters a value a stage records under the same key fails here unless the stage's
version was bumped (its old records then read stale, and a run computes them again).

The computations avoid what varies between CPUs beyond float rounding: weights drawn from
a fixed seed, inputs of a fixed seed at 64x64, one process; compared to a relative 1e-4
(summation order differs between instruction sets; the gradients' norm to 2e-3), counts and
the metric exactly, in one thread.
Rewrite the file on purpose, after bumping the versions: ``UMIX_WRITE_GOLDEN=1 pytest
tests/test_golden.py``. No training of many iterations is here: those follow each CPU's
float paths (a 60-iteration tiny run ends at another loss on another VM)."""
import dataclasses
import json
import math
import os
from unittest import mock

import numpy as np
import pytest
import torch

from conftest import CONFIG_DIR, DATA_DIR
from experiments.core.stages import stage_spec
from experiments.registry.profiles import get_profile
from experiments.registry.tables import get_table
from experiments.store import Store

GOLDEN = os.path.join(DATA_DIR, 'golden.json')
RTOL = 1e-4
# the gradients' norm follows the summation order more (batch norm over a 2x2 feature map at
# 64x64): 1 against 2 threads moved it by 5e-4
RTOLS = {'gradient_norm': 2e-3}
# a config of every model family the tables run (encoder x head)
FAMILIES = ('umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',
            'segformer/segformer_mit-b0_1xb16-160k_ade20k-512x512.py',
            'feedformer/feedformer_mit-b0_1xb16-160k_ade20k-512x512.py',
            'feedformer/feedformer_lvt_1xb16-160k_ade20k-512x512.py',
            'segnext/segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512.py',
            'umixformer/umixformer_lvt_1xb16-160k_ade20k-512x512.py',
            'umixformer/umixformer_mscan-t_1xb16-160k_ade20k-512x512.py')
B0 = FAMILIES[0]


def _model(config: str, train: bool = False):
    from experiments.planning.configs import load_base_config
    from umixformer.apis import build_segmentor
    torch.manual_seed(0)
    cfg = load_base_config(os.path.join(CONFIG_DIR, config))
    return cfg, build_segmentor(cfg, eval_mode=not train)


def _stats(t: torch.Tensor) -> list:
    t = t.detach().double()
    return [float(t.sum()), float(t.abs().sum()), float(t.flatten()[0]), float(t.flatten()[-1])]


def logits() -> dict:
    """Each family's logits for weights of seed 0 and one image of seed 0 (the forward every
    evaluating stage runs)."""
    image = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    out = {}
    for config in FAMILIES:
        _, model = _model(config)
        with torch.no_grad():
            out[os.path.basename(config)] = _stats(model(image, mode='tensor'))
    return out


def training_step() -> dict:
    """One training step of U-MixFormer-B0 as the training stage steps it (fused attention, the
    grouped AdamW of the config's optimizer): its loss, the gradients' norm and the weights'
    norm after it. (The loss of a second step is not here: Adam's first update is about
    lr x sign(gradient), whose sign flips with rounding where a gradient is near 0.)"""
    from experiments.engine.compute.calibrate import train_step, training_batch
    from umixformer.optimize import set_fused
    cfg, model = _model(B0, train=True)
    model = set_fused(model.train(), True)
    data = model.data_preprocessor(training_batch(model, 2, (64, 64)), True)
    loss, _ = model.parse_losses(model.loss(data['inputs'], data['data_samples']))
    loss.backward()
    grads = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in model.parameters() if p.grad is not None))
    model.zero_grad()
    first = train_step(model, cfg, 2, (64, 64))()  # the same batch (training_batch's seed)
    norm = math.sqrt(sum(float(p.detach().double().pow(2).sum()) for p in model.parameters()))
    return {'loss': first, 'gradient_norm': grads, 'weights_norm': norm}


def iou_metric() -> dict:
    """The test stage's metric (mmseg's IoUMetric, as configured) on fixed predictions."""
    from mmseg.evaluation import IoUMetric
    gen = np.random.default_rng(0)
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dict(classes=[str(i) for i in range(5)])
    for _ in range(3):
        label = gen.integers(0, 5, (32, 32))
        pred = np.where(gen.random((32, 32)) < 0.7, label, gen.integers(0, 5, (32, 32)))
        label[0, :4] = 255  # ignored
        metric.process([], [dict(pred_sem_seg=dict(data=torch.from_numpy(pred)[None]),
                                 gt_sem_seg=dict(data=torch.from_numpy(label)[None]))])
    return {k: float(v) for k, v in metric.compute_metrics(metric.results).items()}


def complexity() -> dict:
    """U-MixFormer-B0's parameters and GFLOPs as the complexity stage counts them (at 128x128)."""
    from umixformer.complexity import measure
    _, model = _model(B0)
    c = measure(model, (128, 128))
    return {'params_m': c.params_m, 'params_published_layout_m': c.params_published_layout_m, 'gflops': c.gflops}


def latency_fields() -> dict:
    """A latency record's fields other than times and the machine: the single-image protocol
    of U-MixFormer-B0 at 64x64, one warm-up, one run."""
    from experiments.engine.compute.latency import measure_latency
    from experiments.planning.tasks import plan
    table = get_table('latency')
    store = Store('/nonexistent-golden-store')
    task = next(t for t in plan(table.runnable(), ['latency'], [0], get_profile('paper'), {}, store,
                                settings={'latency_protocol': 'single-image'})
                if 'umixformer_mit-b0' in t.key)
    rec = measure_latency(dataclasses.replace(task, input_hw=(64, 64)), warmup=1, runs=1)
    machine = {'device', 'gpu', 'gpu_memory_gb', 'cpu', 'cpu_model', 'cpus', 'cpu_threads', 'torch_threads', 'cuda',
               'cudnn', 'python', 'torch', 'tf32_cudnn', 'tf32_matmul'}  # the machine's and its packages'
    return {k: v for k, v in sorted(rec.items()) if not isinstance(v, float) and k not in machine
            and 'time' not in k and 'ms' not in k}


# stage -> the computations whose values its records depend on
COMPUTATIONS = {'train': (training_step, ), 'test': (logits, iou_metric), 'complexity': (complexity, ),
                'latency': (latency_fields, )}


def _close(a, b, rtol: float = RTOL) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-6)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], RTOLS.get(k, rtol)) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y, rtol) for x, y in zip(a, b))
    return a == b


@pytest.fixture(scope='module')
def computed():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one summation order, whatever the test worker's share of the CPUs
    # the computations as they are, whatever an earlier test of this worker left in the environment
    unset = {k: None for k in os.environ if k.startswith('UMIX_LATENCY_')}
    try:
        with mock.patch.dict(os.environ):
            for k in unset:
                del os.environ[k]
            return {stage: {f.__name__: json.loads(json.dumps(f())) for f in funcs}
                    for stage, funcs in COMPUTATIONS.items()}
    finally:
        torch.set_num_threads(threads)


def test_golden_values_change_only_with_the_computation_version(computed):
    versions = {stage: stage_spec(stage).version for stage in COMPUTATIONS}
    if os.environ.get('UMIX_WRITE_GOLDEN') == '1':
        with open(GOLDEN, 'w') as f:
            json.dump({s: dict(version=versions[s], values=computed[s]) for s in COMPUTATIONS}, f, indent=1)
            f.write('\n')
    with open(GOLDEN) as f:
        golden = json.load(f)
    for stage, values in computed.items():
        stored = golden[stage]
        if stored['version'] != versions[stage]:
            pytest.fail(f'{stage}: StageSpec.version is {versions[stage]}, tests/data/golden.json holds values of '
                        f'version {stored["version"]}: write them anew (UMIX_WRITE_GOLDEN=1)')
        for name, value in values.items():
            assert _close(value, stored['values'][name]), (
                f'{stage}: {name} changed ({value} vs the golden {stored["values"][name]}) while the stage\'s '
                f'computation version stayed {versions[stage]}: if the change is meant, bump StageSpec(version=...) '
                'of that stage (its old records then read stale and are computed again) and write the values '
                'anew (UMIX_WRITE_GOLDEN=1); if not, the change altered a number by mistake')
