from .lvt import LVT
from .mit_taps import MixVisionTransformerTaps

__all__ = ['LVT', 'MixVisionTransformerTaps']
