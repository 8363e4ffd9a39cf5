"""A pinned, tested compatibility layer for ``imagecorruptions`` 1.1.2 on
current numpy / scikit-image / setuptools, and the paper's corruption set.

What breaks upstream (measured with numpy 2.4, scikit-image 0.26):
  * ``glass_blur`` and ``gaussian_blur`` call ``skimage.filters.gaussian(...,
    multichannel=True)``; scikit-image removed ``multichannel`` for
    ``channel_axis``;
  * ``fog`` allocates with ``np.float_``, removed in numpy 2;
  * the module imports ``pkg_resources`` (gone from setuptools >= 81) only for
    ``resource_filename`` (the frost images);
  * ``impulse_noise`` calls ``skimage.util.random_noise``, which draws from its
    own unseeded generator: it is given one seeded from numpy's global state,
    which ``corrupt`` seeds, so every corruption is deterministic for a seed.
And one speed fix: ``glass_blur``'s pixel loop is pure Python (58 s of the 65 s
that one 2048x1024 image takes through all 16 corruptions); it runs compiled
(numba), with the same random draws in the same order and the same result,
byte for byte (tests/test_corruptions.py).
The layer patches exactly these names inside the imagecorruptions module, not
numpy or scikit-image themselves.
"""
import importlib
import sys
import types
from typing import Dict, Tuple

import numpy as np

PINNED_VERSION = '1.1.2'
GROUPS: Dict[str, Tuple[str, ...]] = {
    'blur': ('motion_blur', 'defocus_blur', 'glass_blur', 'gaussian_blur'),
    'noise': ('gaussian_noise', 'impulse_noise', 'shot_noise', 'speckle_noise'),
    'digital': ('brightness', 'contrast', 'saturate', 'jpeg_compression'),
    'weather': ('snow', 'spatter', 'fog', 'frost'),
}
CORRUPTIONS = tuple(c for group in GROUPS.values() for c in group)
SEVERITIES = (1, 2, 3, 4, 5)
# the paper averages the noise group over the first three severities only
GROUP_SEVERITIES = {'noise': (1, 2, 3)}


def group_of(corruption: str) -> str:
    for group, members in GROUPS.items():
        if corruption in members:
            return group
    raise KeyError(f'unknown corruption {corruption!r}; known: {", ".join(CORRUPTIONS)}')


def _pkg_resources_shim() -> types.ModuleType:
    from importlib.resources import files
    mod = types.ModuleType('pkg_resources')
    mod.resource_filename = lambda package, name: str(files(package) / name)
    return mod


class _NumpyCompat(types.ModuleType):
    """numpy as the module saw it: everything forwarded, plus ``float_``."""

    float_ = np.float64

    def __getattr__(self, name):
        return getattr(np, name)


class _SkimageCompat(types.ModuleType):
    """skimage as the module saw it, with ``util.random_noise`` seeded."""

    def __getattr__(self, name):
        import skimage
        return getattr(skimage, name)

    @property
    def util(self):
        import skimage.util
        util = types.SimpleNamespace(**vars(skimage.util))

        def random_noise(image, **kwargs):
            kwargs.setdefault('rng', int(np.random.randint(0, 2**31 - 1)))
            return skimage.util.random_noise(image, **kwargs)

        util.random_noise = random_noise
        return util


def _gaussian(image, sigma=1, multichannel=None, **kwargs):
    from skimage.filters import gaussian
    if multichannel:
        kwargs['channel_axis'] = -1
    return gaussian(image, sigma=sigma, **kwargs)


_GLASS = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)]  # sigma, max_delta, iterations
_SHUFFLE = None


def _shuffle_kernel():
    """The compiled pixel loop (compiled once per machine: numba's cache)."""
    global _SHUFFLE
    if _SHUFFLE is None:
        import numba

        @numba.njit(cache=True, nogil=True)
        def shuffle(x, deltas, d):
            # imagecorruptions' tuple "swap" of numpy views copies (h', w') into
            # (h, w) and leaves (h', w') as it was: reproduced as written
            k = 0
            for h in range(x.shape[0] - d, d, -1):
                for w in range(x.shape[1] - d, d, -1):
                    hp, wp = h + deltas[k, 1], w + deltas[k, 0]
                    for ch in range(x.shape[2]):
                        x[h, w, ch] = x[hp, wp, ch]
                    k += 1
        _SHUFFLE = shuffle
    return _SHUFFLE


def _glass_blur(x, severity=1):
    """imagecorruptions 1.1.2 ``glass_blur`` with its pixel loop compiled."""
    sigma, delta, iterations = _GLASS[severity - 1]
    x = np.uint8(_gaussian(np.array(x) / 255., sigma=sigma, multichannel=True) * 255)
    shuffle = _shuffle_kernel()
    n = max(x.shape[0] - 2 * delta, 0) * max(x.shape[1] - 2 * delta, 0)
    for _ in range(iterations):
        # one draw of n pairs is the same stream as n draws of a pair (legacy
        # RandomState's bounded ints keep no buffer between calls)
        shuffle(x, np.random.randint(-delta, delta, size=(n, 2)), delta)
    return np.clip(_gaussian(x / 255., sigma=sigma, multichannel=True), 0, 1) * 255


_LOADED = None
upstream_glass_blur = None


def load() -> types.ModuleType:
    """Imports imagecorruptions with the fixes applied (once)."""
    global _LOADED
    if _LOADED is not None:
        return _LOADED
    from importlib.metadata import version
    found = version('imagecorruptions')
    if found != PINNED_VERSION:
        raise ImportError(f'imagecorruptions {found} is installed; this layer is written and tested for '
                          f'{PINNED_VERSION} (pip install imagecorruptions=={PINNED_VERSION})')
    try:
        importlib.import_module('pkg_resources')
    except ImportError:
        sys.modules['pkg_resources'] = _pkg_resources_shim()
    module = importlib.import_module('imagecorruptions.corruptions')
    module.gaussian = _gaussian
    module.np = _NumpyCompat('numpy')
    module.sk = _SkimageCompat('skimage')
    global upstream_glass_blur
    upstream_glass_blur = module.glass_blur  # kept: the reference of the equality test
    module.glass_blur = _glass_blur
    _LOADED = importlib.import_module('imagecorruptions')
    _LOADED.corruption_dict['glass_blur'] = _glass_blur
    return _LOADED


def corrupt(image: np.ndarray, corruption: str, severity: int, seed: int) -> np.ndarray:
    """One corruption of an RGB uint8 image (H, W, 3), deterministic for a seed
    (the upstream functions draw from numpy's global generator)."""
    if corruption not in CORRUPTIONS:
        raise KeyError(f'unknown corruption {corruption!r}; known: {", ".join(CORRUPTIONS)}')
    if severity not in SEVERITIES:
        raise ValueError(f'severity must be 1..5, got {severity}')
    ic = load()
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        out = ic.corrupt(image, corruption_name=corruption, severity=severity)
    finally:
        np.random.set_state(state)
    out = np.asarray(out)
    if out.shape[:2] != image.shape[:2]:  # a few upstream functions work on a resized copy
        import cv2
        out = cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0, 255).astype(np.uint8)


def aggregate(miou: Dict[Tuple[str, int], float]) -> Dict[str, Dict[str, float]]:
    """The paper's aggregation of {(corruption, severity): mIoU}: per corruption
    the mean over severities 1-5 (noise: 1-3), per group the mean of its
    corruptions, overall the mean of all corruptions."""
    per_corruption = {}
    for c in CORRUPTIONS:
        sevs = GROUP_SEVERITIES.get(group_of(c), SEVERITIES)
        missing = [s for s in sevs if (c, s) not in miou]
        if missing:
            raise KeyError(f'no result for {c} at severity {missing}')
        per_corruption[c] = sum(miou[c, s] for s in sevs) / len(sevs)
    per_group = {g: sum(per_corruption[c] for c in cs) / len(cs) for g, cs in GROUPS.items()}
    overall = sum(per_corruption.values()) / len(per_corruption)
    return {'corruption': per_corruption, 'group': per_group, 'overall': {'mean': overall}}
