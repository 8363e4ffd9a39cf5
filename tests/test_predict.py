"""`run-experiment predict`: the image demo from a row's training or a released
checkpoint; its predictions equal the test stage's for the same images."""
import os
import shutil

import cv2
import numpy as np

from conftest import TINY_TABLES
from experiments.cli import main
from experiments.data.samples import choose, prediction_name
from experiments.store import Store


def test_predict_equals_the_test_stage_and_draws_overlays(tiny_trained, tmp_path, capsys):
    runs, data = tiny_trained
    copy = tmp_path / 'runs'
    shutil.copytree(runs, copy)
    images = [os.path.join(data, 'images', 'validation', i) for i in choose('ade20k', data, 4, 0)[:2]]
    out = tmp_path / 'overlays'
    assert main(['predict', 'tiny', '--rows', 'umix-b0', *images, '--tables', TINY_TABLES, '--profile', 'tiny',
                 '--runs-dir', str(copy), '--data-root', f'ade20k={data}', '--out', str(out), '--device', 'cpu']) == 0
    said = ' '.join(capsys.readouterr().out.split())
    assert '2 image(s) through tiny/umix-b0 (seed 0 training) on cpu' in said
    test = next(r for r in Store(str(copy)).records() if r.stage == 'test')
    for path in images:
        stem = os.path.splitext(os.path.basename(path))[0]
        overlay = cv2.imread(str(out / f'{stem}.png'))
        image = cv2.imread(path)
        assert overlay.shape == image.shape and not np.array_equal(overlay, image)
        mine = cv2.imread(str(out / f'{stem}.classes.png'), cv2.IMREAD_UNCHANGED)
        kept = cv2.imread(os.path.join(copy, test.artifacts['predictions'],
                                       prediction_name(os.path.basename(path))), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(mine, kept)  # the same pipeline and weights as the test stage


def test_predict_with_a_released_checkpoint(tmp_path, capsys):
    from test_released import official_checkpoint
    from test_heads_official import official_layout, random_state
    from experiments.data.datasets import generate_synthetic
    data = str(tmp_path / 'ade')
    generate_synthetic('ade20k', data, num_train=2, num_val=2)
    ckpt = official_checkpoint('umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',
                                random_state(official_layout('APFormerHead2')), tmp_path / 'released.pth')
    image = os.path.join(data, 'images', 'validation', 'ADE_val_00000000.jpg')
    args = ['--tables', TINY_TABLES, '--profile', 'tiny', '--runs-dir', str(tmp_path / 'runs'),
            '--data-root', f'ade20k={data}', '--device', 'cpu']
    assert main(['predict', 'tiny', '--rows', 'umix-b0', image, '--checkpoint', str(ckpt)] + args) == 0
    out = tmp_path / 'runs' / 'predictions' / 'tiny' / 'umix-b0'
    classes = cv2.imread(str(out / 'ADE_val_00000000.classes.png'), cv2.IMREAD_UNCHANGED)
    assert classes.shape == cv2.imread(image).shape[:2] and classes.max() < 150
    # no training and no checkpoint: said, with what to do
    assert main(['predict', 'tiny', '--rows', 'umix-b0', image] + args) == 2
    assert 'has no finished training' in ' '.join(capsys.readouterr().out.split())
