"""Preemption inside a training (no cluster): a training stopped by the
preemption signal twice and resumed each time ends with the same weights and
the same learning rate at every iteration as one that was never stopped."""
import os
import signal

import pytest
import torch

from conftest import DATA_DIR
from experiments.cli.parser import parse_args
from experiments.cli.selection import select_tasks
from experiments.engine.process.executor import prepare_data, run_resuming
from experiments.engine.plugins.hooks import PreemptionCheckpointHook
from experiments.store import Store
from umixformer.safe_load import load

TABLES = os.path.join(DATA_DIR, 'tables')
WRITTEN = []  # files written through the atomic checkpoint backend


def _train(runs, monkeypatch, stop_after=()):
    """Trains the tiny U-MixFormer row; the preemption signal arrives during each
    iteration in ``stop_after`` (1-based). Returns (record, lr per iteration)."""
    lrs = {}
    original = PreemptionCheckpointHook.after_train_iter
    import experiments.engine.plugins.checkpoints as ckpt
    write = ckpt.atomic_write
    monkeypatch.setattr(ckpt, 'atomic_write', lambda path, data: WRITTEN.append(os.path.basename(path)) or
                        write(path, data))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        lrs[runner.iter + 1] = runner.optim_wrapper.get_lr()['lr'][0]
        if runner.iter + 1 in stop_after:
            signal.raise_signal(self.signums[0])  # the real signal, through the real handler
        original(self, runner, batch_idx, data_batch, outputs)
    monkeypatch.setattr(PreemptionCheckpointHook, 'after_train_iter', after_train_iter)
    args = parse_args(['tiny', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(runs), '--rows', 'umix-b0',
                       '--stages', 'train'])
    _, _, _, store, (task, ) = select_tasks(args)
    prepare_data([task], store)
    rec, stops = run_resuming(task, store, 'test', max_stops=len(stop_after))
    assert rec.status == 'done', rec.error
    assert stops == len(stop_after)
    return rec, lrs


def _weights(runs, rec):
    return load(Store(str(runs)).abs(rec.artifacts['checkpoint']), 'cpu')['state_dict']


def _count_loads(monkeypatch):
    """The samples the training loader reads in this process (num_workers = 0)."""
    from experiments.engine.plugins.resume import SeededDataset
    loads = []
    original = SeededDataset.__getitem__
    monkeypatch.setattr(SeededDataset, '__getitem__', lambda self, idx: loads.append(idx) or original(self, idx))
    return loads


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    """The reference both cases compare with: the tiny training, never stopped, read in the
    training process (no loader workers). (runs folder, record, lr per iteration)"""
    runs = tmp_path_factory.mktemp('uninterrupted')
    with pytest.MonkeyPatch.context() as mp:
        full, lrs = _train(runs, mp)
    return runs, full, lrs


@pytest.mark.parametrize('workers', [0, 2])
def test_preempted_twice_equals_uninterrupted(tmp_path, monkeypatch, workers, uninterrupted):
    """Also with loader workers: each sample's augmentation is drawn from its position in
    the stream, so a resume reads nothing twice and draws the same numbers (and the
    weights are those of the reference read without workers)."""
    import dataclasses
    from experiments.registry import profiles
    if workers:
        monkeypatch.setitem(profiles.PROFILES, 'tiny', dataclasses.replace(profiles.PROFILES['tiny'],
                                                                          num_workers=workers))
    WRITTEN.clear()
    runs_full, full, lr_full = uninterrupted
    loads = _count_loads(monkeypatch)
    cut, lr_cut = _train(tmp_path / 'b', monkeypatch, stop_after=(17, 38))
    if not workers:  # the resumes positioned the data: every sample of the 60 batches of 2 was read once
        assert len(loads) == 60 * 2 and [x.position for x in loads] == list(range(120))
    assert cut.resumed_from and os.path.basename(cut.resumed_from) == 'iter_38.pth'
    assert full.metrics['iters'] == cut.metrics['iters'] == 60
    assert sorted(lr_cut) == list(range(1, 61))  # every iteration ran once: none repeated, none skipped
    assert lr_cut == pytest.approx(lr_full, rel=1e-12)
    a, b = _weights(runs_full, full), _weights(tmp_path / 'b', cut)
    assert a.keys() == b.keys()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert worst <= 1e-6, f'weights differ by up to {worst}'
    assert cut.metrics['final_loss'] == pytest.approx(full.metrics['final_loss'], abs=1e-5)
    # the interval checkpoints and the preemption checkpoints were all written atomically
    assert {'iter_10.pth', 'iter_17.pth', 'iter_38.pth', 'iter_60.pth'} <= set(WRITTEN)  # (this run's)


def test_checkpoint_write_is_all_or_nothing(tmp_path, monkeypatch):
    """A write that dies before it completes (a kill, a full disk) leaves the
    previous file whole and no partial file beside it."""
    from experiments.engine.plugins.checkpoints import AtomicLocalBackend
    backend, path = AtomicLocalBackend(), tmp_path / 'iter_10.pth'
    backend.put(b'previous', path)

    def broken_fsync(fd):
        raise OSError('No space left on device')
    monkeypatch.setattr(os, 'fsync', broken_fsync)
    with pytest.raises(OSError, match='No space left'):
        backend.put(b'new' * 1000, path)
    assert path.read_bytes() == b'previous' and os.listdir(tmp_path) == ['iter_10.pth']


def test_resume_survives_a_torn_last_checkpoint_file(tmp_path):
    """mmengine writes ``last_checkpoint`` in place; torn, it names no file: the
    latest whole iter_N.pth is resumed instead of starting over."""
    from experiments.engine.compute.stages import read_last_checkpoint
    for n in (10, 20, 9):
        (tmp_path / f'iter_{n}.pth').write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2'))  # cut short
    assert read_last_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_20.pth')
    (tmp_path / 'last_checkpoint').write_text('/elsewhere/iter_10.pth')  # the store moved
    assert read_last_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_10.pth')


def test_rng_states_survive_a_load_onto_another_device(tiny_trained):
    """mmengine's resume loads a checkpoint onto the current device: on a GPU node every
    tensor in it arrives as a CUDA tensor. The saved generator states must still restore
    (stand-in for the GPU: map_location='meta', a device that holds no CPU data)."""
    from experiments.engine.plugins.hooks import ExactResumeHook, restore_rng_states
    runs, _ = tiny_trained
    store = Store(str(runs))
    train = next(r for r in store.records() if r.stage == 'train')
    on_cpu = load(store.abs(train.artifacts['checkpoint']), 'cpu')
    elsewhere = load(store.abs(train.artifacts['checkpoint']), 'meta')
    assert next(iter(elsewhere['state_dict'].values())).device.type == 'meta'  # the stand-in took effect
    hook = ExactResumeHook()
    hook.after_load_checkpoint(None, elsewhere)
    torch.manual_seed(123)
    restore_rng_states(hook._saved)
    expected = on_cpu['rng_state']['torch']
    assert torch.equal(torch.get_rng_state(), torch.as_tensor(expected, dtype=torch.uint8))


def test_cuda_states_restored_for_the_visible_devices_only(monkeypatch):
    """Written where 8 GPUs were visible, resumed where one is (a task of --gpus-per-task=1)."""
    import numpy as np
    from experiments.engine.plugins.hooks import restore_rng_states
    calls = []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    monkeypatch.setattr(torch.cuda, 'set_rng_state', lambda state, device: calls.append((state.dtype, device)))
    state = dict(torch=torch.get_rng_state().numpy(), numpy=np.random.get_state(), python=__import__('random').getstate(),
                 cuda=[np.full(16, i, dtype=np.uint8) for i in range(8)])
    restore_rng_states(state)
    assert calls == [(torch.uint8, 0)]
