"""The latency stage, two protocols (never mixed: the protocol is in the key and the record).

``mmseg-benchmark`` (default; the paper's "mmsegmentation benchmark setting", the
official tools/analysis_tools/benchmark.py, spec 6.2): validation images through the
config's test pipeline, batch 1, the data preprocessor, then the segmentor in predict
mode (whole or slide inference, resizing back and argmax included) under no_grad; the
first 5 images are warm-up; 200 images; fp32 unless asked; FPS = timed images / time.
``onnxruntime``: the model exported to ONNX (tensor mode) and timed by ONNX Runtime on the
CPU, one random image at the paper's resolution (the deployed speed, beside PyTorch's).
``single-image``: one random image at the paper's resolution, tensor-free inference
(``model.inference``) with warm-up and N timed runs; median, p10/p90.
On a GPU the clock is synchronised (CUDA events / synchronize), on the CPU monotonic."""
import statistics
import time
from typing import Any, Dict

import torch

from experiments.core import device
from experiments.core.environment import value
from experiments.core.errors import UsageError
from experiments.engine.compute.export import onnxruntime_latency
from umixformer.complexity import build_segmentor
from umixformer.optimize import computation, faster_in_channels_last, optimize_for_inference, set_fused

DEFAULT_RUNS = {'cuda': (10, 50), 'cpu': (2, 10)}  # (warm-up, timed)


PROTOCOLS = ('mmseg-benchmark', 'single-image', 'onnxruntime')
BENCHMARK_WARMUP, BENCHMARK_IMAGES = 5, 200  # as mmseg's benchmark.py


def _prepared_model(task, dev: str, hw) -> tuple:
    """The row's segmentor on ``dev`` with the task's speed options, each on its own:
    the official computation by default (explicit attention in the U-MixFormer head,
    mmseg's attention in MiT, concat-then-fuse), as the baselines run as mmseg ships
    them; ``--optimize`` the fastest configuration of the same function (fused
    attention, projected-first fuse, and channels-last where it is faster here, timed);
    ``--channels-last`` and ``--compile`` only what they say. Returns (model, what it
    computes with, for the record)."""
    opts = task.options
    optimize = bool(opts.get('optimize'))
    model = set_fused(build_segmentor(task.base_cfg).to(dev), optimize)
    channels_last = bool(opts.get('channels_last'))
    if optimize and not channels_last:
        channels_last = faster_in_channels_last(model, torch.randn(1, 3, *hw, device=dev))
    model = optimize_for_inference(model, channels_last=channels_last, compile=bool(opts.get('compile')),
                                   fused=optimize)
    ran = computation(model)
    ran.update(channels_last=channels_last, compile=bool(opts.get('compile')),
               tf32_matmul=torch.backends.cuda.matmul.allow_tf32, tf32_cudnn=torch.backends.cudnn.allow_tf32)
    return model, ran


def _precision(opts) -> tuple:
    precision = opts.get('precision', 'fp32')
    dtypes = {'fp32': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}
    if precision not in dtypes:
        raise UsageError(f'precision must be one of {sorted(dtypes)}, got {precision!r}')
    return precision, dtypes[precision]


def measure_benchmark(task, warmup: int = None, images: int = None) -> Dict[str, Any]:
    """mmseg's benchmark protocol on the row's validation images (see the module doc)."""
    from mmengine.runner import Runner

    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    warmup = value('UMIX_LATENCY_WARMUP', warmup if warmup is not None else BENCHMARK_WARMUP)
    images = value('UMIX_LATENCY_IMAGES', images or BENCHMARK_IMAGES)
    opts = task.options
    precision, dtype = _precision(opts)
    cfg = task.cfg.copy()
    cfg.test_dataloader.batch_size = 1
    loader = Runner.build_dataloader(cfg.test_dataloader)
    if len(loader.dataset) <= warmup:
        raise UsageError(f'{len(loader.dataset)} validation images: fewer than the {warmup} warm-up images')
    # channels-last or not (--optimize) is timed on the benchmark's own first image
    model, ran = _prepared_model(task, dev, tuple(loader.dataset[0]['inputs'].shape[-2:]))
    torch.backends.cudnn.benchmark = False  # as benchmark.py; set here, never inherited from an earlier task
    ran['cudnn_benchmark'] = False

    def inputs():
        for i, data in enumerate(loader):
            if i >= images:
                return
            # benchmark.py passes training=True, which pads to the crop size; real validation
            # images (ADE20K short side 512, Cityscapes 2048x1024) are never smaller, so test mode
            # is the same there, and it keeps small (built-in) images valid
            yield i, model.data_preprocessor(data, False)
    shapes = set()
    if ran['compile']:  # compile for every distinct shape before the clock runs (ADE20K's vary)
        with torch.no_grad(), torch.autocast(dev, dtype=dtype, enabled=dtype is not None):
            for _, data in inputs():
                shape = tuple(data['inputs'].shape[-2:])
                if shape not in shapes:
                    shapes.add(shape)
                    model(**data, mode='predict')
    total, timed = 0.0, 0
    with torch.no_grad():
        for i, data in inputs():
            shapes.add(tuple(data['inputs'].shape[-2:]))
            if dev == 'cuda':
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            with torch.autocast(dev, dtype=dtype, enabled=dtype is not None):
                model(**data, mode='predict')
            if dev == 'cuda':
                torch.cuda.synchronize()
            if i >= warmup:
                total += time.perf_counter() - t0
                timed += 1
    fps = timed / total
    return {'latency_ms': 1000.0 / fps, 'fps': fps, 'protocol': 'mmseg-benchmark', 'images': timed,
            'warmup': warmup, 'precision': precision, 'batch_size': 1,
            'mode': model.test_cfg.get('mode', 'whole'), 'input_hw': [list(s) for s in sorted(shapes)][:3],
            'distinct_shapes': len(shapes), 'optimize': bool(opts.get('optimize')), **ran, **device.device_details()}


def measure_latency(task, warmup: int = None, runs: int = None) -> Dict[str, Any]:
    """The latency record of a task, by its protocol."""
    device.check_declared_device(task.options.get('device', ''), device.device_name())
    protocol = task.options.get('protocol', 'mmseg-benchmark')
    if protocol == 'mmseg-benchmark':
        return measure_benchmark(task)
    if protocol == 'onnxruntime':
        return measure_onnxruntime(task, warmup, runs)
    return measure_single_image(task, warmup, runs)


def measure_onnxruntime(task, warmup: int = None, runs: int = None) -> Dict[str, Any]:
    """The deployed speed: the model exported to ONNX (``experiments.engine.compute.export``, in
    tensor mode: logits at 1/4 of the input, no resize or argmax) and run by ONNX Runtime on
    the CPU, one random image at the measuring input; the export is checked against
    PyTorch first (``onnx_max_abs_diff``). ``--optimize`` exports the fused form."""
    precision, _ = _precision(task.options)
    if precision != 'fp32':
        raise UsageError('the onnxruntime latency protocol times fp32 (the exported graph); drop --precision')
    w, n = DEFAULT_RUNS['cpu']
    warmup = value('UMIX_LATENCY_WARMUP', warmup or w)
    runs = value('UMIX_LATENCY_RUNS', runs or n)
    optimize = bool(task.options.get('optimize'))
    model = optimize_for_inference(build_segmentor(task.base_cfg), fused=optimize)  # no channels-last, no compile
    ran = computation(model)
    out = onnxruntime_latency(model, task.input_hw, warmup, runs)
    details = device.device_details()
    details['device'] = f'cpu:{device.cpu_model()} (onnxruntime CPUExecutionProvider)'
    return {**out, 'protocol': 'onnxruntime', **details, 'precision': precision, 'batch_size': 1,
            'mode': 'tensor (logits at 1/4; no resize, no argmax)', 'input_hw': list(task.input_hw),
            'distinct_shapes': 1, 'optimize': bool(task.options.get('optimize')), **ran}


def measure_single_image(task, warmup: int = None, runs: int = None) -> Dict[str, Any]:
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    w, n = DEFAULT_RUNS[dev]
    warmup = value('UMIX_LATENCY_WARMUP', warmup or w)
    runs = value('UMIX_LATENCY_RUNS', runs or n)
    opts = task.options
    precision, dtype = _precision(opts)
    h, w_ = task.input_hw
    model, ran = _prepared_model(task, dev, (h, w_))
    # one fixed shape: cuDNN may pick its fastest algorithms (set here, never inherited)
    torch.backends.cudnn.benchmark = ran['cudnn_benchmark'] = True
    x = torch.randn(1, 3, h, w_, device=dev)
    if ran['channels_last']:
        x = x.contiguous(memory_format=torch.channels_last)
    meta = [dict(ori_shape=(h, w_), img_shape=(h, w_), pad_shape=(h, w_), padding_size=[0, 0, 0, 0])]
    mode = model.test_cfg.get('mode', 'whole')

    def once():
        with torch.no_grad(), torch.autocast(dev, dtype=dtype, enabled=dtype is not None):
            return model.inference(x, meta)

    for _ in range(warmup):
        once()
    times = []
    for _ in range(runs):
        if dev == 'cuda':
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            once()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            once()
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    med = statistics.median(times)
    q = statistics.quantiles(times, n=10) if len(times) > 1 else [med] * 9
    return {
        'latency_ms': med, 'latency_p10_ms': q[0], 'latency_p90_ms': q[-1],
        'latency_std_ms': statistics.pstdev(times), 'fps': 1000.0 / med, 'protocol': 'single-image',
        **device.device_details(), 'precision': precision, 'batch_size': 1, 'mode': mode,
        'input_hw': [h, w_], 'distinct_shapes': 1, 'warmup': warmup, 'runs': runs,
        'optimize': bool(opts.get('optimize')), **ran,
    }
