"""What a planning call is asked, typed: the selection (table, rows, stages, seeds,
profile), where the data, weights and results are, and how latency and robustness are
measured. The CLI builds one from its arguments; tests and tools build one directly."""
from dataclasses import dataclass, field, replace
from typing import Mapping, Optional, Tuple

ROBUSTNESS_SOURCES = ('files', 'on-the-fly')


@dataclass(frozen=True)
class LatencyOptions:
    precision: str = 'fp32'
    optimize: bool = False  # fused attention, projected-first fuse, channels-last if faster (same function)
    channels_last: bool = False
    compile: bool = False
    protocol: str = 'mmseg-benchmark'  # or 'single-image', 'onnxruntime' (experiments/engine/latency.py)

    device: str = ''  # declared with --latency-device (e.g. a100): checked on the node before timing

    def suffix(self) -> str:
        proto = {'mmseg-benchmark': 'bench', 'single-image': 'single', 'onnxruntime': 'ort'}[self.protocol]
        return '-'.join(([self.device] if self.device else []) + [proto, self.precision] + [
            n for n, on in (('opt', self.optimize), ('cl', self.channels_last), ('compile', self.compile)) if on])


@dataclass(frozen=True)
class PlanOptions:
    """One planning request.

    Args:
        table: The table's name.
        rows, stages, seeds: A subset (None: the rows', or the profile's row selection).
        profile: paper, smoke or tiny (``experiments.registry.profiles``).
        runs_dir: The results store.
        data_roots: Dataset -> root, where given (else the environment's or mmseg's default).
        tables: Extra folders of table files.
        weights_dir: Pretrained encoder weights (default: under the runs folder).
        latency: How the latency stage times.
        robustness_protocol, robustness_source: How Cityscapes-C is made and read.
        train_compile: A torch.compile backend to train with ('' = uncompiled, as the official runs).
    """
    table: str
    rows: Optional[Tuple[str, ...]] = None
    stages: Optional[Tuple[str, ...]] = None
    seeds: Optional[Tuple[int, ...]] = None
    profile: str = 'paper'
    runs_dir: str = 'runs'
    data_roots: Mapping[str, str] = field(default_factory=dict)
    tables: Tuple[str, ...] = ()
    weights_dir: Optional[str] = None
    latency: LatencyOptions = LatencyOptions()
    robustness_protocol: str = 'segformer'
    robustness_source: str = 'files'
    train_compile: str = ''

    def but(self, **changes) -> 'PlanOptions':
        """A copy with some fields changed (e.g. ``stages=None`` for every stage)."""
        return replace(self, **changes)
