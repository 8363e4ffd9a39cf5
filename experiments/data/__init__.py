"""Datasets: roots and layouts, the built-in data (``datasets``), preparation from the
downloaded archives (``prepare``, ``archives``), file-by-file checks (``check``),
evaluation pipelines (``pipelines``), corruptions and Cityscapes-C (``corruptions``,
``cityscapes_c``), the validation images kept as pictures (``samples``)."""
