# Shared by the suite's U-MixFormer and FeedFormer configs: the plugin import and the
# settings every official U-MixFormer config adds to the SegFormer recipe (official-runs.md
# 1.1): seed 0 and find_unused_parameters (DDP). The optimisation recipe (AdamW 6e-5, head
# lr x10, no decay on norms, 1500-iter linear warm-up from 1e-6, poly decay to 0 at 160k)
# is SegFormer's, which the configs inherit from mmseg's SegFormer configs unchanged.
custom_imports = dict(imports=['umixformer'], allow_failed_imports=False)
randomness = dict(seed=0)
find_unused_parameters = True
