"""``CityscapesCCorruption``: Cityscapes-C on the fly, a test-pipeline transform (mmcv)."""
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from experiments.core.errors import UsageError
from experiments.data.cityscapes_c import corrupted
from experiments.data.corruptions import CORRUPTIONS, SEVERITIES


@TRANSFORMS.register_module()
class CityscapesCCorruption(BaseTransform):
    """Corrupts the image ``LoadImageFromFile`` loaded, exactly as
    ``experiments.data.cityscapes_c.generate`` writes it (same per-image seed from the
    image's path under ``leftImg8bit/val``, same protocol), so the pixels equal the files'.

    Args:
        corruption (str): one of ``corruptions.CORRUPTIONS``.
        severity (int): 1..5.
        seed (int): the generation seed (``generate``'s, default 0).
        protocol (str): ``segformer`` (RGB) or ``official-bgr``.
    """

    def __init__(self, corruption: str, severity: int, seed: int = 0, protocol: str = 'segformer'):
        if corruption not in CORRUPTIONS or severity not in SEVERITIES:  # refused when the pipeline is built
            raise UsageError(f'unknown corruption/severity {corruption!r}/{severity!r}')
        self.corruption, self.severity, self.seed, self.protocol = corruption, severity, seed, protocol

    def transform(self, results: dict) -> dict:
        results['img'] = corrupted(results['img'], results['img_path'], self.corruption, self.severity, self.seed,
                                   self.protocol)
        return results
