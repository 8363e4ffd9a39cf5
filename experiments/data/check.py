"""Is a dataset root what the paper's numbers were computed on? Checked file by file.

    run-experiment data check ade20k|cityscapes [--root DIR]

Per split: image/label pairs (against the official counts), images without a label
(mmseg would fail on them), labels without an image, label images that are unreadable,
not single-channel or hold values outside the dataset's range (a wrong conversion:
Cityscapes ``labelIds`` instead of train ids, ADE20K's full release), and image/label
sizes that disagree. ``run`` and ``plan`` call it before any job. The result is cached,
keyed by the folder's file list (every file's path, size and modification time), so a
second check of an unchanged folder costs one directory walk.
"""
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from experiments.core.files import atomic_write
from experiments.data.datasets import LAYOUTS, DatasetRootError, check_root, generate_synthetic

CHECK_VERSION = 1
SHOWN = 3  # examples named per kind of problem
CACHE_ENTRIES = 32


@dataclass
class SplitCheck:
    split: str
    pairs: int
    expected: Optional[int]  # the official count, where the root should be the official data
    images_without_label: List[str] = field(default_factory=list)
    labels_without_image: List[str] = field(default_factory=list)
    bad_labels: List[str] = field(default_factory=list)  # 'file: why'
    size_mismatch: List[str] = field(default_factory=list)  # 'file: image HxW, label HxW'


@dataclass
class Verification:
    dataset: str
    root: str
    splits: List[SplitCheck]
    cached: bool = False
    seconds: float = 0.0

    def counts(self) -> Dict[str, int]:
        return {s.split: s.pairs for s in self.splits}

    def problems(self) -> List[str]:
        """What makes the root unusable: training or the metric would be wrong or fail."""
        out = []
        for s in self.splits:
            for what, items in (('image(s) without a label', s.images_without_label),
                                ('label image(s) with values outside the dataset\'s range or unreadable',
                                 s.bad_labels),
                                ('image(s) whose label has another size', s.size_mismatch)):
                if items:
                    out.append(f'{s.split}: {len(items)} {what}, e.g. {"; ".join(items[:SHOWN])}')
        return out

    def warnings(self) -> List[str]:
        out = []
        for s in self.splits:
            if s.expected is not None and s.pairs != s.expected:
                out.append(f'{s.split}: {s.pairs:,} image/label pairs, the official {self.dataset} has '
                           f'{s.expected:,}: numbers from this root are not the paper\'s setting')
            if s.labels_without_image:
                out.append(f'{s.split}: {len(s.labels_without_image)} label(s) without an image (not read), e.g. '
                           f'{"; ".join(s.labels_without_image[:SHOWN])}')
        return out

    def raise_for_problems(self, dataset: str, root: str) -> None:
        problems = self.problems()
        if problems:
            raise DatasetRootError(f'{dataset} root {root} cannot be used:\n  ' + '\n  '.join(problems) +
                                   f'\n(run-experiment data check {dataset} --root {root} prints the whole check)')


def label_range(dataset: str) -> Tuple[int, Tuple[int, ...]]:
    """(largest class value, extra allowed values) of a dataset's label images, from
    mmseg's class list: ADE20K 0 (other) .. 150; Cityscapes train ids 0 .. 18 and 255."""
    from mmseg.datasets import ADE20KDataset, CityscapesDataset
    if dataset == 'ade20k':
        return len(ADE20KDataset.METAINFO['classes']), ()
    return len(CityscapesDataset.METAINFO['classes']) - 1, (255, )


def walk(dataset: str, root: str) -> Tuple[str, Dict[str, Tuple[List[str], List[str]]]]:
    """One walk of the split folders: the fingerprint of their file list (every file's
    path, size and modification time) and, per split, the image and label stems."""
    layout = LAYOUTS[dataset]
    h = hashlib.sha1(f'{dataset} {CHECK_VERSION}\n'.encode())
    listing = {}
    for split, folders in layout.splits.items():
        stems = []
        for folder, suffix in zip(folders, (layout.img_suffix, layout.seg_suffix)):
            base, found = os.path.join(root, folder), []
            for d, dirs, files in os.walk(base):
                dirs.sort()
                rel_dir = os.path.relpath(d, base)
                for name in sorted(files):
                    st = os.stat(os.path.join(d, name))
                    rel = name if rel_dir == '.' else os.path.join(rel_dir, name)
                    h.update(f'{folder}/{rel}\0{st.st_size}\0{st.st_mtime_ns}\n'.encode())
                    if name.endswith(suffix):
                        found.append(rel[:-len(suffix)])
            stems.append(found)
        listing[split] = (stems[0], stems[1])
    return h.hexdigest(), listing


def _inspect(job: Tuple[str, str, str, int, Tuple[int, ...]]) -> Tuple[str, str]:
    """('bad' | 'size' | '', detail) for one image/label pair."""
    import cv2
    import numpy as np
    from PIL import Image
    image, label, stem, largest, extra = job
    seg = cv2.imread(label, cv2.IMREAD_UNCHANGED)
    if seg is None:
        return 'bad', f'{stem}: the label image cannot be read'
    if seg.ndim != 2:
        return 'bad', f'{stem}: the label has {seg.shape[2]} channels, not one class index per pixel'
    values = np.unique(seg)
    wrong = [int(v) for v in values if v > largest and int(v) not in extra]
    if wrong:
        return 'bad', f'{stem}: values {wrong[:5]} (allowed 0..{largest}{"".join(f", {e}" for e in extra)})'
    try:
        with Image.open(image) as im:
            w, h = im.size
    except OSError as err:
        return 'bad', f'{stem}: the image cannot be read ({err})'
    if (h, w) != seg.shape:
        return 'size', f'{stem}: image {h}x{w}, label {seg.shape[0]}x{seg.shape[1]}'
    return '', ''


def _scan(dataset: str, root: str, listing: Dict[str, Tuple[List[str], List[str]]], workers: int,
          expect_official: bool, progress: Optional[Callable[[str, int, int, str], None]]) -> List[SplitCheck]:
    layout = LAYOUTS[dataset]
    largest, extra = label_range(dataset)
    checks, jobs = [], []
    for split, (images, labels) in listing.items():
        img_dir, seg_dir = (os.path.join(root, d) for d in layout.splits[split])
        have = set(labels)
        check = SplitCheck(split, len(have.intersection(images)),
                           layout.official_counts.get(split) if expect_official else None,
                           images_without_label=[s + layout.img_suffix for s in images if s not in have])
        check.labels_without_image = [s + layout.seg_suffix for s in sorted(have - set(images))]
        checks.append(check)
        jobs += [(check, (os.path.join(img_dir, s + layout.img_suffix), os.path.join(seg_dir, s + layout.seg_suffix),
                          os.path.join(split, s), largest, extra)) for s in images if s in have]
    total = len(jobs)
    if workers > 1 and total > 256:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(workers) as pool:
            results = pool.map(_inspect, [j for _, j in jobs], chunksize=64)
            _collect(jobs, results, progress)
    else:
        _collect(jobs, map(_inspect, [j for _, j in jobs]), progress)
    return checks


def _collect(jobs, results, progress) -> None:
    for i, ((check, _), (kind, detail)) in enumerate(zip(jobs, results)):
        if kind == 'bad':
            check.bad_labels.append(detail)
        elif kind == 'size':
            check.size_mismatch.append(detail)
        if progress and (i % 200 == 0 or i + 1 == len(jobs)):
            progress('check', i + 1, len(jobs), 'image/label pairs')


def verify(dataset: str, root: str, cache_dir: Optional[str] = None, workers: int = 1,
           progress: Optional[Callable[[str, int, int, str], None]] = None,
           expect_official: bool = True) -> Verification:
    """Every image/label pair of ``root`` checked (or the cached check of the same
    file list). Raises DatasetRootError for a missing layout; the problems found
    in the files are in the result (``raise_for_problems``)."""
    t0 = time.monotonic()
    layout = LAYOUTS[dataset]
    if not all(os.path.isdir(os.path.join(root, d)) for split in layout.splits.values() for d in split):
        check_root(dataset, root, pairs=False)  # raises naming what is missing, with the expected layout
    key, listing = walk(dataset, root)
    if not all(images for images, _ in listing.values()):
        check_root(dataset, root, pairs=False)  # a split without images: the same error
    cache_path = os.path.join(cache_dir, 'data-check.json') if cache_dir else None
    cache = _read_cache(cache_path)
    hit = cache.get(key)
    if hit and hit.get('expect_official') == expect_official:
        splits = [SplitCheck(**s) for s in hit['splits']]
        return Verification(dataset, root, splits, cached=True, seconds=time.monotonic() - t0)
    splits = _scan(dataset, root, listing, workers, expect_official, progress)
    if cache_path:
        cache[key] = dict(expect_official=expect_official, splits=[asdict(s) for s in splits], at=time.time())
        _write_cache(cache_path, cache)
    return Verification(dataset, root, splits, cached=False, seconds=time.monotonic() - t0)


def _read_cache(path: Optional[str]) -> dict:
    if not path:
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(path: str, cache: dict) -> None:
    newest = sorted(cache.items(), key=lambda kv: kv[1].get('at', 0))[-CACHE_ENTRIES:]
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, json.dumps(dict(newest), indent=1))
    except OSError:  # a read-only store: checked again next time
        pass


def prepare_root(dataset: str, root: str, builtin: bool, cache_dir: Optional[str] = None,
                 workers: int = 1) -> Verification:
    """Before any job starts: generate the built-in data if that is the root, then
    check it file by file (raising DatasetRootError naming the problem and the
    expected layout). The official counts are expected of every root but the built-in one."""
    if builtin and not os.path.exists(os.path.join(root, '.umixformer-synthetic.json')):
        generate_synthetic(dataset, root)
    result = verify(dataset, root, cache_dir, workers, expect_official=not builtin)
    result.raise_for_problems(dataset, root)
    return result
