from .block import MixAttentionBlock, MixFFN
from .kv_pool import KVPool
from .mix_attention import MixAttention

__all__ = ['KVPool', 'MixAttention', 'MixAttentionBlock', 'MixFFN']
