"""What a planning call is asked, typed: the selection (table, rows, stages, seeds,
profile), where the data, weights and results are, and the **option table**: how the
stages measure, one ``Option`` per setting, stated once.

From the table come the parser's flags (``experiments.cli.parser``), the settings of a
``PlanOptions``, the frozen options of each task (``Task.options``: the options of its
stage, under their recorded names, in its record's settings), its key's readable suffixes
and the commands that reproduce a task (``experiments.planning.commands``). Adding an
option is ``register_option(Option(...))`` in one module; the stage that reads it finds
it in ``task.options``."""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Tuple

from experiments.core.device import DEVICE_NAME
from experiments.core.errors import UsageError
from experiments.core.keys import compile_suffix

# the commands whose record keys depend on the options (they plan the same tasks)
TABLE_COMMANDS = frozenset({'plan', 'status', 'run', 'invalidate', 'evaluate', 'report'})
EVERY_STAGE = ('*', )  # an option every stage's tasks carry (a stage registered later too)
# mmengine vis backends a run may log to besides its own files (experiments.engine.plugins.trackers)
TRACKERS = ('tensorboard', 'mlflow', 'wandb')


@dataclass(frozen=True)
class Option:
    """One setting of how a stage measures.

    Args:
        name: Its Python name (``PlanOptions.settings``, the parsed arguments); the flag is
            ``--`` and the name with dashes.
        default: Its value when not given.
        help: The ``--help`` text.
        stages: The stages whose tasks carry it (``Task.options``, the record's settings).
        commands: The commands that take it (default: those that plan a table's tasks).
        choices: The values it takes (None: any, after ``parse``).
        parse: Text -> value on the command line (raise ValueError with the reason).
        switch: A flag without a value (False/True).
        repeat: A flag given once per value (``--tracker a --tracker b``): a tuple of values.
        runtime: How a task runs, not what it computes: in ``Task.runtime`` and its command
            (what a job runs), never in its key or its record's settings.
        const: The value of the flag given without one (``--train-compile`` = inductor).
        recorded_as: Its name in ``Task.options`` and the record (default: ``name``).
        omit_default: Left out of ``Task.options`` while it has its default (an option added
            after records were made, which then say nothing of it).
        in_key: How a value other than the default reaches its stages' record keys (a
            number computed otherwise is another record): 'hash' (joins the key's hash;
            the default for a new option), 'config' (set in the resolved config under
            ``config_key``, hence in its hash), 'stage' (the stage's ``key_facts`` hash it:
            latency's options), 'suffix' (its readable suffix alone: the Cityscapes-C protocol,
            as keys were made before) or 'none' (the same numbers whatever its value: how
            Cityscapes-C is read; the runtime options).
        key_suffix: Its readable part of its stages' keys, f(value), for a value other than
            the default.
        config_key: With ``in_key='config'``: its name in the task's resolved config.
        backend: An option of this backend's (``--backend NAME``; no stages): in its
            ``BackendOptions.settings``, never a task's.
        metavar: The value's name in ``--help``.
    """
    name: str
    default: Any
    help: str
    stages: Tuple[str, ...]
    commands: FrozenSet[str] = TABLE_COMMANDS
    choices: Optional[Tuple[Any, ...]] = None
    parse: Optional[Callable[[str], Any]] = None
    switch: bool = False
    repeat: bool = False
    runtime: bool = False
    const: Any = None
    recorded_as: str = ''
    omit_default: bool = False
    in_key: str = 'hash'
    key_suffix: Optional[Callable[[Any], str]] = None
    config_key: str = ''
    metavar: Optional[str] = None
    backend: str = ''

    @property
    def flag(self) -> str:
        return '--' + self.name.replace('_', '-')

    @property
    def recorded(self) -> str:
        return self.recorded_as or self.name

    def applies(self, stage: str) -> bool:
        """Whether the tasks of ``stage`` carry it."""
        return self.stages == EVERY_STAGE or stage in self.stages

    def check(self, value: Any) -> Any:
        """The value, or UsageError naming the flag and what it takes."""
        if self.repeat:
            for v in value:
                self._check_one(v)
            return value
        return self._check_one(value)

    def _check_one(self, value: Any) -> Any:
        if self.choices is not None and value not in self.choices:
            known = ', '.join(str(c) for c in self.choices if c != '')
            raise UsageError(f'{self.flag}: {value!r} is not one of {known}')
        return value

    def words(self, value: Any) -> list:
        """The flag (and value) that give ``value`` on a command line ([] for the default)."""
        if value == self.default:
            return []
        if self.switch:
            return [self.flag]
        if self.repeat:
            return [w for v in value for w in (self.flag, str(v))]
        return [self.flag, str(value)]


_OPTIONS: Dict[str, Option] = {}


IN_KEY = ('hash', 'config', 'stage', 'suffix', 'none')


def register_option(option: Option) -> Option:
    """Adds an option to the table (its flag, its stages' tasks, their commands)."""
    if option.name in _OPTIONS:
        raise ValueError(f'option {option.name!r} is registered already')
    if option.in_key not in IN_KEY or (option.in_key == 'config') != bool(option.config_key) or (
            option.in_key == 'suffix' and not option.key_suffix) or (
            (option.runtime or option.backend) and option.in_key != 'none') or (option.backend and option.stages):
        raise ValueError(f'option {option.name!r}: in_key must be one of {", ".join(IN_KEY)}, with config_key '
                         'exactly for config, a key_suffix for suffix, and none (and no stages) for a runtime or '
                         'backend option')
    _OPTIONS[option.name] = option
    return option


def option_table() -> Tuple[Option, ...]:
    """Every option, in the order their suffixes join a key."""
    return tuple(_OPTIONS.values())


def stage_options(stage: str, settings: Mapping[str, Any], runtime: bool = False) -> Dict[str, Any]:
    """A task's frozen options: its stage's options under their recorded names (the runtime
    ones with ``runtime=True``)."""
    out: Dict[str, Any] = {}
    for opt in option_table():
        if opt.applies(stage) and opt.runtime == runtime:
            value = settings.get(opt.name, opt.default)
            if not (opt.omit_default and value == opt.default):
                out[opt.recorded] = value
    return out


def stage_settings(stage: str, options: Mapping[str, Any], runtime: Mapping[str, Any] = {}) -> Dict[str, Any]:
    """The settings (option name -> value) a task's frozen options (and runtime ones) were made from."""
    return {o.name: (runtime if o.runtime else options).get(o.recorded, o.default) for o in option_table()
            if o.applies(stage)}


def hashed_options(stage: str, settings: Mapping[str, Any]) -> Dict[str, Any]:
    """The options of a stage whose values join its key's hash (``in_key='hash'``), where not
    their default ({} for every built-in option: their keys are as before)."""
    return {o.name: settings[o.name] for o in option_table()
            if o.applies(stage) and o.in_key == 'hash' and settings.get(o.name, o.default) != o.default}


def key_suffixes(stage: str, settings: Mapping[str, Any]) -> str:
    """The readable suffixes the options of a stage add to its keys (table order)."""
    return ''.join(o.key_suffix(settings.get(o.name, o.default)) for o in option_table()
                   if o.applies(stage) and o.key_suffix and settings.get(o.name, o.default) != o.default)


def check_settings(settings: Mapping[str, Any]) -> None:
    """UsageError for an option name the table does not hold or a value it does not take."""
    unknown = set(settings) - set(_OPTIONS)
    if unknown:
        raise UsageError(f'unknown option(s) {sorted(unknown)}; known: {", ".join(_OPTIONS)}')
    for name, value in settings.items():
        _OPTIONS[name].check(value)


def device_name(value: str) -> str:
    if not DEVICE_NAME.fullmatch(value.lower()):
        raise ValueError(f'a device name such as a100, h100, cuda or cpu is needed, got {value!r}')
    return value.lower()


@dataclass(frozen=True)
class PlanOptions:
    """One planning request.

    Args:
        table: The table's name.
        rows, stages, seeds: A subset (None: the rows', or the profile's row selection).
        profile: paper, smoke, check or tiny (``experiments.registry.profiles``).
        runs_dir: The results store.
        data_roots: Dataset -> root, where given (else the environment's or mmseg's default).
        tables: Extra folders of table files.
        weights_dir: Pretrained encoder weights (default: under the runs folder).
        settings: Option name -> value, for the options of the option table that are not
            their default (``option_table()``).
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
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_settings(self.settings)


LATENCY = ('latency', )
EVALUATED = ('test', 'robustness')
for _option in (
    # how latency is timed: its key hashes all six (experiments.core.stages) and reads them
    # in its suffix (experiments.core.keys.latency_suffix)
    Option('precision', 'fp32', 'latency: autocast precision (default fp32)', LATENCY,
           choices=('fp32', 'fp16', 'bf16'), in_key='stage'),
    Option('optimize', False, 'latency: the fastest configuration of the same function: fused attention (encoder '
           'and head), projected-first fuse, channels-last where it is faster on this device (recorded)', LATENCY,
           switch=True, in_key='stage'),
    Option('channels_last', False, 'latency: force the channels-last memory format', LATENCY, switch=True,
           in_key='stage'),
    Option('compile', False, 'latency: torch.compile backbone and head', LATENCY, switch=True, in_key='stage'),
    Option('latency_protocol', 'mmseg-benchmark', 'latency: mmseg\'s benchmark (validation images, predict mode, '
           '5 warm-up, 200 images; the paper\'s setting; default), one random image timed N times, or the model '
           'exported to ONNX and timed by ONNX Runtime on the CPU (deployment)', LATENCY,
           choices=('mmseg-benchmark', 'single-image', 'onnxruntime'), recorded_as='protocol', in_key='stage'),
    Option('latency_device', '', 'latency: the device these timings are for (e.g. a100): a row per GPU model; '
           'checked on the node before timing (default: none declared; the record states the device it ran on)',
           LATENCY, parse=device_name, recorded_as='device', in_key='stage'),
    # a training option: in the config (hence every key that reads the training) and named there
    Option('train_compile', '', 'train with torch.compile (mmengine\'s cfg.compile; backend inductor unless named): '
           'the same function up to float rounding, a record of its own (its key ends in -compile); the official '
           'runs did not compile', ('train', ) + EVALUATED,
           commands=TABLE_COMMANDS | {'calibrate', 'export', 'predict'},
           choices=('', 'inductor', 'aot_eager', 'eager'), const='inductor', omit_default=True,
           in_key='config', key_suffix=compile_suffix, config_key='train_compile'),
    Option('cityscapes_c_protocol', 'segformer', 'robustness / cityscapes-c: corrupt RGB images (segformer, '
           'default) or BGR arrays as the official runs did (official-bgr: frost and spatter colours swapped)',
           ('robustness', ), commands=TABLE_COMMANDS | {'cityscapes-c'}, choices=('segformer', 'official-bgr'),
           recorded_as='protocol', in_key='suffix', key_suffix=lambda value: f'-{value}'),
    Option('cityscapes_c_source', 'files', 'robustness: read Cityscapes-C generated once on disk (files, default; '
           'about 100 GB for the full set: `plan` projects it) or corrupt each image as it is loaded (on-the-fly: '
           'no disk, the same pixels, the corruption cost paid at every evaluation)', ('robustness', ),
           commands=frozenset({'plan', 'run', 'evaluate'}), choices=('files', 'on-the-fly'), recorded_as='source',
           in_key='none'),
    # how a task runs: with the task (its command is what a SLURM job runs), in no key or record
    Option('verbose', False, 'stream mmengine\'s full logs to the console (default: into each task\'s log file)',
           EVERY_STAGE, commands=frozenset({'run', 'evaluate'}), switch=True, runtime=True, in_key='none'),
    Option('tracker', (), 'also log training and test to this tracker (mmengine vis backend; repeatable): '
           'tensorboard, mlflow ($MLFLOW_TRACKING_URI, default file://<runs-dir>/mlruns) or wandb (offline unless '
           '$WANDB_MODE)', EVERY_STAGE, commands=frozenset({'run', 'evaluate'}), choices=TRACKERS, repeat=True,
           runtime=True, in_key='none'),
):
    register_option(_option)
