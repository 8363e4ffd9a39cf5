"""Dataset roots: where they are, whether they have the layout mmseg reads, and
the built-in synthetic datasets in the exact ADE20K and Cityscapes layouts."""
import functools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from experiments.core.errors import SuiteError
from experiments.core.files import atomic_write, current_umask

ENV_ROOT = {'ade20k': 'UMIX_ADE20K_ROOT', 'cityscapes': 'UMIX_CITYSCAPES_ROOT'}
# mmseg's default roots (relative to the working directory), as in its configs
MMSEG_DEFAULT_ROOT = {'ade20k': 'data/ade/ADEChallengeData2016', 'cityscapes': 'data/cityscapes/'}


@dataclass(frozen=True)
class Layout:
    """What mmseg's dataset class reads under a root."""
    splits: Dict[str, Tuple[str, str]]  # split -> (image dir, label dir)
    img_suffix: str
    seg_suffix: str
    description: str
    official_counts: Dict[str, int]  # image/label pairs per split of the official release


LAYOUTS = {
    'ade20k': Layout(
        splits={'train': ('images/training', 'annotations/training'),
                'val': ('images/validation', 'annotations/validation')},
        img_suffix='.jpg', seg_suffix='.png',
        description=('ADEChallengeData2016/\n  images/{training,validation}/*.jpg\n'
                     '  annotations/{training,validation}/*.png  (0 = other, 1..150 = classes)'),
        official_counts={'train': 20210, 'val': 2000}),
    'cityscapes': Layout(
        splits={'train': ('leftImg8bit/train', 'gtFine/train'),
                'val': ('leftImg8bit/val', 'gtFine/val')},
        img_suffix='_leftImg8bit.png', seg_suffix='_gtFine_labelTrainIds.png',
        description=('cityscapes/\n  leftImg8bit/{train,val}/<city>/*_leftImg8bit.png\n'
                     '  gtFine/{train,val}/<city>/*_gtFine_labelTrainIds.png  (train ids 0..18, 255 = ignore;\n'
                     '  made from gtFine_trainvaltest.zip by `run-experiment data prepare cityscapes`)'),
        official_counts={'train': 2975, 'val': 500}),
}


class DatasetRootError(SuiteError, FileNotFoundError):
    """A dataset root is missing or does not have the expected layout."""


def files_with_suffix(path: str, suffix: str) -> List[str]:
    """The files under ``path`` ending in ``suffix``, relative to it."""
    out = []
    for dirpath, _, files in os.walk(path):
        out += [os.path.relpath(os.path.join(dirpath, f), path) for f in files if f.endswith(suffix)]
    return out


def check_root(dataset: str, root: str, splits=('train', 'val'), pairs: bool = True) -> Dict[str, int]:
    """Raises DatasetRootError naming what is missing; returns images per split.
    ``pairs=False``: the folders and images only (``data_check`` counts the pairs)."""
    layout = LAYOUTS[dataset]
    hint = (f'expected layout:\n{layout.description}\nSet it with --data-root {dataset}=PATH or '
            f'${ENV_ROOT[dataset]}; make it from the downloaded archives with `run-experiment data prepare '
            f'{dataset} ARCHIVE... --root PATH`.')
    if not os.path.isdir(root):
        raise DatasetRootError(f'{dataset} root {root!r} does not exist; {hint}')
    counts = {}
    for split in splits:
        img_dir, seg_dir = (os.path.join(root, d) for d in layout.splits[split])
        for d in (img_dir, seg_dir):
            if not os.path.isdir(d):
                raise DatasetRootError(f'{dataset} root {root!r}: missing folder {d}; {hint}')
        imgs = files_with_suffix(img_dir, layout.img_suffix)
        if not imgs:
            raise DatasetRootError(f'{dataset} root {root!r}: no *{layout.img_suffix} in {img_dir}; {hint}')
        missing = []
        if pairs:
            segs = set(files_with_suffix(seg_dir, layout.seg_suffix))
            missing = [i for i in imgs if i[:-len(layout.img_suffix)] + layout.seg_suffix not in segs]
        if missing:
            raise DatasetRootError(f'{dataset} root {root!r}: {len(missing)} image(s) in {img_dir} have no '
                                   f'label in {seg_dir}, e.g. {missing[0]}; {hint}')
        counts[split] = len(imgs)
    return counts


# --------------------------------------------------------------- synthetic data
# Class sets of the built-in data, as label values of each layout: ADE20K
# (1-based, 0 = other) wall, building, sky, floor, tree, road, person, car;
# Cityscapes train ids road, building, vegetation, sky, person, car.
SYNTH_CLASSES = {'ade20k': (1, 2, 3, 4, 5, 7, 13, 21), 'cityscapes': (0, 2, 8, 10, 11, 13)}
SYNTH_IGNORE = {'ade20k': 0, 'cityscapes': 255}
SYNTH_SIZE = {'ade20k': (192, 256), 'cityscapes': (256, 512)}  # (H, W)
SYNTH_VERSION = 1


def builtin_num_classes(dataset: str) -> int:
    """How many classes a classifier needs for the built-in data's labels: the
    largest label value it holds after mmseg's loading, plus one (ADE20K's
    ``reduce_zero_label`` moves class k to k - 1)."""
    largest = max(SYNTH_CLASSES[dataset])
    return largest if dataset == 'ade20k' else largest + 1


@functools.lru_cache(maxsize=None)
def _pattern(cls_index: int, h: int, w: int) -> np.ndarray:
    """A class's noiseless look: its own colour and stripe orientation/frequency (float32,
    read-only; the same for every image, so computed once per process)."""
    hue = np.array([(37 * cls_index) % 180, 160 + 11 * (cls_index % 5), 150 + 13 * (cls_index % 7)],
                   dtype=np.uint8)
    import cv2
    color = cv2.cvtColor(hue[None, None], cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = np.pi * cls_index / len(SYNTH_CLASSES['ade20k'])
    freq = 0.15 + 0.1 * (cls_index % 3)
    stripes = np.sin(freq * (xx * np.cos(angle) + yy * np.sin(angle)))[..., None]
    out = color + 35.0 * stripes
    out.flags.writeable = False
    return out


def _texture(rng: np.random.Generator, cls_index: int, sel: np.ndarray) -> np.ndarray:
    """The class's look plus noise at the pixels ``sel``; the whole image's noise is drawn
    (the generator's stream, and so every later image, does not depend on ``sel``)."""
    h, w = sel.shape
    noise = rng.normal(0, 12, (h, w, 3))
    return np.clip(_pattern(cls_index, h, w)[sel] + noise[sel], 0, 255)


def synth_sample(rng: np.random.Generator, dataset: str) -> Tuple[np.ndarray, np.ndarray]:
    import cv2
    classes = SYNTH_CLASSES[dataset]
    h, w = SYNTH_SIZE[dataset]
    label = np.zeros((h, w), np.uint8)
    if dataset == 'cityscapes':  # street-like: sky over buildings over road
        k_sky, k_bld, k_road = 3, 1, 0
        horizon, ground = int(h * rng.uniform(0.25, 0.4)), int(h * rng.uniform(0.55, 0.7))
        label[:] = classes[k_road]
        label[:ground] = classes[k_bld]
        label[:horizon] = classes[k_sky]
        objects = (2, 4, 5)  # vegetation, person, car
    else:
        label[:] = classes[rng.integers(0, 4)]  # a large 'stuff' background
        objects = tuple(range(len(classes)))
    for _ in range(rng.integers(2, 5)):
        k = int(rng.choice(objects))
        mask = np.zeros((h, w), np.uint8)
        cy, cx = int(rng.integers(h // 6, h - h // 6)), int(rng.integers(w // 8, w - w // 8))
        ry, rx = int(rng.integers(h // 10, h // 4)), int(rng.integers(w // 12, w // 5))
        shape = rng.integers(0, 3)
        if shape == 0:
            cv2.rectangle(mask, (cx - rx, cy - ry), (cx + rx, cy + ry), 1, -1)
        elif shape == 1:
            cv2.ellipse(mask, (cx, cy), (rx, ry), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        else:
            pts = np.array([[cx, cy - ry], [cx - rx, cy + ry], [cx + rx, cy + ry]], np.int32)
            cv2.fillPoly(mask, [pts], 1)
        label[mask > 0] = classes[k]
    img = np.zeros((h, w, 3), np.float32)
    for k, value in enumerate(classes):
        sel = label == value
        if sel.any():
            img[sel] = _texture(rng, k, sel)
    # a thin unlabeled band, as real annotations have (ignored by the metric)
    label[:, :2] = SYNTH_IGNORE[dataset]
    img = cv2.GaussianBlur(img, (3, 3), 0)
    return img.astype(np.uint8), label


def _same_marker(marker: str, params: dict) -> bool:
    try:
        with open(marker) as f:
            return json.load(f) == params
    except (OSError, ValueError):
        return False


def synthetic_params(dataset: str, num_train: int = 96, num_val: int = 24, seed: int = 0) -> dict:
    return dict(dataset=dataset, num_train=num_train, num_val=num_val, seed=seed, version=SYNTH_VERSION)


def builtin_identity(params: dict) -> str:
    """The identity of a built-in dataset, known before it is generated."""
    return f'{params["dataset"]}:builtin:' + json.dumps(params, sort_keys=True)


def dataset_identity(dataset: str, root: str, cache_dir: Optional[str] = None) -> str:
    """What a result depends on of its dataset: the name plus a fingerprint of the
    files (relative paths and sizes of every image and label of every split), not
    where it lives, so a moved, symlinked or remounted copy keeps its identity.
    The built-in data is identified by its generation parameters. The walk is done
    once per root and cached in ``cache_dir`` (keyed by the real path and the split
    folders' modification times). An unreadable root gives 'unavailable'."""
    import hashlib
    marker = os.path.join(root, '.umixformer-synthetic.json')
    if os.path.exists(marker):
        with open(marker) as f:
            return builtin_identity(json.load(f))
    layout = LAYOUTS[dataset]
    real = os.path.realpath(root)
    dirs = [os.path.join(real, d) for split in layout.splits.values() for d in split]
    if not all(os.path.isdir(d) for d in dirs):
        return f'{dataset}:unavailable'
    stamp = [os.stat(d).st_mtime_ns for d in dirs]
    cache = os.path.join(cache_dir, 'datasets.json') if cache_dir else None
    known = {}
    if cache and os.path.exists(cache):
        try:
            with open(cache) as f:
                known = json.load(f)
        except (OSError, ValueError):
            known = {}
    entry = known.get(real)
    if entry and entry.get('stamp') == stamp:
        return entry['identity']
    h = hashlib.sha1()
    for d in dirs:
        for dirpath, dirnames, files in os.walk(d):
            dirnames.sort()
            for name in sorted(files):
                path = os.path.join(dirpath, name)
                h.update(f'{os.path.relpath(path, real)}\0{os.path.getsize(path)}\n'.encode())
    identity = f'{dataset}:{h.hexdigest()[:16]}'
    if cache:
        known[real] = dict(stamp=stamp, identity=identity)
        try:
            atomic_write(cache, json.dumps(known, indent=1, sort_keys=True))
        except OSError:  # a read-only store (status, plan of a shared one): recomputed next time
            pass
    return identity


def generate_synthetic(dataset: str, root: str, num_train: int = 96, num_val: int = 24,
                       seed: int = 0) -> str:
    """Writes the built-in dataset once (atomically: a temp folder renamed into
    place); a second call with the same parameters does nothing."""
    import cv2
    params = synthetic_params(dataset, num_train, num_val, seed)
    marker = os.path.join(root, '.umixformer-synthetic.json')
    if os.path.exists(marker):
        with open(marker) as f:
            if json.load(f) == params:
                return root
        raise FileExistsError(f'{root} holds a built-in dataset made with other parameters; '
                              'remove it or choose another folder')
    if os.path.exists(root) and os.listdir(root):
        raise FileExistsError(f'{root} exists and is not a built-in dataset; refusing to write into it')
    layout = LAYOUTS[dataset]
    parent = os.path.dirname(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix='.synthetic-')
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700: a shared store stays readable
    try:
        rng = np.random.default_rng(seed)
        for split, count in (('train', num_train), ('val', num_val)):
            img_dir, seg_dir = (os.path.join(tmp, d) for d in layout.splits[split])
            if dataset == 'cityscapes':  # one city folder per split
                city = 'synthtown' if split == 'train' else 'synthville'
                img_dir, seg_dir = os.path.join(img_dir, city), os.path.join(seg_dir, city)
            os.makedirs(img_dir)
            os.makedirs(seg_dir)
            for i in range(count):
                img, label = synth_sample(rng, dataset)
                stem = (f'ADE_{"train" if split == "train" else "val"}_{i:08d}' if dataset == 'ade20k'
                        else f'{city}_{i:06d}_000019')
                cv2.imwrite(os.path.join(img_dir, stem + layout.img_suffix), img[..., ::-1])
                cv2.imwrite(os.path.join(seg_dir, stem + layout.seg_suffix), label)
        with open(os.path.join(tmp, os.path.basename(marker)), 'w') as f:
            json.dump(params, f)
        try:
            if os.path.exists(root):
                os.rmdir(root)  # empty, checked above
            os.replace(tmp, root)
        except OSError:
            # another process generated it first (concurrent runs on one store)
            if _same_marker(marker, params):
                return root
            raise
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return root


def resolve_root_path(dataset: str, overrides: Optional[Dict[str, str]] = None,
                      builtin_dir: Optional[str] = None) -> str:
    """--data-root flag, then $UMIX_<DATASET>_ROOT, then the built-in data folder
    (when ``builtin_dir`` is given: the smoke profile), then mmseg's default.
    Nothing is generated or checked here (see ``prepare_root``)."""
    if overrides and dataset in overrides:
        return os.path.abspath(overrides[dataset])
    if os.environ.get(ENV_ROOT[dataset]):
        return os.path.abspath(os.environ[ENV_ROOT[dataset]])
    if builtin_dir is not None:
        return os.path.join(builtin_dir, dataset)
    return os.path.abspath(MMSEG_DEFAULT_ROOT[dataset])
