"""The stages: every fact of one stage in one ``StageSpec``, read by the registry,
planning, projection, the executor and the SLURM side.

A stage names its computation as ``'module:function'`` (``compute``), imported only when a
task of it runs (as mmengine's registries take ``locations``): declaring a stage loads no
model code, so ``status`` and ``plan`` stay torch-free with plugins loaded. Adding a stage
is ``register_stage(StageSpec(...))`` from any module imported before planning
(``$UMIX_PLUGINS`` for the command line, or an import in your own code)."""
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from experiments.core.keys import COMPLEXITY_COUNTER, LATENCY_KEY_VERSION, latency_suffix

Options = Mapping[str, Any]


def imported(reference: str) -> Any:
    """What a lazy reference ``'module:name'`` names, its module imported now (a stage's
    computation and figures, a backend's class)."""
    module, _, name = reference.partition(':')
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Figure:
    """What a stage adds to a table's report: ``draw`` is ``'module:function'`` of
    ``f(results, stage, **options) -> reports.contribution.Contribution`` (figures, their
    LaTeX copies, small tables), imported when a report is made; ``options``: the names it
    draws (e.g. which metric), so that the drawing code names none."""
    draw: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageSpec:
    """One stage.

    Args:
        name: Its name on the command line, in table files and at the start of its record keys.
        compute: Its computation, ``'module:function'`` of ``f(task, store) -> (metrics,
            artifacts, the checkpoint it resumed from)``; imported when a task of it runs.
        needs: The stage whose record (same row, seed) it reads, e.g. test needs train.
        seeded: Its result depends on the trained weights: one record per seed (``-sN``).
        model_only: It measures the model itself, independently of profile, data and seed
            (its key holds the model, the measuring input and ``key_facts``).
        config: Which resolved config its task carries: 'training' (the training's) or 'evaluation'
            (with the row's evaluation pipeline; also a model-only stage's test loader).
        key_facts: A model-only stage's further hash content: f(options, data identity).
        key_suffix: A model-only stage's readable key suffix: f(options) ('' for none).
        reads_data: Whether a model-only stage reads the dataset: f(options).
        gpu_hours: The registry's estimate of one row's run (a table may override it).
        minutes: Minutes per run on a CPU, per built-in-data profile (else ``default_minutes``).
        projected: How its hours are projected from a calibration (``run-experiment calibrate``;
            ``experiments.planning.projection``): 'training' (iterations and the validations
            during training), 'images' (the validation images), 'corrupted-images' (the clean
            images and every Cityscapes-C variant); '' keeps the registry's estimate.
        exclusive: On SLURM it takes a whole node unless the cluster profile says otherwise.
        evaluates: Its record states the row's evaluation pipeline.
        multi_process: It runs as the row's processes (``gpus`` x ``nodes``: its global batch);
            every other stage is one process.
        resumable: It saves checkpoints and resumes from them: a requeued SLURM job goes on
            (its ``--time`` may be a segment of the whole).
        timed: Its values belong to the device they ran on: reports name it beside them
            (the frame's ``<stage>_device`` column, the console's 'timed on').
        figures: What it adds to a table's report (``Figure``), in order.
        report_variants: Other settings of its options drawn beside a report of the default
            computation: label -> {option name: value} (e.g. the optimized computation).
        version: The version of what its computation computes, recorded in each record
            (``Record.version``): bump it when a change of the code alters a value the stage
            records under the same key. Records of an older version are stale: ``status`` says
            so and ``run`` computes them again (the old record kept in records/history/).
            ``tests/test_golden.py`` fails when a golden value of the stage changes and this
            did not.
    """
    name: str
    compute: str = ''
    needs: Optional[str] = None
    seeded: bool = False
    model_only: bool = False
    config: str = 'evaluation'
    key_facts: Optional[Callable[[Options, str], Dict[str, Any]]] = None
    key_suffix: Optional[Callable[[Options], str]] = None
    reads_data: Optional[Callable[[Options], bool]] = None
    gpu_hours: float = 1.0
    minutes: Mapping[str, float] = field(default_factory=dict)
    default_minutes: float = 1.0
    projected: str = ''
    exclusive: bool = False
    evaluates: bool = False
    multi_process: bool = False
    resumable: bool = False
    timed: bool = False
    figures: Tuple[Figure, ...] = ()
    report_variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    version: int = 1

    def depends_on(self) -> Tuple[str, ...]:
        """The config kinds whose facts its numbers depend on (``experiments.registry.recipe``):
        a test's mIoU on its training's and its evaluation's; a model-only stage's on neither."""
        if self.model_only:
            return ()
        kinds = (_SPECS[self.needs].config, ) if self.needs in _SPECS else ()
        return tuple(dict.fromkeys(kinds + (self.config, )))

    def processes(self, world_size: int) -> int:
        """How many processes a task of it runs as, for a row of ``world_size``."""
        return world_size if self.multi_process else 1

    def reads_dataset(self, options: Options) -> bool:
        """Whether its task reads the dataset root (every stage that is not model-only does)."""
        if not self.model_only:
            return True
        return bool(self.reads_data and self.reads_data(options))

    def cpu_minutes(self, profile: str) -> float:
        return self.minutes.get(profile, self.default_minutes)

    def computation(self) -> Callable:
        """The function of ``compute``, imported now (the job side)."""
        return imported(self.compute)


_SPECS: Dict[str, StageSpec] = {}


def register_stage(spec: StageSpec) -> StageSpec:
    """Adds a stage (after the ones registered before it: the execution order)."""
    if spec.name in _SPECS:
        raise ValueError(f'stage {spec.name!r} is registered already')
    if spec.needs is not None and spec.needs not in _SPECS:
        raise ValueError(f'stage {spec.name!r} needs {spec.needs!r}, which is not registered (register it first)')
    if spec.compute.count(':') != 1 or not all(spec.compute.split(':')):
        raise ValueError(f'stage {spec.name!r}: give its computation as compute=\'module:function\', got {spec.compute!r}')
    if spec.config not in ('training', 'evaluation'):
        raise ValueError(f'stage {spec.name!r}: config must be training or evaluation, got {spec.config!r}')
    _SPECS[spec.name] = spec
    return spec


def stage_spec(name: str) -> StageSpec:
    return _SPECS[name]


def stale(stage: str, version: int) -> bool:
    """Whether a record of ``stage`` made by ``version`` of its computation is out of date
    (a stage not registered here, e.g. a plugin's not loaded, is not judged)."""
    return stage in _SPECS and version < _SPECS[stage].version


def stage_names() -> Tuple[str, ...]:
    """Every stage, in execution order (a stage after the one it needs)."""
    return tuple(_SPECS)


def stage_specs() -> Tuple[StageSpec, ...]:
    return tuple(_SPECS.values())


_COMPUTE = 'experiments.engine.compute.stages:'
_FIGURES = 'reports.figures:'
# the paper's stages (their minutes: one row on a 2-core CPU with the built-in data)
register_stage(StageSpec(
    'train', compute=_COMPUTE + 'run_train', seeded=True, config='training', gpu_hours=24.0, projected='training',
    multi_process=True, resumable=True, minutes={'smoke': 1.5, 'tiny': 0.3, 'check': 0.1},
    figures=(Figure(_FIGURES + 'training_curves'), )))
register_stage(StageSpec(
    'test', compute=_COMPUTE + 'run_test', needs='train', seeded=True, gpu_hours=0.3, projected='images',
    evaluates=True, minutes={'smoke': 0.1, 'tiny': 0.1, 'check': 0.1},
    figures=(Figure(_FIGURES + 'per_class'), Figure('reports.qualitative:figures'))))
register_stage(StageSpec(
    'complexity', compute=_COMPUTE + 'run_complexity', model_only=True, gpu_hours=0.02,
    minutes={'smoke': 0.3, 'tiny': 0.3, 'check': 0.1},
    key_facts=lambda options, identity: {'counter': COMPLEXITY_COUNTER},
    figures=(Figure(_FIGURES + 'efficiency', {'x': 'gflops', 'y': 'miou'}), )))  # the paper's Figure 1
register_stage(StageSpec(
    'latency', compute=_COMPUTE + 'run_latency', model_only=True, gpu_hours=0.05,
    minutes={'smoke': 0.5, 'tiny': 0.3, 'check': 0.3},
    exclusive=True, timed=True,  # a timing must not share its node
    # a timing depends on its settings, not on the planning machine's device (a login node
    # plans what a GPU node times); mmseg's benchmark times the validation images
    key_facts=lambda options, identity: {
        'options': dict(options), 'latency_key': LATENCY_KEY_VERSION,
        'data': identity if options['protocol'] == 'mmseg-benchmark' else ''},
    key_suffix=latency_suffix,
    reads_data=lambda options: options['protocol'] == 'mmseg-benchmark',
    figures=(Figure(_FIGURES + 'latency', {'metric': 'latency_ms'}), ),
    report_variants={'optimized (--optimize)': {'optimize': True},
                     'ONNX Runtime (--latency-protocol onnxruntime)': {'latency_protocol': 'onnxruntime'}}))
register_stage(StageSpec(
    'robustness', compute=_COMPUTE + 'run_robustness', needs='train', seeded=True, gpu_hours=6.0,
    projected='corrupted-images', evaluates=True, minutes={'smoke': 2.0, 'tiny': 0.5, 'check': 0.5},
    figures=(Figure(_FIGURES + 'corruptions'), Figure('reports.qualitative:robustness_figure'))))
