"""U-MixFormer models and tools as mmsegmentation 1.x plugins.

Importing the package registers every model in ``mmseg.registry.MODELS``; configs
reach it through ``custom_imports = dict(imports=['umixformer'])``. It also makes
mmengine read every checkpoint as data (``safe_load``: weights_only, no code run).
"""
from . import models  # noqa: F401  (registers the modules)
from .safe_load import install_mmengine_loader

install_mmengine_loader()

__version__ = '0.1.0'
