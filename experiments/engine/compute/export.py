"""Deployment: a row's model as ONNX, checked against PyTorch with ONNX Runtime.

    run-experiment export TABLE --rows ROW [--checkpoint FILE] [--format onnx] [--out DIR]

The official README deploys with mmdeploy (ONNX). Here the segmentor is exported in
tensor mode (the logits at 1/4 of the input, as complexity is counted), in the same-function
fast form (``umixformer.optimize``: fused attention, projected-first fuse), at the row's
measuring input (512x512 on ADE20K, 2048x1024 on Cityscapes) with dynamic height and width.
The file is then run by ONNX Runtime (CPU) at that size and at a second one, and compared
with PyTorch on the same input: the largest absolute difference of the logits must stay
within ``TOLERANCE``, else nothing is kept. What does not export says why (the exporter's
error). A JSON beside the file states the weights, sizes, differences and versions.
"""
import json
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from experiments.core.errors import SuiteError
from experiments.core.files import atomic_write, sha256_of
from experiments.core.provenance import now, package_versions
from experiments.engine.compute.predict import build, checkpoint_for
from umixformer.optimize import optimize_for_inference
from experiments.planning.tasks import Task
from experiments.store import Store

OPSET = 17
TOLERANCE = 1e-4  # the largest |ONNX Runtime - PyTorch| of fp32 logits; measured about 3e-6 (B0, 512x512)
FORMATS = ('onnx', )


class ExportError(SuiteError, RuntimeError):
    """The model does not export, or the exported file does not compute what PyTorch does."""


class TensorMode(nn.Module):
    """The segmentor as a function of the image alone: its logits (``mode='tensor'``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image, mode='tensor')


@dataclass
class Exported:
    path: str
    sha256: str
    input_hw: Tuple[int, int]
    dynamic: bool
    checks: List[Dict[str, Any]] = field(default_factory=list)  # per size: max_abs_diff
    tolerance: float = TOLERANCE
    opset: int = OPSET
    weights: str = ''
    why_static: str = ''


def write_onnx(module: nn.Module, input_hw: Sequence[int], path: str) -> Tuple[bool, str]:
    """Exports ``module`` (atomically) with dynamic height and width where it exports so,
    else at ``input_hw`` only; returns (dynamic, why not)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    example = torch.randn(1, 3, *input_hw)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.onnx.part')
    os.close(fd)
    dynamic_axes = {'image': {2: 'height', 3: 'width'}, 'logits': {2: 'height_4', 3: 'width_4'}}
    why = ''
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # the exporter's tracer warnings
            for axes in (dynamic_axes, None):  # dynamic height and width, else the fixed size
                try:
                    torch.onnx.export(module, (example, ), tmp, dynamo=False, opset_version=OPSET,
                                      input_names=['image'], output_names=['logits'], dynamic_axes=axes)
                    break
                except Exception as err:  # noqa: BLE001  (the exporter raises many kinds)
                    if axes is None:
                        raise ExportError(f'the model does not export to ONNX (opset {OPSET}): '
                                          f'{type(err).__name__}: {str(err).splitlines()[0][:300]}') from err
                    why = f'{type(err).__name__}: {str(err).splitlines()[0][:200]}'
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return not why, why


def session(path: str):
    """An ONNX Runtime session on the CPU."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def compare(path: str, module: nn.Module, sizes: Sequence[Tuple[int, int]], seed: int = 0) -> List[Dict[str, Any]]:
    """The largest |ONNX Runtime - PyTorch| of the logits per input size."""
    sess = session(path)
    out = []
    gen = torch.Generator().manual_seed(seed)
    for hw in sizes:
        x = torch.randn(1, 3, *hw, generator=gen)
        with torch.no_grad():
            ref = module(x).numpy()
        got = sess.run(None, {'image': x.numpy()})[0]
        diff = float(np.abs(got - ref).max()) if got.shape == ref.shape else float('inf')
        out.append(dict(input_hw=list(hw), max_abs_diff=diff, shape=list(got.shape)))
    return out


def second_size(hw: Sequence[int]) -> Tuple[int, int]:
    """Another input the dynamic axes must take: 3/4 of the height, a multiple of 32."""
    return max(32, int(hw[0] * 3 / 4) // 32 * 32), int(hw[1])


def export_task(task: Task, store: Store, out_dir: str, checkpoint: Optional[str] = None,
                others: Callable[[], Sequence[Task]] = tuple) -> Exported:
    """Exports the row of ``task`` (a test task: its training's or ``checkpoint``'s weights;
    ``others``: the table's other test tasks, to name the row a file fits when it does not)."""
    weights = checkpoint_for(task, store, checkpoint)
    module = TensorMode(optimize_for_inference(build(task, weights, 'cpu', others))).eval()
    hw = tuple(task.input_hw)
    path = os.path.join(out_dir, f'{task.row.id}.onnx')
    dynamic, why = write_onnx(module, hw, path)
    checks = compare(path, module, [hw] + ([second_size(hw)] if dynamic else []))
    bad = [c for c in checks if not c['max_abs_diff'] <= TOLERANCE]
    if bad:
        os.replace(path, path + '.rejected')
        raise ExportError(f'{path}: ONNX Runtime differs from PyTorch by {bad[0]["max_abs_diff"]:.3g} at '
                          f'{bad[0]["input_hw"]} (tolerance {TOLERANCE}); kept for inspection as {path}.rejected')
    result = Exported(path=path, sha256=sha256_of(path), input_hw=hw, dynamic=dynamic, checks=checks,
                      weights=weights, why_static=why)
    meta = dict(asdict(result), row=f'{task.row.table}/{task.row.id}', config=task.row.config, exported_at=now(),
                packages=package_versions())
    atomic_write(path[:-len('.onnx')] + '.json', json.dumps(meta, indent=2))
    return result


def onnxruntime_latency(model: nn.Module, hw: Sequence[int], warmup: int, runs: int) -> Dict[str, Any]:
    """Latency of ``model`` exported to ONNX and run by ONNX Runtime (CPU), one random
    image at ``hw``: median, p10 and p90 over ``runs`` after ``warmup``."""
    import onnxruntime as ort
    module = TensorMode(model).eval()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'model.onnx')
        write_onnx(module, hw, path)
        diff = compare(path, module, [tuple(hw)])[0]['max_abs_diff']
        sess = session(path)
        x = np.random.default_rng(0).standard_normal((1, 3, *hw), dtype=np.float32)
        for _ in range(warmup):
            sess.run(None, {'image': x})
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            sess.run(None, {'image': x})
            times.append(1000 * (time.perf_counter() - t0))
    times.sort()
    med = times[len(times) // 2]
    return {'latency_ms': med, 'latency_p10_ms': times[len(times) // 10], 'latency_p90_ms': times[9 * len(times) // 10],
            'fps': 1000.0 / med, 'onnxruntime': ort.__version__, 'onnx_max_abs_diff': diff, 'opset': OPSET,
            'warmup': warmup, 'runs': runs}
