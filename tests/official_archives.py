"""Small archives with the official member names: ADEChallengeData2016.zip, and
Cityscapes' leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip, whose fine
annotations are polygon files in cityscapesscripts' JSON format (with the labelIds
and colour images the real archive carries, made by cityscapesscripts itself)."""
import io
import json
import os
import zipfile
from typing import Dict, List, Tuple

import cv2
import numpy as np

from experiments.data.datasets import synth_sample

ADE = 'ADEChallengeData2016/'
CITY_SIZE = (64, 128)  # (H, W)
# cityscapesscripts label names -> their train ids, as the conversion must give them
CITY_TRAIN_IDS = {'road': 0, 'building': 2, 'sky': 10, 'car': 13, 'person': 11}


def _png(array: np.ndarray) -> bytes:
    return cv2.imencode('.png', array)[1].tobytes()


def make_ade_zip(path: str, n_train: int = 3, n_val: int = 2, seed: int = 0,
                 extra: Dict[str, bytes] = None) -> str:
    """ADEChallengeData2016.zip's layout: images/*.jpg and annotations/*.png per split."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(ADE, b'')
        for split, prefix, n in (('training', 'ADE_train', n_train), ('validation', 'ADE_val', n_val)):
            for i in range(1, n + 1):
                img, label = synth_sample(rng, 'ade20k')
                stem = f'{prefix}_{i:08d}'
                zf.writestr(f'{ADE}images/{split}/{stem}.jpg', cv2.imencode('.jpg', img[..., ::-1])[1].tobytes())
                zf.writestr(f'{ADE}annotations/{split}/{stem}.png', _png(label))
        zf.writestr(f'{ADE}objectInfo150.txt', 'Idx\tRatio\tTrain\tVal\tName\n1\t0.1576\t11664\t1172\twall\n')
        zf.writestr(f'{ADE}sceneCategories.txt', 'ADE_train_00000001 airport_terminal\n')
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def city_polygons(rng: np.random.Generator) -> dict:
    """A street scene as Cityscapes annotates it: sky, building, road, a car and a person."""
    h, w = CITY_SIZE
    horizon, ground = int(h * rng.uniform(0.2, 0.35)), int(h * rng.uniform(0.55, 0.65))
    cx = int(rng.integers(20, w - 40))
    objects = [
        ('sky', [[0, 0], [w - 1, 0], [w - 1, horizon], [0, horizon]]),
        ('building', [[0, horizon], [w - 1, horizon], [w - 1, ground], [0, ground]]),
        ('road', [[0, ground], [w - 1, ground], [w - 1, h - 1], [0, h - 1]]),
        ('car', [[cx, ground - 8], [cx + 30, ground - 8], [cx + 30, ground + 6], [cx, ground + 6]]),
        ('person', [[cx - 12, ground - 14], [cx - 6, ground - 14], [cx - 6, ground + 4], [cx - 12, ground + 4]]),
    ]
    return {'imgHeight': h, 'imgWidth': w,
            'objects': [{'label': name, 'polygon': poly} for name, poly in objects]}


def _city_image(ann: dict, rng: np.random.Generator) -> np.ndarray:
    h, w = CITY_SIZE
    img = np.zeros((h, w, 3), np.uint8)
    colours = {'sky': (70, 130, 180), 'building': (70, 70, 70), 'road': (128, 64, 128), 'car': (0, 0, 142),
               'person': (220, 20, 60)}
    for obj in ann['objects']:
        cv2.fillPoly(img, [np.array(obj['polygon'], np.int32)], colours[obj['label']])
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def _cityscapes_label_images(ann: dict, tmp: str) -> Dict[str, bytes]:
    """labelIds and colour images, made from the polygons by cityscapesscripts as the real archive's were."""
    from cityscapesscripts.preparation.json2labelImg import json2labelImg
    src = os.path.join(tmp, 'ann.json')
    with open(src, 'w') as f:
        json.dump(ann, f)
    out = {}
    for encoding, suffix in (('ids', 'labelIds'), ('color', 'color')):
        dst = os.path.join(tmp, f'{suffix}.png')
        json2labelImg(src, dst, encoding)
        with open(dst, 'rb') as f:
            out[suffix] = f.read()
    return out


CITIES = {'train': ('aachen', 2), 'val': ('frankfurt', 2), 'test': ('berlin', 1)}


def make_cityscapes_zips(folder: str, seed: int = 0, gt_name: str = 'gtFine') -> Tuple[str, str]:
    """(leftImg8bit_trainvaltest.zip, gtFine_trainvaltest.zip) with CITIES' images.
    ``gt_name='gtCoarse'`` makes the coarse archive instead of the fine one."""
    import tempfile
    rng = np.random.default_rng(seed)
    left = os.path.join(folder, 'leftImg8bit_trainvaltest.zip')
    gt = os.path.join(folder, f'{gt_name}_trainvaltest.zip')
    with zipfile.ZipFile(left, 'w', zipfile.ZIP_STORED) as lz, zipfile.ZipFile(gt, 'w', zipfile.ZIP_DEFLATED) as gz, \
            tempfile.TemporaryDirectory() as tmp:
        for zf in (lz, gz):
            zf.writestr('README', 'The Cityscapes Dataset (made by the tests)\n')
            zf.writestr('license.txt', 'test data\n')
        for split, (city, n) in CITIES.items():
            for i in range(n):
                stem = f'{city}_{i:06d}_000019'
                ann = city_polygons(rng)
                lz.writestr(f'leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png', _png(_city_image(ann, rng)[..., ::-1]))
                base = f'{gt_name}/{split}/{city}/{stem}_{gt_name}'
                gz.writestr(base + '_polygons.json', json.dumps(ann, indent=1))
                for suffix, data in _cityscapes_label_images(ann, tmp).items():
                    gz.writestr(f'{base}_{suffix}.png', data)
    return left, gt


def members(path: str) -> List[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


def damage_member(path: str, suffix: str) -> str:
    """Flips bytes inside the stored data of the first member ending with ``suffix``
    (the central directory stays intact: zipfile finds it, the CRC check fails)."""
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(suffix))
    with open(path, 'r+b') as f:
        f.seek(info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size // 2)
        data = bytearray(f.read(8))
        f.seek(-len(data), io.SEEK_CUR)
        f.write(bytes(b ^ 0xFF for b in data))
    return info.filename


def rewrite_member(src: str, dst: str, suffix: str, change) -> str:
    """A copy of the zip ``src`` at ``dst`` whose first member ending with ``suffix`` is
    ``change(bytes) -> bytes``; returns that member's name."""
    changed = None
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if changed is None and info.filename.endswith(suffix):
                data, changed = change(data), info.filename
            zout.writestr(info, data)
    return changed


def declare_size(path: str, suffix: str, size: int) -> None:
    """Writes ``size`` as the uncompressed size of the first member ending with ``suffix``
    in both its headers (what a crafted archive declares; the data stays as it is)."""
    import struct
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(suffix))
    data = bytearray(open(path, 'rb').read())
    struct.pack_into('<I', data, info.header_offset + 22, size)  # local file header
    central = data.index(b'PK\x01\x02')
    while data[central + 46:central + 46 + len(info.filename)] != info.filename.encode():
        central = data.index(b'PK\x01\x02', central + 4)
    struct.pack_into('<I', data, central + 24, size)  # central directory entry
    open(path, 'wb').write(bytes(data))
