"""A config's ``load_from`` (fine-tuning) is honoured: the training starts from those
weights, read as data, with their sha256 in the record and in its key; a missing file is
named before anything runs, a file changed after planning or one that runs code is refused."""
import os
import shutil

import pytest
import torch

from experiments.cli import main
from experiments.core.files import sha256_of
from experiments.store import Store

B0 = 'umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py'


def _table(folder, load_from):
    """A user's table whose row's config starts from ``load_from`` (None: no load_from)."""
    folder.mkdir(parents=True, exist_ok=True)
    line = f'load_from = {load_from!r}\n' if load_from else ''
    (folder / 'umix_b0_ft.py').write_text(f"_base_ = ['suite::{B0}']\n{line}")
    (folder / 'ft.toml').write_text('name = "ft"\ntitle = "fine-tuning"\nmetrics = ["miou"]\n[[rows]]\nid = "b0"\n'
                                    'method = "U-MixFormer"\nencoder = "MiT-B0"\ndataset = "ade20k"\n'
                                    'config = "umix_b0_ft.py"\nstages = ["train"]\n')
    return str(folder)


def _args(tables, runs, data):
    return ['ft', '--tables', tables, '--profile', 'check', '--runs-dir', str(runs), '--data-root', f'ade20k={data}']


def test_load_from_is_honoured_and_keyed(tiny_trained, tmp_path, capsys):
    runs, data = tiny_trained
    train = next(r for r in Store(str(runs)).records() if r.stage == 'train')
    start = tmp_path / 'start.pth'
    shutil.copy(Store(str(runs)).abs(train.artifacts['checkpoint']), start)
    tables = _table(tmp_path / 'tables', str(start))
    assert main(_args(tables, tmp_path / 'runs', data)) == 0
    (rec, ) = Store(str(tmp_path / 'runs')).records()
    used = rec.metrics['load_from']
    assert used['file'] == 'start.pth' and used['sha256'] == sha256_of(str(start))
    assert used['loaded'] == used['of'] == 256 and used['other_shape'] == [] and used['missing'] == 0
    # it started from those weights: two steps (the first at a warm-up lr of 1e-6 x) move them little
    # (1.5e-8 measured; from scratch they would differ by the initialisation's scale)
    began = torch.load(start, weights_only=False)['state_dict']
    after = torch.load(Store(str(tmp_path / 'runs')).abs(rec.artifacts['checkpoint']), weights_only=False)['state_dict']
    weights = [k for k in began if 'running_' not in k and 'num_batches' not in k]  # not the BN statistics
    moved = max(float((after[k].float() - began[k].float()).abs().max()) for k in weights)
    assert moved < 1e-4, moved
    # the same row without load_from is another training (another key)
    plain = _table(tmp_path / 'plain', None)
    capsys.readouterr()
    assert main(['plan'] + _args(plain, tmp_path / 'runs', data)) == 0
    assert '1 to run' in ' '.join(capsys.readouterr().out.split())
    # other weights under the same name: another key too, never the old record
    torch.save({'state_dict': {k: v * 0 for k, v in began.items()}}, start)
    assert main(['plan'] + _args(tables, tmp_path / 'runs', data)) == 0
    assert '1 to run' in ' '.join(capsys.readouterr().out.split())


def test_load_from_missing_changed_or_unsafe(tmp_path, capsys):
    from experiments.data.datasets import generate_synthetic
    from experiments.engine.process.executor import run_task
    from experiments.planning.select import select
    from experiments.planning.options import PlanOptions
    data = str(tmp_path / 'ade')
    generate_synthetic('ade20k', data, num_train=4, num_val=2)
    start = tmp_path / 'start.pth'
    tables = _table(tmp_path / 'tables', str(start))
    # not there: named before anything runs
    assert main(_args(tables, tmp_path / 'runs', data)) == 2
    out = ' '.join(capsys.readouterr().out.split())
    assert f"load_from = '{start}': no such file" in out and not (tmp_path / 'runs' / 'records').exists()
    # relative: a SLURM job would read it from the checkout, not from here
    relative = _table(tmp_path / 'relative', 'checkpoints/start.pth')
    assert main(['plan'] + _args(relative, tmp_path / 'runs', data)) == 2
    assert 'give an absolute path' in ' '.join(capsys.readouterr().out.split())
    # changed between planning (a login node) and the job: refused, nothing trained
    torch.save({'state_dict': {'decode_head.conv_seg.bias': torch.zeros(150)}}, start)
    opts = PlanOptions(table='ft', tables=(tables, ), profile='check', runs_dir=str(tmp_path / 'runs'),
                       data_roots={'ade20k': data})
    (task, ) = select(opts).tasks
    torch.save({'state_dict': {'decode_head.conv_seg.bias': torch.ones(150)}}, start)
    rec = run_task(task, Store(str(tmp_path / 'runs')), 'test')
    assert rec.status == 'failed' and 'changed since it was planned' in rec.error
    # a file that runs code when loaded: refused, the payload never runs
    marker = tmp_path / 'PAYLOAD-RAN'

    class Payload:
        def __reduce__(self):
            return (os.system, (f'touch {marker}', ))
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': Payload()}, start)
    assert main(_args(tables, tmp_path / 'runs2', data)) == 1
    (rec, ) = Store(str(tmp_path / 'runs2')).records()
    assert rec.status == 'failed' and 'runs code when loaded' in rec.error and not marker.exists()
    # weights of another model: refused rather than a training from scratch passing for a fine-tuning
    torch.save({'state_dict': {'backbone.other.weight': torch.ones(3)}}, start)
    assert main(_args(tables, tmp_path / 'runs3', data)) == 1
    (rec, ) = Store(str(tmp_path / 'runs3')).records()
    assert 'none of its 1 tensors is one of this model' in rec.error


@pytest.mark.parametrize('value', ['https://example.org/x.pth'])
def test_load_from_url_is_refused_with_what_to_do(tmp_path, capsys, value):
    tables = _table(tmp_path / 'tables', value)
    assert main(['plan'] + _args(tables, tmp_path / 'runs', str(tmp_path / 'nodata'))) == 2
    assert 'download the file and give its path' in ' '.join(capsys.readouterr().out.split())


def test_an_official_checkpoint_is_refused_with_its_conversion(tiny_trained, tmp_path, capsys):
    """The release's layout: its encoder keys fit, its head's do not; before, it trained with the
    head silently dropped. Refused, with the exact command that converts it; the converted file
    starts the training with every tensor."""
    import shlex
    from test_heads_official import official_layout, random_state
    from test_released import official_checkpoint
    runs, data = tiny_trained
    start = official_checkpoint(B0, random_state(official_layout('APFormerHead2')), tmp_path / 'released.pth')
    tables = _table(tmp_path / 'tables', str(start))
    assert main(_args(tables, tmp_path / 'runs', data)) == 1
    (rec, ) = Store(str(tmp_path / 'runs')).records()
    assert rec.status == 'failed' and "is an official release's checkpoint (APFormerHead2" in rec.error, rec.error
    command = rec.error.splitlines()[0].split('point load_from at the result: ')[1]
    assert shlex.split(command) == ['umixformer-convert', str(start), str(tmp_path / 'released.converted.pth')]
    from umixformer.converters.official import main as convert
    assert convert(shlex.split(command)[1:]) == 0
    tables = _table(tmp_path / 'converted', str(tmp_path / 'released.converted.pth'))
    capsys.readouterr()
    assert main(_args(tables, tmp_path / 'runs2', data)) == 0
    (rec, ) = Store(str(tmp_path / 'runs2')).records()
    used = rec.metrics['load_from']
    assert used['loaded'] == used['of'] and used['missing'] == 0 and used['other_shape'] == []


def test_only_the_classifier_may_differ(tiny_trained, tmp_path, capsys):
    """Weights that leave more than the classifier unloaded are refused with the counts; the
    classifier alone of another shape (another class count) is a fine-tuning, said on the
    console; a resumed run's record still holds the counts."""
    from experiments.engine.plugins.checkpoints import start_weights_used
    from experiments.planning.options import PlanOptions
    from experiments.planning.select import select
    from umixformer.apis import build_segmentor
    runs, data = tiny_trained
    train = next(r for r in Store(str(runs)).records() if r.stage == 'train')
    full = torch.load(Store(str(runs)).abs(train.artifacts['checkpoint']), weights_only=False)['state_dict']
    partial = tmp_path / 'partial.pth'
    torch.save({'state_dict': {k: v for k, v in full.items() if not k.startswith('backbone.layers.3')}}, partial)
    assert main(_args(_table(tmp_path / 't1', str(partial)), tmp_path / 'runs1', data)) == 1
    (rec, ) = Store(str(tmp_path / 'runs1')).records()
    assert 'beyond the classifier would keep their initial values' in rec.error and 'missing' in rec.error, rec.error
    other = tmp_path / 'other-classes.pth'  # a head of 7 classes: the row's classifier differs
    torch.save({'state_dict': {k: (v[:7] if 'conv_seg' in k else v) for k, v in full.items()}}, other)
    tables = _table(tmp_path / 't2', str(other))
    capsys.readouterr()
    assert main(_args(tables, tmp_path / 'runs2', data)) == 0
    said = ' '.join(capsys.readouterr().out.split())
    assert 'note: it started from other-classes.pth' in said and 'decode_head.conv_seg.weight' in said, said
    (rec, ) = Store(str(tmp_path / 'runs2')).records()
    first = rec.metrics['load_from']
    assert first['other_shape'] == ['decode_head.conv_seg.bias', 'decode_head.conv_seg.weight']
    # a resumed run (check=False: it reads its own checkpoint) states what the first start found
    (task, ) = select(PlanOptions(table='ft', tables=(tables, ), profile='check', runs_dir=str(tmp_path / 'runs2'),
                                  data_roots={'ade20k': data})).tasks
    work = Store(str(tmp_path / 'runs2')).work_dir(task.key)
    again = start_weights_used(task, build_segmentor(task.cfg), check=False, work_dir=work)
    assert again == first
