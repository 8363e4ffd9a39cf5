from .feedformer_head import FeedFormerHead
from .umixformer_head import UMixFormerHead

__all__ = ['FeedFormerHead', 'UMixFormerHead']
