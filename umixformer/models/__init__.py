from . import backbones, decode_heads  # noqa: F401
