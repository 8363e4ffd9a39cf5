"""What a planning call is asked, typed: the selection (table, rows, stages, seeds,
profile), where the data, weights and results are, and the **option table**: how the
stages measure, one ``Option`` per setting, stated once.

From the table come the parser's flags (``experiments.cli.parser``), the settings of a
``PlanOptions``, the frozen options of each task (``Task.options``: the options of its
stage, under their recorded names, in its record's settings), its key's readable suffixes
and the commands that reproduce a task (``experiments.planning.commands``). Adding an
option is ``register_option(Option(...))`` in one module; the stage that reads it finds
it in ``task.options``."""
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Tuple

from experiments.core.device import DEVICE_NAME
from experiments.core.errors import UsageError
from experiments.core.keys import compile_suffix

# the commands whose record keys depend on the options (they plan the same tasks)
TABLE_COMMANDS = frozenset({'plan', 'status', 'run', 'invalidate', 'evaluate', 'report'})


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
        const: The value of the flag given without one (``--train-compile`` = inductor).
        recorded_as: Its name in ``Task.options`` and the record (default: ``name``).
        omit_default: Left out of ``Task.options`` while it has its default (an option added
            after records were made, which then say nothing of it).
        key_suffix: Its readable part of its stages' keys, f(value), for a value other than
            the default (its value must reach the key's hash too: via ``config_key`` or the
            stage's ``key_facts``).
        config_key: Set in the task's resolved config under this name (and thus in the
            config hash of its key) when not the default.
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
    const: Any = None
    recorded_as: str = ''
    omit_default: bool = False
    key_suffix: Optional[Callable[[Any], str]] = None
    config_key: str = ''
    metavar: Optional[str] = None

    @property
    def flag(self) -> str:
        return '--' + self.name.replace('_', '-')

    @property
    def recorded(self) -> str:
        return self.recorded_as or self.name

    def check(self, value: Any) -> Any:
        """The value, or UsageError naming the flag and what it takes."""
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
        return [self.flag, str(value)]


_OPTIONS: Dict[str, Option] = {}


def register_option(option: Option) -> Option:
    """Adds an option to the table (its flag, its stages' tasks, their commands)."""
    if option.name in _OPTIONS:
        raise ValueError(f'option {option.name!r} is registered already')
    _OPTIONS[option.name] = option
    return option


def option_table() -> Tuple[Option, ...]:
    """Every option, in the order their suffixes join a key."""
    return tuple(_OPTIONS.values())


def stage_options(stage: str, settings: Mapping[str, Any]) -> Dict[str, Any]:
    """A task's frozen options: its stage's options under their recorded names."""
    out: Dict[str, Any] = {}
    for opt in option_table():
        if stage in opt.stages:
            value = settings.get(opt.name, opt.default)
            if not (opt.omit_default and value == opt.default):
                out[opt.recorded] = value
    return out


def stage_settings(stage: str, options: Mapping[str, Any]) -> Dict[str, Any]:
    """The settings (option name -> value) a task's frozen options were made from."""
    return {o.name: options.get(o.recorded, o.default) for o in option_table() if stage in o.stages}


def key_suffixes(stage: str, settings: Mapping[str, Any]) -> str:
    """The readable suffixes the options of a stage add to its keys (table order)."""
    return ''.join(o.key_suffix(settings.get(o.name, o.default)) for o in option_table()
                   if stage in o.stages and o.key_suffix and settings.get(o.name, o.default) != o.default)


def check_settings(settings: Mapping[str, Any]) -> None:
    """UsageError for an option name the table does not hold or a value it does not take."""
    unknown = set(settings) - set(_OPTIONS)
    if unknown:
        raise UsageError(f'unknown option(s) {sorted(unknown)}; known: {", ".join(_OPTIONS)}')
    for name, value in settings.items():
        _OPTIONS[name].check(value)


def device_name(value: str) -> str:
    if not value:  # none declared (argparse also parses a default given as text)
        return ''
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

    def setting(self, name: str) -> Any:
        return self.settings.get(name, _OPTIONS[name].default)

    def but(self, **changes) -> 'PlanOptions':
        """A copy with some fields changed (e.g. ``stages=None`` for every stage)."""
        return replace(self, **changes)


LATENCY = ('latency', )
EVALUATED = ('test', 'robustness')
for _option in (
    # how latency is timed: its key hashes all six (experiments.core.stages) and reads them
    # in its suffix (experiments.core.keys.latency_suffix)
    Option('precision', 'fp32', 'latency: autocast precision (default fp32)', LATENCY,
           choices=('fp32', 'fp16', 'bf16')),
    Option('optimize', False, 'latency: the fastest configuration of the same function: fused attention (encoder '
           'and head), projected-first fuse, channels-last where it is faster on this device (recorded)', LATENCY,
           switch=True),
    Option('channels_last', False, 'latency: force the channels-last memory format', LATENCY, switch=True),
    Option('compile', False, 'latency: torch.compile backbone and head', LATENCY, switch=True),
    Option('latency_protocol', 'mmseg-benchmark', 'latency: mmseg\'s benchmark (validation images, predict mode, '
           '5 warm-up, 200 images; the paper\'s setting; default), one random image timed N times, or the model '
           'exported to ONNX and timed by ONNX Runtime on the CPU (deployment)', LATENCY,
           choices=('mmseg-benchmark', 'single-image', 'onnxruntime'), recorded_as='protocol'),
    Option('latency_device', '', 'latency: the device these timings are for (e.g. a100): a row per GPU model; '
           'checked on the node before timing (default: none declared; the record states the device it ran on)',
           LATENCY, parse=device_name, recorded_as='device'),
    # a training option: in the config (hence every key that reads the training) and named there
    Option('train_compile', '', 'train with torch.compile (mmengine\'s cfg.compile; backend inductor unless named): '
           'the same function up to float rounding, a record of its own (its key ends in -compile); the official '
           'runs did not compile', ('train', ) + EVALUATED,
           commands=TABLE_COMMANDS | {'calibrate', 'export', 'predict'},
           choices=('', 'inductor', 'aot_eager', 'eager'), const='inductor', omit_default=True,
           key_suffix=compile_suffix, config_key='train_compile'),
    Option('cityscapes_c_protocol', 'segformer', 'robustness / cityscapes-c: corrupt RGB images (segformer, '
           'default) or BGR arrays as the official runs did (official-bgr: frost and spatter colours swapped)',
           ('robustness', ), commands=TABLE_COMMANDS | {'cityscapes-c'}, choices=('segformer', 'official-bgr'),
           recorded_as='protocol', key_suffix=lambda value: f'-{value}'),
    Option('cityscapes_c_source', 'files', 'robustness: read Cityscapes-C generated once on disk (files, default; '
           'about 100 GB for the full set: `plan` projects it) or corrupt each image as it is loaded (on-the-fly: '
           'no disk, the same pixels, the corruption cost paid at every evaluation)', ('robustness', ),
           commands=frozenset({'plan', 'run', 'evaluate'}), choices=('files', 'on-the-fly'), recorded_as='source'),
):
    register_option(_option)
