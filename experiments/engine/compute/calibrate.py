"""Timing a model's training iteration and its inference on this node (``run-experiment
calibrate``; ``tools/bench_train_step.py`` times the same step).

A training iteration is what mmengine's loop runs per batch, without the data loader:
``model.train_step`` (the data preprocessor, forward, loss, backward and the config's
optimizer step with its param groups), on random images and labels at the per-GPU batch
and crop, with the computation the suite trains with (fused attention: ``set_fused``)
and ``torch.compile`` where the row trains with it (``--train-compile``).
Inference is ``predict`` mode (whole or slide, as the config tests) on one image at the
test size. Each is timed after warm-up, synchronised on a GPU; the median is kept."""
import datetime
import statistics
import time
from typing import Callable, Dict, List, Tuple

import torch

from experiments.core.device import device_details
from experiments.engine.plugins.optimizer import grouped
from experiments.planning.projection import CALIBRATION_VERSION, signature, test_hw
from umixformer.apis import build_segmentor
from umixformer_config.input_size import config_crop
from umixformer.optimize import compile_for_training, set_fused


def training_batch(model, batch: int, hw: Tuple[int, int], seed: int = 1) -> dict:
    """A batch as the data loader hands it to ``train_step``: uint8 images and labels."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(seed)
    classes = model.decode_head.num_classes
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, *hw), generator=gen, dtype=torch.uint8))
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, classes, (1, *hw), generator=gen))
        s.set_metainfo(dict(img_shape=hw, pad_shape=hw, ori_shape=hw))
        samples.append(s)
    return {'inputs': inputs, 'data_samples': samples}


def timed(fn: Callable[[], object], iters: int, warmup: int, cuda: bool) -> List[float]:
    """Seconds of each of ``iters`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def train_step(model, cfg, batch: int, hw: Tuple[int, int], grouped_step: bool = True) -> Callable[[], float]:
    """One training iteration of ``model`` with ``cfg``'s optimizer (a closure; returns the loss),
    stepped as the training stage steps it (``GroupedAdamW``) or, ``grouped_step=False``, as
    the config names it (the official runs)."""
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper

    # mmengine logs to its newest logger: one at WARNING keeps the optimizer's per-parameter lines out
    MMLogger.get_instance(f'umix-calibrate-{id(model)}', log_level='WARNING')
    # (build_optim_wrapper copies the config it is given)
    optim = build_optim_wrapper(model, grouped(cfg.optim_wrapper) if grouped_step else cfg.optim_wrapper)
    data = training_batch(model, batch, hw)
    if cfg.get('train_compile'):  # as the training stage compiles (--train-compile)
        compile_for_training(model, cfg.train_compile)

    def run() -> float:
        losses = model.train_step(data, optim)
        return losses['loss'].detach().item()  # the total mmengine logs (the parts are beside it)
    return run


def peak_memory_gb(cuda: bool) -> float:
    """The training step's peak memory: on a GPU what the caching allocator reserved (what
    an out-of-memory error compares with the card), on a CPU the process's peak RSS."""
    if cuda:
        return round(torch.cuda.max_memory_reserved() / 2**30, 2)
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)  # KiB on Linux


def calibrate(task, iters: int = 5, warmup: int = 2, images: int = 3) -> Dict[str, object]:
    """The calibration entry of a training task's model on this node (see the module doc)."""
    cuda = torch.cuda.is_available()
    dev = 'cuda' if cuda else 'cpu'
    cfg = task.cfg
    torch.manual_seed(0)
    model = set_fused(build_segmentor(cfg, eval_mode=False).train().to(dev), True)
    batch, crop = cfg.train_dataloader.batch_size, config_crop(cfg)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    train = timed(train_step(model, cfg, batch, crop), iters, warmup, cuda)
    peak = peak_memory_gb(cuda)
    model.eval()
    hw = test_hw(task)
    image = training_batch(model, 1, hw, seed=2)

    def predict():
        with torch.no_grad():
            model.test_step(image)
    infer = timed(predict, images, 1, cuda)
    details = device_details()
    return dict(
        seconds_per_iter=statistics.median(train), seconds_per_image=statistics.median(infer),
        train_peak_memory_gb=peak, peak_memory_of='cuda max_memory_reserved' if cuda else 'process max RSS',
        iters=iters, warmup=warmup, images=images, batch=batch, crop=list(crop), test_hw=list(hw),
        mode=model.test_cfg.get('mode', 'whole'), compile=cfg.get('train_compile', ''), signature=signature(task),
        version=CALIBRATION_VERSION, row=f'{task.row.table}/{task.row.id}', config=task.row.config,
        profile=task.profile, measured_at=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        **details)
