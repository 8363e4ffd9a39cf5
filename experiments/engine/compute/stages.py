"""What each stage computes: the functions the stage specs name (``StageSpec.compute``,
``experiments.core.stages``). Each returns (metrics, artifacts, resumed_from)."""
import contextlib
import itertools
import os
import time
from typing import Any, Dict, Optional, Tuple

from experiments.core.console import report_progress
from experiments.core.device import available_cpus
from experiments.core.errors import StageError
from experiments.data.cityscapes_c import CLEAN, generate, root_for, val_images
from experiments.data.corruptions import CORRUPTIONS, SEVERITIES, aggregate
from experiments.data.samples import FOLDER, PICTURE_SEVERITY, choose
from experiments.engine.plugins import hooks, qualitative  # noqa: F401  (registers the hooks the stages name)
from experiments.engine.plugins.corruption import CityscapesCCorruption  # noqa: F401  (the on-the-fly pipeline's)
from experiments.engine.plugins.allocator import heap_kept
from experiments.engine.plugins.checkpoints import ATOMIC_BACKEND, start_weights_used
from experiments.engine.process.distributed import current_placement, describe
from experiments.engine.compute.latency import measure_latency
from experiments.engine.plugins.optimizer import GroupedAdamW, grouped
from experiments.engine.plugins.per_class import per_class_of, with_per_class
from experiments.engine.plugins.resume import PositionedRunner
from experiments.engine.plugins.trackers import with_trackers
from experiments.planning.commands import invalidate_command
from experiments.planning.locations import cityscapes_c_root
from experiments.planning.tasks import Task
from experiments.registry.profiles import get_profile
from experiments.registry.weights import verify_localised
from experiments.store import Store
from umixformer.optimize import compile_for_training, computation, set_fused

StageResult = Tuple[Dict[str, Any], Dict[str, str], Optional[str]]
_RUNNERS = itertools.count()  # Runners built in this process


def task_runner(task: Task, work_dir: str, tracked_in: Optional[str] = None, **overrides) -> PositionedRunner:
    """mmengine's Runner of a task; ``tracked_in``: the runs folder, for the trackers of
    ``--tracker`` (``experiments.engine.plugins.trackers``)."""
    cfg = task.cfg.copy()
    cfg.work_dir = work_dir
    # one visualizer and one logger per Runner: mmengine hands a later Runner of this process
    # the instances of the same name, with the first run's folder (perhaps removed since) and
    # its log file; the timestamp alone repeats within a second (the same key in two stores, a
    # retraining), the process's Runner count does not
    cfg.experiment_name = f"{task.key.replace('/', '_')}{time.strftime('_%Y%m%d_%H%M%S')}_{next(_RUNNERS)}"
    vis = dict(cfg.get('visualizer') or dict(type='SegLocalVisualizer'), name=cfg.experiment_name)
    if tracked_in is not None:
        vis = with_trackers(vis, task.runtime.get('tracker', ()), task.row.table, task.key, tracked_in)
    cfg.visualizer = vis
    # a multi-process row under srun has joined its process group already (exec-task,
    # experiments.engine.process.distributed): mmengine then skips its own launcher
    group = describe()
    cfg.launcher = 'pytorch' if group else 'none'
    if group:  # DDP on this process's device, with the official runs' wrapper settings
        cfg.model_wrapper_cfg = current_placement().wrapper_cfg(cfg.get('find_unused_parameters', False))
        if group['backend'] == 'gloo':  # CPU processes: no SyncBN without GPUs
            cfg.model = _without_sync_bn(cfg.model)
    for k, v in overrides.items():
        cfg[k] = v
    return PositionedRunner.from_cfg(cfg)


def _without_sync_bn(node):
    if isinstance(node, dict):
        return {k: ('BN' if k == 'type' and v == 'SyncBN' else _without_sync_bn(v)) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(_without_sync_bn(v) for v in node)
    return node


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume from, always inside ``work_dir``: the file that
    ``last_checkpoint`` names, else (the file torn or naming nothing: mmengine's
    CheckpointHook writes it in place) the latest ``iter_N.pth``, which is whole
    (written atomically). mmengine writes an absolute path there; only its file name
    is read, so that a copied or moved store resumes from its own files."""
    import glob
    import re
    path = os.path.join(work_dir, 'last_checkpoint')
    named = open(path).read().strip() if os.path.exists(path) else ''
    if named and os.path.isfile(os.path.join(work_dir, os.path.basename(named))):
        return os.path.join(work_dir, os.path.basename(named))
    found = [(int(m.group(1)), p) for p in glob.glob(os.path.join(work_dir, 'iter_*.pth'))
             if (m := re.fullmatch(r'iter_(\d+)\.pth', os.path.basename(p)))]
    return max(found)[1] if found else None


def _stop_workers(*loaders) -> None:
    """Ends the worker processes of data loaders (or loader iterators) now.
    Left to the garbage collector (persistent workers), their shutdown fell
    inside the next task's Runner and cost it 20 s of joins (measured in the
    smoke demo)."""
    for loader in loaders:
        it = getattr(loader, '_iterator', None)
        if hasattr(it, '_shutdown_workers'):
            it._shutdown_workers()


def stop_loader_workers(runner) -> None:
    """Ends the worker processes of a Runner's loaders (see ``_stop_workers``)."""
    loops = [getattr(runner, name, None) for name in ('_train_loop', '_val_loop', '_test_loop')]
    _stop_workers(*(getattr(loop, 'dataloader', None) for loop in loops),
                  getattr(loops[0], 'dataloader_iterator', None))


def run_train(task: Task, store: Store) -> StageResult:
    """mmengine Runner training; resumes from the last checkpoint of its work dir."""
    work = store.work_dir(task.key)
    resumed = read_last_checkpoint(work)
    custom = list(task.cfg.get('custom_hooks', [])) + [
        dict(type='PreemptionCheckpointHook'), dict(type='ExactResumeHook'), dict(type='ProgressReportHook')]
    hooks_cfg = task.cfg.get('default_hooks', {}).copy()
    if hooks_cfg.get('checkpoint'):  # how checkpoints are written, not what is computed: not in the key
        hooks_cfg['checkpoint'] = dict(hooks_cfg['checkpoint'], backend_args=ATOMIC_BACKEND)
        if not get_profile(task.profile).keep_checkpoints:  # read once by the run's tests, then removed
            hooks_cfg['checkpoint'].update(save_optimizer=False, save_param_scheduler=False)
    verify_localised(task.cfg.model)  # on this node, right before the encoder weights are read
    # resume from that file explicitly: mmengine's own lookup reads last_checkpoint's absolute path
    # AdamW stepped per set of equal group settings: bit-identical parameters, fewer calls
    # a resumed run reads its own checkpoint; a new one the config's load_from, if any (fine-tuning)
    runner = task_runner(task, work, store.root, resume=resumed is not None,
                         load_from=resumed or task.cfg.get('load_from'), custom_hooks=custom, default_hooks=hooks_cfg,
                         optim_wrapper=grouped(task.cfg.optim_wrapper))
    start = start_weights_used(task, runner.model, check=resumed is None, work_dir=work)
    # the same function as the official computation, faster: fused attention in the encoder
    # and the head, the projected-first fuse (tests/test_fused_training.py: equal gradients)
    model = set_fused(getattr(runner.model, 'module', runner.model), True)
    if task.cfg.get('train_compile'):  # --train-compile: a labelled option, in the key
        compile_for_training(model, task.cfg.train_compile)
    import torch
    with heap_kept() if not torch.cuda.is_available() else contextlib.nullcontext():
        runner.train()
    stop_loader_workers(runner)
    ckpt = read_last_checkpoint(work)
    if ckpt is None:
        raise StageError(f'training finished but left no checkpoint in {work}')
    loss = runner.message_hub.get_scalar('train/loss').current()
    metrics = {'iters': runner.iter, 'final_loss': float(loss),
               'computation': dict(computation(model), grouped_optimizer_step=_grouped(runner))}
    if describe():  # how the processes trained together (the key has the world size)
        metrics['distributed'] = describe()
    if start:
        metrics['load_from'] = start
    return metrics, {'checkpoint': store.rel(ckpt), 'work_dir': store.rel(work)}, resumed and store.rel(resumed)


def _grouped(runner) -> bool:
    return isinstance(getattr(runner.optim_wrapper, 'optimizer', None), GroupedAdamW)


def _finished_training(task: Task, store: Store):
    """The training record a test/robustness task reads; it must be done and its
    checkpoint still there. Returns (record, absolute checkpoint path). A task
    evaluating a released checkpoint (``task.released``) reads that file."""
    if task.released is not None:
        ckpt = store.abs(task.released.checkpoint)
        if not os.path.exists(ckpt):
            raise StageError(f'released checkpoint {ckpt} is gone; run `run-experiment evaluate` again')
        return None, ckpt
    train = store.get(task.needs) if task.needs else None
    if train is None or train.status != 'done':
        raise StageError(f'{task.stage} needs the finished training record {task.needs}')
    ckpt = store.abs(train.artifacts.get('checkpoint', ''))
    if not os.path.exists(ckpt) and not get_profile(task.profile).keep_checkpoints:
        raise StageError(f'the {task.profile} profile removed the checkpoint of the training {task.needs} once its run '
                         f'had read it: run this stage with its training (--stages train,{task.stage}), which '
                         'trains it again')
    if not os.path.exists(ckpt):
        raise StageError(f'the checkpoint {ckpt} of the finished training {task.needs} is gone; recompute it with '
                         f'`{invalidate_command(task, store, "train")}` then the same command')
    return train, ckpt


def run_test(task: Task, store: Store) -> StageResult:
    """Single-scale mIoU with the config's IoUMetric, on the trained checkpoint."""
    train, ckpt = _finished_training(task, store)
    work = store.work_dir(task.key)
    predictions = os.path.join(work, FOLDER)  # the chosen images' predicted class maps
    profile = get_profile(task.profile)
    keep = dict(type='KeepPredictionsHook', out_dir=predictions,
                images=choose(task.row.dataset, task.data_root, profile.qualitative_images, profile.qualitative_seed))
    runner = task_runner(task, work, store.root, load_from=ckpt, resume=False,
                         custom_hooks=list(task.cfg.get('custom_hooks', [])) + [dict(type='ProgressReportHook'), keep,
                                                                                dict(type='TestScalarsHook')],
                         test_evaluator=with_per_class(task.cfg.test_evaluator))
    metrics = runner.test()
    stop_loader_workers(runner)
    out = {k: float(v) for k, v in metrics.items()}
    out['miou'] = out.get('mIoU', float('nan'))
    per_class = per_class_of(runner)
    if per_class is not None:  # the numbers of mmseg's logged class table
        out['per_class_iou'] = per_class
    artifacts = {'checkpoint': store.rel(ckpt), 'work_dir': store.rel(work)}
    if os.path.isdir(predictions):
        artifacts['predictions'] = store.rel(predictions)
    return out, artifacts, None


def run_complexity(task: Task, store: Store) -> StageResult:
    from umixformer.complexity import build_segmentor, measure
    hw = task.input_hw  # what the key holds is what is measured
    c = measure(build_segmentor(task.base_cfg), hw)
    metrics = {'params_m': c.params_m, 'params_published_layout_m': c.params_published_layout_m,
               'gflops': c.gflops, 'input_hw': list(hw)}
    return metrics, {}, None


def run_latency(task: Task, store: Store) -> StageResult:
    return measure_latency(task), {}, None


def run_robustness(task: Task, store: Store) -> StageResult:
    """Clean and Cityscapes-C mIoU of the trained model, aggregated as the paper."""
    import copy

    from mmengine.runner import TestLoop

    if task.row.dataset != 'cityscapes':
        raise StageError(f'robustness is measured on Cityscapes-C; row {task.row.id} is {task.row.dataset}')
    train, ckpt = _finished_training(task, store)
    out = cityscapes_c_root(task, store)
    profile = get_profile(task.profile)
    protocol = task.options.get('protocol', 'segformer')
    on_the_fly = task.options.get('source', 'files') == 'on-the-fly'
    if on_the_fly:  # nothing on disk: each image is corrupted as it is loaded (same pixels)
        gen = {'images': len(val_images(task.data_root)[:profile.robustness_images]), 'images_per_second': None}
    else:
        gen = generate(task.data_root, out, workers=available_cpus(), max_images=profile.robustness_images,
                       protocol=protocol)
    work = store.work_dir(task.key)
    picture = val_images(task.data_root)[0]  # one image drawn under every corruption (reports)
    runner = task_runner(task, work, load_from=ckpt, resume=False,
                         custom_hooks=[dict(type='KeepPredictionsHook', images=[picture], out_dir=None)])
    keep = next(h for h in runner.hooks if isinstance(h, qualitative.KeepPredictionsHook))
    runner.call_hook('before_run')  # as Runner.test() does: log paths, visualizer
    runner.load_or_resume()

    def miou(corruption: str, severity: int) -> float:
        loader = copy.deepcopy(task.cfg.test_dataloader)
        if not on_the_fly:
            loader.dataset.data_root = root_for(out, corruption, severity)
        else:
            loader.dataset.data_root = task.data_root
            loader.dataset.indices = gen['images']  # the first N, as generate() takes them
            if (corruption, severity) != CLEAN:
                pipeline = loader.dataset.pipeline
                at = next(i for i, t in enumerate(pipeline) if t['type'] == 'LoadImageFromFile') + 1
                pipeline.insert(at, dict(type='CityscapesCCorruption', corruption=corruption, severity=severity,
                                         protocol=protocol))
        loop = TestLoop(runner, loader, task.cfg.test_evaluator)
        keep.out_dir = (os.path.join(work, FOLDER, f'{corruption}-{severity}')
                        if severity in (CLEAN[1], PICTURE_SEVERITY) else None)
        value = float(loop.run()['mIoU'])
        _stop_workers(loop.dataloader)
        return value

    clean = miou(*CLEAN)
    per = {}
    for i, (c, sev) in enumerate((c, sev) for c in CORRUPTIONS for sev in SEVERITIES):
        per[(c, sev)] = miou(c, sev)
        report_progress('Cityscapes-C', i + 1, len(CORRUPTIONS) * len(SEVERITIES), c)
    runner.call_hook('after_run')
    agg = aggregate(per)
    metrics = {'miou_clean': clean, 'miou_corrupted': agg['overall']['mean'],
               'per_corruption': agg['corruption'], 'per_group': agg['group'],
               'per_severity': {f'{c}/{s}': v for (c, s), v in per.items()},
               'images': gen['images'], 'generation_images_per_second': gen['images_per_second'],
               'protocol': protocol, 'source': 'on-the-fly' if on_the_fly else 'files', 'picture_image': picture}
    return metrics, {'cityscapes_c': None if on_the_fly else store.rel(out), 'checkpoint': store.rel(ckpt),
                     'work_dir': store.rel(work), 'predictions': store.rel(os.path.join(work, FOLDER))}, None

