"""U-MixFormer models and tools as mmsegmentation 1.x plugins.

Importing the package registers every model in ``mmseg.registry.MODELS``; configs
reach it through ``custom_imports = dict(imports=['umixformer'])``.
"""
from . import models  # noqa: F401  (registers the modules)

__version__ = '0.1.0'
