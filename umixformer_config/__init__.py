"""The torch-free half of the model library: reading a config (``configs``), the paper's
input sizes (``input_size``) and the errors of both.

``umixformer`` registers its models when imported (configs name it in ``custom_imports``),
which loads torch and mmseg; what only reads configs (the suite's planning, ``status``,
``report`` on a cluster's login node) imports this package instead and no model code."""
