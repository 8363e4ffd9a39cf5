"""Released checkpoints: files in the official layout (made here) are identified by their
signature, matched to rows, converted, loaded strictly and evaluated; unknown,
unmatched and ambiguous files are named with the reason."""
import os
import shutil

import pytest
import torch

from conftest import CONFIG_DIR, DATA_DIR
from experiments.cli import main
from experiments.registry.tables import get_table
from experiments.engine.compute.released import checkpoint_signature, row_signature
from experiments.store import Store
from experiments.planning.configs import load_base_config
from spec_reference import read_official_layout
from test_heads_official import official_layout, random_state
from umixformer.complexity import build_segmentor

TABLES = os.path.join(DATA_DIR, 'tables')
LAYOUT = read_official_layout(os.path.join(DATA_DIR, 'official-checkpoint-keys.txt'))


def official_checkpoint(config, head_state, path, seed=0):
    torch.manual_seed(seed)
    model = build_segmentor(os.path.join(CONFIG_DIR, config))
    sd = {k: v for k, v in model.state_dict().items() if k.startswith('backbone.')}
    sd.update(head_state)
    torch.save({'state_dict': sd, 'meta': {'note': 'made by the tests'}}, path)
    return path


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp('released')
    official_checkpoint('umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',
                         random_state(official_layout('APFormerHead2')), d / 'umixformer-b0-ade.pth')
    (d / 'city').mkdir()  # files are found in sub-folders too
    official_checkpoint('umixformer/umixformer_mit-b0_1xb8-160k_cityscapes-1024x1024.py',
                         random_state(LAYOUT['APFormerHeadCity']), d / 'city' / 'b0-city-160k.pth')
    official_checkpoint('umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',
                         random_state(official_layout('APFormerHeadMulti', taps=2)), d / 'dagger-b0.pth')
    torch.save(build_segmentor(os.path.join(CONFIG_DIR, 'segformer/segformer_mit-b0_1xb16-160k_ade20k-512x512.py'))
               .state_dict(), d / 'segformer.pth')
    (d / 'notes.pth').write_text('not a checkpoint')
    return d


def test_evaluate_identifies_matches_and_evaluates(folder, tmp_path, capsys):
    runs = tmp_path / 'runs'
    rc = main(['evaluate', 'tiny', '--tables', TABLES, '--profile', 'tiny', '--checkpoints', str(folder),
               '--runs-dir', str(runs)])
    out = ' '.join(capsys.readouterr().out.split())
    assert rc == 0, out
    assert 'umixformer-b0-ade.pth: -> umix-b0 (APFormerHead2' in out
    assert 'b0-city-160k.pth: -> umix-b0-city (APFormerHeadCity' in out
    assert 'dagger-b0.pth: matches no row of tiny: head APFormerHeadMulti' in out
    assert 'segformer.pth: not identified' in out
    assert 'notes.pth: not a PyTorch checkpoint' in out and 'looks like a text or HTML file' in out
    recs = {r.dataset: r for r in Store(str(runs)).records()}
    assert set(recs) == {'ade20k', 'cityscapes'}
    for r in recs.values():
        assert r.stage == 'test' and r.status == 'done' and 0 <= r.metrics['miou'] <= 100
        assert r.settings['weights'] == 'released' and len(r.settings['sha256']) == 64
        assert r.key.endswith('-released-' + r.settings['sha256'][:12])
    # nothing was trained, and a report shows the released value beside the (missing) trained one
    assert main(['report', 'tiny', '--tables', TABLES, '--profile', 'tiny', '--runs-dir', str(runs),
                 '--format', 'csv,html']) == 0
    import pandas as pd
    df = pd.read_csv(runs / 'reports' / 'tiny' / 'tiny.csv')
    ade = df[df['row'] == 'umix-b0'].iloc[0]
    assert pd.isna(ade['miou']) and ade['miou_released'] == pytest.approx(recs['ade20k'].metrics['miou'])


def test_released_heads_keep_their_classes_under_the_smoke_profile(folder, tmp_path, capsys):
    """The smoke profile sizes trained heads to the built-in data's classes; a released
    checkpoint's head stays as published (150 ADE20K classes) and loads strictly."""
    runs = tmp_path / 'runs'
    rc = main(['evaluate', 'tiny', '--tables', TABLES, '--profile', 'smoke', '--checkpoints', str(folder),
               '--rows', 'umix-b0', '--runs-dir', str(runs)])
    out = ' '.join(capsys.readouterr().out.split())
    assert rc == 0, out
    (rec, ) = Store(str(runs)).records()
    assert rec.status == 'done' and rec.profile == 'smoke' and rec.settings['weights'] == 'released'
    # the Cityscapes file matches a row that --rows left out: named, with the flag that includes it
    assert ('b0-city-160k.pth: matches row umix-b0-city of tiny, which this command did not select '
            '(the profile\'s rows or --rows): add --rows umix-b0-city to evaluate it') in out


def test_two_files_for_one_row_are_ambiguous(folder, tmp_path, capsys):
    d = tmp_path / 'two'
    d.mkdir()
    shutil.copy(folder / 'umixformer-b0-ade.pth', d / 'a.pth')
    official_checkpoint('umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',
                         random_state(official_layout('APFormerHead2'), seed=3), d / 'b.pth', seed=3)
    rc = main(['evaluate', 'tiny', '--tables', TABLES, '--profile', 'tiny', '--checkpoints', str(d),
               '--runs-dir', str(tmp_path / 'runs'), '--rows', 'umix-b0'])
    out = ' '.join(capsys.readouterr().out.split())
    assert rc == 1 and 'ambiguous: a.pth, b.pth all match row umix-b0' in out
    assert not list(Store(str(tmp_path / 'runs')).records())


@pytest.mark.parametrize('row_id,widths', [('umixformer_mscan-t_ade20k', (32, 64, 160, 256)),
                                           ('umixformer_lvt_ade20k', (64, 64, 160, 256)),
                                           ('umixformer_mit-b2_ade20k', (64, 128, 320, 512))])
def test_signatures_of_other_encoders(row_id, widths):
    row = get_table('table1').row(row_id)
    cfg = load_base_config(row.config)
    model = build_segmentor(cfg)
    sd = {k: v for k, v in model.state_dict().items() if k.startswith('backbone.')}
    sd.update(random_state(official_layout('APFormerHead2', widths=widths, embed=cfg.model.decode_head.channels)))
    sig, head = checkpoint_signature(sd)
    assert head == 'APFormerHead2' and sig == row_signature(row, cfg)


def test_released_robustness_on_the_fly_writes_no_files(folder, tmp_path, capsys):
    """--cityscapes-c-source on-the-fly with a released checkpoint: no Cityscapes-C file is
    written (the full set is about 100 GB) and the record says one source throughout (the
    released mark once overwrote the source option, and the files were generated)."""
    runs = tmp_path / 'runs'
    rc = main(['evaluate', 'tiny_robust', '--tables', TABLES, '--profile', 'check', '--checkpoints',
               str(folder / 'city'), '--stages', 'robustness', '--cityscapes-c-source', 'on-the-fly',
               '--runs-dir', str(runs)])
    out = ' '.join(capsys.readouterr().out.split())
    assert rc == 0, out
    (rec, ) = Store(str(runs)).records()
    assert rec.stage == 'robustness' and rec.status == 'done' and rec.settings['weights'] == 'released'
    assert rec.settings['source'] == rec.metrics['source'] == 'on-the-fly'
    assert rec.artifacts['cityscapes_c'] is None
    assert sorted(os.listdir(runs / 'data')) == ['cityscapes']  # the built-in images only: no cityscapes-c-*
