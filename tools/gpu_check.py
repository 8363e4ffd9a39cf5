"""The GPU check: what only a GPU node runs, measured in one prepared run (see
tools/gpu_check.sh for how it gets onto a device machine).

    python tools/gpu_check.py [--cpu] [--out DIR] [--sections a,b] [--deadline EPOCH_S] [--update-docs]
    python tools/gpu_check.py --update-docs-from gpu-check.md   # here, with the file the device returned

Sections (each a key of the JSON; the markdown has one table per section), run in the
order below, which is what the project most needs from a GPU first. Both files are
written after every section, so a run killed at the device's limit leaves what it
measured; a section that fails is reported (its tasks' run.log copied beside the
results) and the next one runs; no section starts after the deadline (``--deadline``,
set by tools/gpu_check.sh 540 s after it started) and the skipped ones are named.

* ``environment``: device, driver, CUDA, cuDNN, torch.
* ``train``: a few training iterations per model family at the paper's per-GPU batch
  and crop (U-MixFormer on MiT-B0, LVT, MSCAN-T; FeedFormer-B0; SegFormer-B0): s/iter,
  peak memory; for U-MixFormer-B0 also the official computation (the training step's
  ratio on the GPU).
* ``resume``: a tiny training preempted at iteration 20 and resumed on this device
  (the RNG states come back from a checkpoint loaded onto it), against an uninterrupted
  one: resumed from where, max abs weight difference.
* ``latency``: the latency stage for the latency table's rows, single-image protocol at
  2048x1024 and the benchmark protocol on the built-in Cityscapes images, official and
  optimized, fp32 and fp16 (U-MixFormer-B0 against SegFormer-B0 at 2048x1024: the
  paper's own stated limitation).
* ``process_group``: a world-size-1 process group (NCCL with a GPU, gloo without) for a
  task whose SLURM_LOCALID is 1 but which sees one GPU: the device it drives and a DDP
  step with the suite's wrapper settings.
* ``logits``: optimized vs official computation of U-MixFormer-B0 at fp32, fp16 and
  bf16: max abs difference against the stated tolerance.
* ``compiled``: U-MixFormer-B0's training step with ``--train-compile inductor`` and its
  latency with ``--compile`` on images of several sizes (minutes of compiling: last).

``--cpu`` runs every section on the CPU at small sizes (batch 1, crop 128, one timed
iteration; the resume on the check profile's 2 iterations, preempted at 1; latency of
U-MixFormer-B0 at ADE20K's 512x512 and on the built-in Cityscapes images, fp32; compile
skipped) so that CI keeps the script working; its numbers are not
GPU numbers. ``--update-docs`` writes the markdown into docs/performance.md between
the ``gpu-check`` markers.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tools'))
CONFIGS = os.path.join(ROOT, 'experiments', 'configs')
FAMILIES = {  # model family -> its ADE20K config (per-GPU batch 16, crop 512)
    'U-MixFormer MiT-B0': 'umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',
    'U-MixFormer LVT': 'umixformer/umixformer_lvt_1xb16-160k_ade20k-512x512.py',
    'U-MixFormer MSCAN-T': 'umixformer/umixformer_mscan-t_1xb16-160k_ade20k-512x512.py',
    'FeedFormer MiT-B0': 'feedformer/feedformer_mit-b0_1xb16-160k_ade20k-512x512.py',
    'SegFormer MiT-B0': 'segformer/segformer_mit-b0_1xb16-160k_ade20k-512x512.py',
}
# optimized vs official logits: float rounding only. fp32 with TF32 (cuDNN convolutions
# use it by default on Ampere and later) and half precisions round far more coarsely
TOLERANCE = {'fp32': 1e-4, 'fp32-tf32': 2e-2, 'fp16': 5e-2, 'bf16': 3e-1}
DTYPES = {'fp32': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}
MARKERS = ('<!-- gpu-check:start -->', '<!-- gpu-check:end -->')


def environment() -> dict:
    from experiments.core.device import device_details
    out = device_details()
    out.update(platform=platform.platform(), gpu_check_at=time.strftime('%Y-%m-%d %H:%M:%S %z'))
    return out


def train(small: bool) -> list:
    from bench_train_step import run_variant
    from experiments.planning.configs import load_base_config
    rows = []
    for family, config in FAMILIES.items():
        path = os.path.join(CONFIGS, config)
        cfg = load_base_config(path)
        batch = 1 if small else int(cfg.train_dataloader.batch_size)
        size = 128 if small else int(cfg.crop_size[0])
        # the suite's training; for the first family also the official computation and (GPU
        # only: minutes of compiling on a CPU) --train-compile inductor, for the ratio
        variants = [('ours', '')] + ([('official', '')] if family == next(iter(FAMILIES)) else [])
        for variant, backend in variants:
            r = run_variant(variant, 1 if small else 5, batch, size, config=path, compile=backend)
            rows.append(dict(family=family + ('' if (variant, backend) == ('ours', '') else f' ({r["variant"]})'),
                             batch=batch, crop=size, s_per_iter=r['ms'] / 1000, peak_mb=r['peak_mb'],
                             loss=r['loss']))
    return rows


def compiled(work: str, small: bool) -> dict:
    """Last, as they compile for minutes: U-MixFormer-B0's training step with
    ``--train-compile inductor`` and its latency with ``--compile`` on images of several
    sizes (GPU only: on a CPU the compile alone takes minutes)."""
    if small:
        return dict(skipped='CPU stand-in: compiling takes minutes on a CPU')
    from bench_train_step import run_variant
    from experiments.planning.configs import load_base_config
    path = os.path.join(CONFIGS, FAMILIES['U-MixFormer MiT-B0'])
    cfg = load_base_config(path)
    batch, size = int(cfg.train_dataloader.batch_size), int(cfg.crop_size[0])
    r = run_variant('ours', 5, batch, size, config=path, compile='inductor')
    train_row = dict(family=f'U-MixFormer MiT-B0 ({r["variant"]})', batch=batch, crop=size,
                     s_per_iter=r['ms'] / 1000, peak_mb=r['peak_mb'], loss=r['loss'])
    runs = os.path.join(work, 'compiled-runs')
    _latency_runs(runs, [['latency', '--rows', 'umixformer_mit-b0_cityscapes', '--stages', 'latency', '--runs-dir', runs,
                          '--profile', 'smoke', '--latency-protocol', 'mmseg-benchmark', '--optimize', '--compile']])
    return dict(train=[train_row], latency=_latency_records(runs))


def _tiny_training(runs: str, preempt_at: int = 0, profile: str = 'tiny'):
    """A training of Table 1's U-MixFormer-B0 row on the built-in data under ``profile``;
    the preemption signal arrives during iteration ``preempt_at`` (0: never). Returns the
    final record and how often it was preempted."""
    from experiments.cli.parser import parse_args
    from experiments.cli.selection import select_tasks
    from experiments.engine.process.executor import prepare_data, run_resuming
    from experiments.engine.plugins.hooks import PreemptionCheckpointHook
    original = PreemptionCheckpointHook.after_train_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == preempt_at and os.environ.get('UMIX_GPU_CHECK_RESUMED') != '1':
            os.environ['UMIX_GPU_CHECK_RESUMED'] = '1'
            signal.raise_signal(self.signums[0])  # the real signal, through the real handler
        original(self, runner, batch_idx, data_batch, outputs)
    PreemptionCheckpointHook.after_train_iter = after_train_iter
    os.environ.pop('UMIX_GPU_CHECK_RESUMED', None)
    try:
        args = parse_args(['table1', '--profile', profile, '--runs-dir', runs, '--rows', 'umixformer_mit-b0_ade20k',
                           '--stages', 'train'])
        _, _, _, store, (task, ) = select_tasks(args)
        prepare_data([task], store)
        return (*run_resuming(task, store, 'gpu_check', max_stops=1), store)
    finally:
        PreemptionCheckpointHook.after_train_iter = original


def resume(work: str, small: bool) -> dict:
    """The tiny profile's 60 iterations, preempted at 20; the CPU stand-in: the check
    profile's 2, preempted at 1 (the same code path, not minutes of CPU training)."""
    profile, at = ('check', 1) if small else ('tiny', 20)
    full, _, store_a = _tiny_training(os.path.join(work, 'uninterrupted'), profile=profile)
    resumed, stops, store_b = _tiny_training(os.path.join(work, 'preempted'), preempt_at=at, profile=profile)

    def weights(store, rec):
        from umixformer.safe_load import load
        return load(store.abs(rec.artifacts['checkpoint']), 'cpu')['state_dict']
    a, b = weights(store_a, full), weights(store_b, resumed)
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    return dict(status=resumed.status, preempted=stops, preempted_at=at, resumed_from=resumed.resumed_from,
                iters=resumed.metrics['iters'], max_abs_weight_diff=diff, equal=diff == 0.0)


def process_group() -> dict:
    """A task with SLURM_LOCALID=1 that sees one GPU (--gpus-per-task=1): it must drive
    cuda:0; one DDP step with the suite's wrapper settings in a world of one."""
    import socket

    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    from experiments.engine.process.distributed import placement
    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    place = placement(1, min(visible, 1), 1)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    import datetime
    # a world of one: a hang (a broken NCCL set-up) fails after a minute, not at the command's limit
    dist.init_process_group(place.backend, init_method=f'tcp://127.0.0.1:{port}', rank=0, world_size=1,
                            timeout=datetime.timedelta(seconds=60))
    try:
        dev = 'cpu' if place.device_index is None else f'cuda:{place.device_index}'
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8)).to(dev)
        wrapper = place.wrapper_cfg(find_unused_parameters=True)
        wrapper.pop('type')
        ddp = MMDistributedDataParallel(module=model, **wrapper)
        ddp(torch.randn(2, 3, 16, 16, device=dev)).sum().backward()
        ok = all(p.grad is not None for p in model.parameters())
    finally:
        dist.destroy_process_group()
    return dict(backend=place.backend, local_id=1, visible_gpus=visible, device=dev, local_rank=place.local_rank,
                ddp_step=ok)


def logits(small: bool) -> list:
    from experiments.planning.configs import load_base_config
    from umixformer.complexity import build_segmentor
    from umixformer.optimize import set_fused
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    cfg = load_base_config(os.path.join(CONFIGS, FAMILIES['U-MixFormer MiT-B0']))
    torch.manual_seed(0)
    model = build_segmentor(cfg).to(dev).eval()
    size = 128 if small else 512
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1)).to(dev)
    tf32 = dev == 'cuda' and torch.backends.cudnn.allow_tf32
    rows = []
    for name, dtype in DTYPES.items():
        out = {}
        for fused in (False, True):
            set_fused(model, fused)
            with torch.no_grad(), torch.autocast(dev, dtype=dtype, enabled=dtype is not None):
                out[fused] = model(x, mode='tensor').float()
        tol_name = 'fp32-tf32' if name == 'fp32' and tf32 else name
        diff = float((out[True] - out[False]).abs().max())
        rows.append(dict(precision=name, max_abs_diff=diff, tolerance=TOLERANCE[tol_name], tolerance_for=tol_name,
                         within=diff <= TOLERANCE[tol_name], logit_scale=float(out[False].abs().max())))
    return rows


def latency(work: str, small: bool) -> list:
    """The latency stage itself (run-experiment), into a runs folder of its own."""
    runs = os.path.join(work, 'latency-runs')
    rows = ['segformer_mit-b0_cityscapes', 'feedformer_mit-b0_cityscapes', 'segnext_mscan-t_cityscapes',
            'umixformer_mit-b0_cityscapes']
    os.environ.update(UMIX_LATENCY_WARMUP='1' if small else '10', UMIX_LATENCY_RUNS='2' if small else '50',
                      UMIX_LATENCY_IMAGES='3' if small else '50')
    tables = []
    if small:  # a CPU takes 15 s per 2048x1024 forward: the single image at ADE20K's 512x512
        folder = os.path.join(work, 'tables')
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, 'gpu_check_cpu.toml'), 'w') as f:
            f.write('name = "gpu_check_cpu"\ntitle = "U-MixFormer-B0 at 512x512 (CPU stand-in)"\n'
                    'metrics = ["latency_ms", "fps"]\n[[rows]]\nid = "umixformer_mit-b0_ade20k"\n'
                    'method = "U-MixFormer"\nencoder = "MiT-B0"\ndataset = "ade20k"\nstages = ["latency"]\n'
                    f'config = "{FAMILIES["U-MixFormer MiT-B0"]}"\n')
        tables = ['--tables', folder]
        plans = [('gpu_check_cpu', 'umixformer_mit-b0_ade20k', 'single-image', 'paper'),
                 ('latency', rows[-1], 'mmseg-benchmark', 'smoke')]
    else:  # the paper's 2048x1024 images; the benchmark protocol on the built-in Cityscapes images
        plans = [('latency', ','.join(rows), 'single-image', 'paper'),
                 ('latency', ','.join(rows), 'mmseg-benchmark', 'smoke')]
    argvs = []
    for table, selected, protocol, profile in plans:
        for precision in (['fp32'] if small else ['fp32', 'fp16']):
            for optimize in (False, True):
                argvs.append([table, *tables, '--rows', selected, '--stages', 'latency', '--runs-dir', runs, '--profile',
                              profile, '--latency-protocol', protocol, '--precision', precision] + ['--optimize'] * optimize)
    _latency_runs(runs, argvs)
    return _latency_records(runs)


def _latency_runs(runs: str, argvs: list) -> None:
    from experiments.cli import main
    for argv in argvs:
        if main(argv) != 0:
            raise RuntimeError(f'latency run failed: run-experiment {" ".join(argv)}')


def _latency_records(runs: str) -> list:
    from experiments.store import Store
    out = []
    for rec in Store(runs).records():
        if rec.stage != 'latency' or rec.status != 'done':
            continue
        m = rec.metrics
        out.append(dict(row=rec.rows[0].split('/')[-1], protocol=m['protocol'], precision=m['precision'],
                        optimize=m['optimize'], compile=m.get('compile', False), input_hw=m['input_hw'],
                        distinct_shapes=m.get('distinct_shapes'), latency_ms=m['latency_ms'], fps=m['fps']))
    return sorted(out, key=lambda r: (r['row'], r['protocol'], r['precision'], r['optimize'], r['compile']))


def markdown(result: dict) -> str:
    """The tables of the sections that finished; which failed or were skipped, and why."""
    env = result['environment']
    lines = [f'### GPU check ({"CPU stand-in, small sizes: not GPU numbers" if result["cpu"] else "GPU"})', '',
             f'{env.get("device")}; driver {env.get("driver", "-")}, CUDA {env.get("cuda", "-")}, cuDNN '
             f'{env.get("cudnn", "-")}, torch {env.get("torch")}; {env["gpu_check_at"]}; '
             f'{result.get("seconds", 0):.0f} s in all' + ('' if result.get('complete') else ' (still running or '
                                                            'stopped: the sections below are those that ended)') + '.']
    train = result.get('train', []) + (result.get('compiled') or {}).get('train', [])
    if train:
        lines += ['', '| training: family | batch | crop | s/iter | peak MiB |', '|---|---|---|---|---|']
        lines += [f'| {r["family"]} | {r["batch"]} | {r["crop"]} | {r["s_per_iter"]:.3f} | {r["peak_mb"]:.0f} |'
                  for r in train]
    if 'resume' in result:
        r = result['resume']
        lines += ['', f'Preempted at iteration {r["preempted_at"]} and resumed on the device: {r["status"]} after {r["iters"]} '
                  f'iterations, resumed from `{r["resumed_from"]}`, max abs weight difference to the uninterrupted '
                  f'run {r["max_abs_weight_diff"]:.3g}.']
    if 'process_group' in result:
        p = result['process_group']
        lines += ['', f'Process group of a task with SLURM_LOCALID=1 seeing {p["visible_gpus"]} GPU(s): {p["backend"]} '
                  f'on {p["device"]} (LOCAL_RANK {p["local_rank"]}), DDP step {"ok" if p["ddp_step"] else "FAILED"}.']
    if 'logits' in result:
        lines += ['', '| logits, optimized vs official | max abs diff | tolerance | within |', '|---|---|---|---|']
        lines += [f'| {r["precision"]} | {r["max_abs_diff"]:.2e} | {r["tolerance"]:g} ({r["tolerance_for"]}) | '
                  f'{"yes" if r["within"] else "NO"} |' for r in result['logits']]
    timed = result.get('latency', []) + (result.get('compiled') or {}).get('latency', [])
    if timed:
        lines += ['', '| latency: row | protocol | precision | computation | input | ms | FPS |',
                  '|---|---|---|---|---|---|---|']
        lines += [_latency_line(r) for r in timed]
    for name, why in result.get('failed', {}).items():
        lines += ['', f'**{name} failed**: {why.splitlines()[0] if why else "?"} (traceback in gpu-check.json)']
    if result.get('skipped'):
        lines += ['', f'Skipped: {", ".join(result["skipped"])} ({result.get("skipped_why", "")}).']
    return '\n'.join(lines) + '\n'


def _latency_line(r: dict) -> str:
    hw = r['input_hw'][0] if isinstance(r['input_hw'][0], list) else r['input_hw']
    shapes = r.get('distinct_shapes') or 1
    size = 'x'.join(map(str, hw)) + (f' ({shapes} shapes)' if shapes > 1 else '')
    computation = ('optimized' if r['optimize'] else 'official') + (' + compile' if r['compile'] else '')
    return (f'| {r["row"]} | {r["protocol"]} | {r["precision"]} | {computation} | {size} | {r["latency_ms"]:.1f} | '
            f'{r["fps"]:.2f} |')


DOCS = os.path.join(ROOT, 'docs', 'performance.md')


def update_docs(text: str, path: str = '') -> None:
    """``text`` between the gpu-check markers of docs/performance.md (appended the first time)."""
    from experiments.core.files import atomic_write
    path = path or DOCS
    doc = open(path).read()
    start, end = MARKERS
    block = f'{start}\n{text}{end}'
    doc = doc[:doc.index(start)] + block + doc[doc.index(end) + len(end):] if start in doc else \
        doc.rstrip('\n') + '\n\n' + block + '\n'
    atomic_write(path, doc)


# in the order the project needs them from a GPU, each with the seconds it is expected to
# take there (a section is started only while that much is left before the deadline); the
# compiles last
SECTIONS = (('train', 90), ('resume', 60), ('latency', 120), ('process_group', 10), ('logits', 15),
            ('compiled', 180))
DEFAULT_BUDGET_S = 540  # the device runs one command for at most 600 s


def _run_section(name: str, work: str, small: bool):
    return {'train': lambda: train(small), 'resume': lambda: resume(work, small), 'process_group': process_group,
            'logits': lambda: logits(small), 'latency': lambda: latency(work, small),
            'compiled': lambda: compiled(work, small)}[name]()


def write_outputs(result: dict, out: str) -> None:
    """gpu-check.json and gpu-check.md, each replaced whole (after every section: a run
    killed at its limit leaves what it measured)."""
    from experiments.core.files import atomic_write
    atomic_write(os.path.join(out, 'gpu-check.json'), json.dumps(result, indent=2, default=str))
    atomic_write(os.path.join(out, 'gpu-check.md'), markdown(result))


# a device machine returns at most 8 files from $OUT: gpu-check.json, gpu-check.md, the
# console log the device command tees there, and at most this many task logs
MAX_LOGS = 5


def keep_logs(work: str, out: str, name: str) -> list:
    """The newest run.log files of a failed section's tasks, copied next to the results (the
    work folder is removed; only $OUT comes back from a device machine), MAX_LOGS in all."""
    room = MAX_LOGS - sum(f.endswith('-run.log') for f in os.listdir(out))
    logs = sorted((os.path.join(d, f) for d, _, fs in os.walk(work) for f in fs if f == 'run.log'),
                  key=os.path.getmtime)[-room:] if room > 0 else []
    kept = []
    for i, path in enumerate(logs):
        dst = os.path.join(out, f'{name}-{i}-run.log')
        shutil.copyfile(path, dst)
        kept.append(os.path.basename(dst))
    return kept


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--cpu', action='store_true', help='small sizes on the CPU (CI keeps the script working)')
    p.add_argument('--out', default=os.environ.get('OUT') or os.path.join(ROOT, 'runs', 'gpu-check'),
                   help='folder for gpu-check.json and gpu-check.md (default $OUT or runs/gpu-check)')
    p.add_argument('--sections', default=','.join(n for n, _ in SECTIONS),
                   help='the sections to run, in this order (default: all)')
    p.add_argument('--deadline', type=float, default=float(os.environ.get('UMIX_GPU_CHECK_DEADLINE') or 0),
                   help='epoch seconds after which no section starts (tools/gpu_check.sh sets it '
                   f'{DEFAULT_BUDGET_S} s after its own start; default: that long from now)')
    p.add_argument('--update-docs', action='store_true', help='write the tables into docs/performance.md')
    p.add_argument('--update-docs-from', metavar='FILE',
                   help='here, after the device run: write a returned gpu-check.md into docs/performance.md')
    args = p.parse_args(argv)
    if args.update_docs_from:
        update_docs(open(args.update_docs_from).read())
        print(f'gpu_check: {args.update_docs_from} written into docs/performance.md')
        return 0
    wanted = [n.strip() for n in args.sections.split(',') if n.strip()]
    expected = dict(SECTIONS)
    unknown = [n for n in wanted if n not in expected]
    if unknown:
        p.error(f'unknown section(s) {unknown}; known: {", ".join(expected)}')
    if not args.cpu and not torch.cuda.is_available():
        print('gpu_check: no GPU visible (torch.cuda.is_available() is False); use --cpu for the CPU stand-in',
              file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix='gpu-check-')
    t0 = time.monotonic()
    # the CPU stand-in has no device limit to keep (a loaded CI machine may take long)
    deadline = args.deadline or (float('inf') if args.cpu else time.time() + DEFAULT_BUDGET_S)
    result = dict(cpu=args.cpu, environment=environment(), sections=wanted, failed={}, skipped=[], complete=False)
    try:
        for name in wanted:
            left = deadline - time.time()
            if left < expected[name]:
                result['skipped'].append(name)
                result['skipped_why'] = 'too little time left before the deadline'
                print(f'gpu_check: {name} skipped ({left:.0f} s left, it takes about {expected[name]} s)', flush=True)
                continue
            t = time.monotonic()
            try:
                result[name] = _run_section(name, work, args.cpu)
                print(f'gpu_check: {name} done in {time.monotonic() - t:.1f} s', flush=True)
            except Exception as err:  # reported; the next section runs
                result['failed'][name] = f'{type(err).__name__}: {err}\n{traceback.format_exc()}'
                result.setdefault('logs', {})[name] = keep_logs(work, args.out, name)
                print(f'gpu_check: {name} FAILED after {time.monotonic() - t:.1f} s: {type(err).__name__}: {err}',
                      flush=True)
            result['seconds'] = time.monotonic() - t0
            write_outputs(result, args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.update(seconds=time.monotonic() - t0, complete=True)
    write_outputs(result, args.out)
    text = markdown(result)
    if args.update_docs:
        update_docs(text)
    print(text)
    bad = _failed_checks(result)
    if bad:
        print(f'gpu_check: FAILED: {"; ".join(bad)}', file=sys.stderr)
        return 1
    return 0


def _failed_checks(result: dict) -> list:
    bad = [f'section {n}' for n in result['failed']]
    bad += [f'logits {r["precision"]} beyond tolerance' for r in result.get('logits', []) if not r['within']]
    if 'process_group' in result and not result['process_group']['ddp_step']:
        bad.append('DDP step')
    if 'resume' in result and result['resume']['status'] != 'done':
        bad.append(f'resume {result["resume"]["status"]}')
    return bad


if __name__ == '__main__':
    raise SystemExit(main())
