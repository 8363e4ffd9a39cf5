"""`run-experiment predict`: the image demo from a row's training or a released
checkpoint; its predictions equal the test stage's for the same images."""
import os
import shutil
import warnings

import cv2
import numpy as np
import pytest

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
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter('always')
        assert main(['predict', 'tiny', '--rows', 'umix-b0', *images, '--tables', TINY_TABLES, '--profile', 'tiny',
                     '--runs-dir', str(copy), '--data-root', f'ade20k={data}', '--out', str(out), '--device',
                     'cpu']) == 0
    said = ' '.join(capsys.readouterr().out.split())
    assert '2 image(s) through tiny/umix-b0 (seed 0 training) on cpu' in said
    # no chatter of the libraries: the visualizer's warning, the loader's line
    assert 'Loads checkpoint' not in said and not [w for w in warned if 'Visualizer' in str(w.message)], said
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


def test_bad_and_odd_images(tmp_path, capsys, monkeypatch):
    """A truncated JPEG is named as damaged and a 1x1 image refused, both before any model
    is built; an image over the name-placing size is predicted, its overlay without names."""
    from experiments.data.datasets import generate_synthetic
    from experiments.engine.compute import predict as engine_predict
    from test_released import official_checkpoint
    from test_heads_official import official_layout, random_state
    data = str(tmp_path / 'ade')
    generate_synthetic('ade20k', data, num_train=2, num_val=2)
    image = os.path.join(data, 'images', 'validation', 'ADE_val_00000000.jpg')
    cut, one, big = tmp_path / 'cut.jpg', tmp_path / 'one.png', tmp_path / 'big.jpg'
    raw = open(image, 'rb').read()
    cut.write_bytes(raw[:len(raw) // 2])
    assert cv2.imread(str(cut)) is not None  # OpenCV decodes it partly: the old check let it through
    cv2.imwrite(str(one), cv2.imread(image)[:1, :1])
    cv2.imwrite(str(big), cv2.resize(cv2.imread(image), (2100, 2100)))
    ckpt = official_checkpoint('umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',
                                random_state(official_layout('APFormerHead2')), tmp_path / 'released.pth')
    args = ['--tables', TINY_TABLES, '--profile', 'tiny', '--runs-dir', str(tmp_path / 'runs'),
            '--data-root', f'ade20k={data}', '--device', 'cpu', '--checkpoint', str(ckpt)]
    real_build = engine_predict.build
    monkeypatch.setattr(engine_predict, 'build', lambda *a: pytest.fail('a model was built for a bad image'))
    for path, said in ((cut, 'is damaged or not an image (image file is truncated'),
                       (one, 'is 1x1 pixels; predict takes images of at least 2x2')):
        assert main(['predict', 'tiny', '--rows', 'umix-b0', str(path)] + args) == 2
        out = ' '.join(capsys.readouterr().out.split())
        assert said in out and 'Traceback' not in out
    monkeypatch.setattr(engine_predict, 'build', real_build)
    assert main(['predict', 'tiny', '--rows', 'umix-b0', str(big)] + args) == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert 'big.png (without class names: over 4.2 megapixels' in out
    classes = cv2.imread(str(tmp_path / 'runs' / 'predictions' / 'tiny' / 'umix-b0' / 'big.classes.png'),
                         cv2.IMREAD_UNCHANGED)
    assert classes.shape == (2100, 2100)


@pytest.mark.parametrize('flip', [None, 'horizontal', 'vertical'])
def test_class_chunked_postprocess_equals_mmsegs(flip):
    """The resize to the original size a few classes at a time gives mmseg's class map bit
    for bit (padding removed, flips undone), without the full-size logits of every class."""
    import torch
    from mmseg.structures import SegDataSample
    from experiments.engine.compute.predict import class_chunked_postprocess
    from experiments.planning.configs import load_base_config
    from umixformer.complexity import build_segmentor
    from conftest import CONFIG_DIR
    cfg = load_base_config(os.path.join(CONFIG_DIR, 'umixformer', 'umixformer_mit-b0_1xb16-160k_ade20k-512x512.py'))
    model = build_segmentor(cfg)
    logits = torch.randn(1, 150, 40, 56, generator=torch.Generator().manual_seed(0))
    logits[0, 7] = logits[0, 90]  # ties: the lower class, as argmax

    def sample():
        meta = dict(ori_shape=(301, 411), padding_size=[0, 5, 0, 3], img_shape=(37, 51))
        if flip:
            meta.update(flip=True, flip_direction=flip)
        return SegDataSample(metainfo=meta)
    expected = model.postprocess_result(logits, [sample()])[0].pred_sem_seg.data
    got = class_chunked_postprocess(model).postprocess_result(logits, [sample()])[0]
    assert torch.equal(got.pred_sem_seg.data, expected) and 'seg_logits' not in got


def test_weights_of_another_row_are_named_not_a_traceback(tiny_trained, tmp_path, capsys):
    """ADE20K weights for a Cityscapes row, and a partial state dict: one line each with the
    counts and the row the file fits (export: the same), nothing predicted."""
    import torch
    runs, data = tiny_trained
    train = next(r for r in Store(str(runs)).records() if r.stage == 'train')
    ade = Store(str(runs)).abs(train.artifacts['checkpoint'])
    image = os.path.join(data, 'images', 'validation', choose('ade20k', data, 1, 0)[0])
    args = ['--tables', TINY_TABLES, '--profile', 'tiny', '--runs-dir', str(tmp_path / 'runs'), '--data-root',
            f'ade20k={data}', '--device', 'cpu']
    capsys.readouterr()
    assert main(['predict', 'tiny', '--rows', 'umix-b0-city', image, '--checkpoint', ade] + args) == 2
    said = ' '.join(capsys.readouterr().out.split())
    assert f'{ade} does not fit tiny/umix-b0-city' in said and 'of another shape (e.g. decode_head.conv_seg' in said
    assert 'it fits tiny/umix-b0: use that row (--rows umix-b0)' in said and 'Traceback' not in said, said
    assert not (tmp_path / 'runs' / 'predictions').exists()
    partial = tmp_path / 'partial.pth'
    full = torch.load(ade, weights_only=False)['state_dict']
    torch.save({'state_dict': {k: v for k, v in full.items() if not k.startswith('decode_head.')}}, partial)
    assert main(['export', 'tiny', '--rows', 'umix-b0', '--checkpoint', str(partial)] + args[:-2]) == 2
    said = ' '.join(capsys.readouterr().out.split())
    assert f'{partial} does not fit tiny/umix-b0' in said and 'missing' in said and 'it fits no row' in said, said
