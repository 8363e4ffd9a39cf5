"""Cityscapes-C: every corruption at every severity, determinism, layout,
resumability, and the paper's aggregation rule."""
import os

import cv2
import numpy as np
import pytest

from experiments.data.cityscapes_c import generate, root_for
from experiments.data.corruptions import CORRUPTIONS, GROUPS, SEVERITIES, aggregate, corrupt
from experiments.data.datasets import check_root


@pytest.fixture(scope='module')
def city_root(tmp_path_factory, builtin_data_once):
    return builtin_data_once('cityscapes', str(tmp_path_factory.mktemp('data') / 'cityscapes'))


@pytest.fixture(scope='module')
def image(city_root):
    path = os.path.join(city_root, 'leftImg8bit/val/synthville/synthville_000000_000019_leftImg8bit.png')
    img = cv2.imread(path)[..., ::-1]
    return np.ascontiguousarray(cv2.resize(img, (256, 128)))  # glass blur is slow at full size


def test_the_papers_sixteen_corruptions():
    assert len(CORRUPTIONS) == 16 and set(GROUPS) == {'blur', 'noise', 'digital', 'weather'}
    assert {'glass_blur', 'gaussian_blur', 'fog'} <= set(CORRUPTIONS)  # broken upstream, fixed here


@pytest.mark.parametrize('corruption', CORRUPTIONS)
def test_every_severity_valid_and_deterministic(image, corruption):
    previous = None
    for severity in SEVERITIES:
        out = corrupt(image, corruption, severity, seed=7)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert not np.array_equal(out, image), f'{corruption}/{severity} changed nothing'
        assert np.array_equal(out, corrupt(image, corruption, severity, seed=7))
        if previous is not None and corruption not in ('brightness', 'saturate', 'jpeg_compression'):
            # stronger severities move further from the clean image
            assert np.abs(out.astype(int) - image).mean() >= 0.5 * np.abs(previous.astype(int) - image).mean()
        previous = out


def test_generation_layout_and_resume(city_root, tmp_path):
    out = str(tmp_path / 'cityscapes-c')
    stats = generate(city_root, out, corruptions=['fog', 'shot_noise'], severities=[1, 5], workers=2,
                     max_images=3)
    assert stats['written'] == 2 * 2 * 3
    root = root_for(out, 'fog', 5)
    assert check_root('cityscapes', root, splits=('val', )) == {'val': 3}
    assert os.path.islink(os.path.join(root, 'gtFine'))
    again = generate(city_root, out, corruptions=['fog', 'shot_noise'], severities=[1, 5], max_images=3)
    assert again['written'] == 0  # resumable: nothing to redo
    assert not [f for d, _, fs in os.walk(out) for f in fs if '.part' in f]


def test_aggregation_rule_on_hand_made_numbers():
    # noise corruptions: severities 1-3 worth 30, 4-5 worth 0 -> mean 30 (not 18)
    # every other corruption: severity s worth 10*s -> mean 30
    miou = {}
    for c in CORRUPTIONS:
        for s in SEVERITIES:
            miou[c, s] = (30.0 if s <= 3 else 0.0) if c in GROUPS['noise'] else 10.0 * s
    miou['fog', 1] = 60.0  # fog: (60+20+30+40+50)/5 = 40
    agg = aggregate(miou)
    assert agg['corruption']['shot_noise'] == pytest.approx(30.0)
    assert agg['corruption']['fog'] == pytest.approx(40.0)
    assert agg['group']['noise'] == pytest.approx(30.0)
    assert agg['group']['weather'] == pytest.approx((30 + 30 + 40 + 30) / 4)
    assert agg['overall']['mean'] == pytest.approx((15 * 30 + 40) / 16)
    del miou['snow', 5]
    with pytest.raises(KeyError, match='snow'):
        aggregate(miou)


@pytest.mark.parametrize('dataset', ['ade20k', 'cityscapes'])
def test_compiled_glass_blur_equals_upstream(dataset):
    """Same seed, same pixels as imagecorruptions 1.1.2's Python loop, at every
    severity, on a built-in sample image of each dataset (192x256, 256x512)."""
    from PIL import Image

    from experiments.data import corruptions
    from experiments.data.datasets import synth_sample
    img, _ = synth_sample(np.random.default_rng(3), dataset)
    corruptions.load()
    for severity in SEVERITIES:
        np.random.seed(100 + severity)
        want = corruptions.upstream_glass_blur(Image.fromarray(img), severity)
        after_upstream = np.random.get_state()[1].copy()
        np.random.seed(100 + severity)
        got = corruptions._glass_blur(Image.fromarray(img), severity)
        assert np.array_equal(got, want), (dataset, severity)
        assert np.array_equal(np.random.get_state()[1], after_upstream)  # same draws consumed


@pytest.mark.parametrize('protocol', ['segformer', 'official-bgr'])
def test_on_the_fly_transform_equals_generated_files(city_root, tmp_path, protocol):
    """CityscapesCCorruption in the test pipeline gives the generated files' pixels."""
    from mmcv.transforms import LoadImageFromFile

    from experiments.data.cityscapes_c import val_images
    from experiments.engine.plugins.corruption import CityscapesCCorruption
    out = str(tmp_path / 'cc')
    pairs = [('glass_blur', 2), ('frost', 5), ('shot_noise', 1)]
    for c, s in pairs:
        generate(city_root, out, corruptions=[c], severities=[s], max_images=2, protocol=protocol)
    load = LoadImageFromFile()
    for rel in val_images(city_root)[:2]:
        clean = os.path.join(city_root, 'leftImg8bit', 'val', rel)
        for c, s in pairs:
            fly = CityscapesCCorruption(c, s, protocol=protocol)(load({'img_path': clean}))['img']
            disk = load({'img_path': os.path.join(root_for(out, c, s), 'leftImg8bit', 'val', rel)})['img']
            assert np.array_equal(fly, disk), (rel, c, s)
