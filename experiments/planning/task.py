"""The task: one record to compute (a stage of a row, for a seed) and everything its
computation reads; made by ``experiments.planning.tasks.plan``."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

from experiments.registry.rows import Row


@dataclass(frozen=True)
class ReleasedWeights:
    """A released checkpoint a test or robustness task evaluates instead of the row's training."""
    file: str  # the file as downloaded (absolute)
    sha256: str
    checkpoint: str  # its conversion to this project's layout, relative to the store

    def settings(self) -> Dict[str, str]:
        """What the record states of it (analysis.collect reads ``weights``)."""
        return dict(weights='released', checkpoint=self.checkpoint, sha256=self.sha256, file=self.file)


@dataclass
class Task:
    stage: str
    row: Row
    seed: Optional[int]
    key: str
    config_hash: str
    cfg: Config  # the resolved config (profile, data root, seed applied)
    base_cfg: Config  # the config file as written
    data_root: Optional[str]
    profile: str
    rows: List[str] = field(default_factory=list)
    needs: Optional[str] = None  # key of the record this task reads
    # its stage's options of the option table, under their recorded names (the record's settings)
    options: Dict[str, object] = field(default_factory=dict)
    input_hw: Tuple[int, int] = (0, 0)  # complexity, latency: the measuring input the key holds
    released: Optional[ReleasedWeights] = None  # evaluates a released checkpoint, not the row's training
    # how it runs, not what it computes (the option table's runtime options: verbose, tracker)
    runtime: Dict[str, object] = field(default_factory=dict)

    @property
    def label(self) -> str:
        seed = f' seed {self.seed}' if self.seed is not None else ''
        return f'{self.stage:<10} {self.row.table}/{self.row.id}{seed}'
