# Shared by the suite's own configs: the plugin import and the seed. The
# optimisation recipe (AdamW 6e-5, head lr x10, no decay on norms, 1500-iter
# linear warm-up from 1e-6, poly decay to 0 at 160k) is SegFormer's, which the
# configs inherit from mmseg's SegFormer configs unchanged.
custom_imports = dict(imports=['umixformer'], allow_failed_imports=False)
randomness = dict(seed=0)
