"""The latency stage: one image at the paper's resolution, the config's test
mode (whole or slide), warm-up then timed runs (CUDA events on a GPU, a
monotonic clock on the CPU)."""
import os
import statistics
import time
from typing import Any, Dict

import torch

DEFAULT_RUNS = {'cuda': (10, 50), 'cpu': (2, 10)}  # (warm-up, timed)


def device_slug() -> str:
    if torch.cuda.is_available():
        return 'cuda-' + torch.cuda.get_device_name(0).lower().replace(' ', '-')
    return 'cpu'


def measure_latency(task, warmup: int = None, runs: int = None) -> Dict[str, Any]:
    from umixformer.complexity import build_segmentor
    from umixformer.optimize import optimize_for_inference

    from .stages import paper_input_hw
    from .store import device_name

    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    w, n = DEFAULT_RUNS[dev]
    warmup = int(os.environ.get('UMIX_LATENCY_WARMUP', warmup or w))
    runs = int(os.environ.get('UMIX_LATENCY_RUNS', runs or n))
    opts = task.options
    precision = opts.get('precision', 'fp32')
    dtypes = {'fp32': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}
    if precision not in dtypes:
        raise ValueError(f'precision must be one of {sorted(dtypes)}, got {precision!r}')
    model = build_segmentor(task.base_cfg).to(dev)
    if opts.get('optimize') or opts.get('channels_last') or opts.get('compile'):
        model = optimize_for_inference(model, channels_last=bool(opts.get('channels_last')),
                                       compile=bool(opts.get('compile')))
    h, w_ = paper_input_hw(task)
    x = torch.randn(1, 3, h, w_, device=dev)
    if opts.get('channels_last'):
        x = x.contiguous(memory_format=torch.channels_last)
    meta = [dict(ori_shape=(h, w_), img_shape=(h, w_), pad_shape=(h, w_), padding_size=[0, 0, 0, 0])]
    mode = model.test_cfg.get('mode', 'whole')

    def once():
        with torch.no_grad(), torch.autocast(dev, dtype=dtypes[precision],
                                             enabled=dtypes[precision] is not None):
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
        'latency_std_ms': statistics.pstdev(times), 'fps': 1000.0 / med,
        'device': device_name(), 'precision': precision, 'batch_size': 1, 'mode': mode,
        'input_hw': [h, w_], 'warmup': warmup, 'runs': runs, 'optimize': bool(opts.get('optimize')),
        'channels_last': bool(opts.get('channels_last')), 'compile': bool(opts.get('compile')),
    }
