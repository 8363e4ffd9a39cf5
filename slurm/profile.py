"""The cluster profile: partition, account, time, GPUs and the rest per stage, from a TOML
file and ``--slurm KEY=VALUE``, checked before anything is queued."""
import os
import signal
from typing import Optional, Sequence

from experiments.backends.base import BackendError
from experiments.core.signals import signal_number
from experiments.core.stages import stage_names, stage_spec
from experiments.registry.schema import read_toml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PROFILE_KEYS = {'partition', 'account', 'qos', 'gpus_per_task', 'cpus_per_task', 'mem', 'time', 'array_throttle',
                'signal', 'signal_seconds', 'extra_sbatch', 'setup', 'stages', 'exclusive', 'gpu_memory_gb'}
# gpu_memory_gb: the memory of one of the partition's GPUs (0: unknown); `plan` warns where a
# row's calibrated training batch needs more
DEFAULTS = dict(partition='', account='', qos='', gpus_per_task=0, cpus_per_task=2, mem='', time='01:00:00',
                array_throttle=0, signal='USR2', signal_seconds=120, extra_sbatch=[], setup='', stages={},
                gpu_memory_gb=0)


class SlurmError(BackendError):
    """sbatch missing, a bad cluster profile, a rejected submission."""


def time_seconds(value: str) -> int:
    """SLURM's time formats (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) in seconds."""
    days, _, rest = value.partition('-') if '-' in value else ('0', '', value)
    parts = [int(p) for p in rest.split(':')]  # ValueError on anything else
    if '-' in value:
        h, m, sec = (parts + [0, 0])[:3]
    else:
        h, m, sec = {1: (0, parts[0], 0), 2: (0, *parts), 3: tuple(parts)}[len(parts)]
    return int(days) * 86400 + h * 3600 + m * 60 + sec


def _check_value(where: str, key: str, value) -> None:
    kind = bool if key == 'exclusive' else type(DEFAULTS[key])
    ok = (isinstance(value, list) and all(isinstance(v, str) for v in value) if kind is list else
          isinstance(value, int) and not isinstance(value, bool) if kind is int else
          isinstance(value, kind))
    if not ok:
        want = {list: 'a list of strings', int: 'an integer', str: 'a string'}.get(kind, 'true or false')
        raise SlurmError(f'{where}: key {key!r} must be {want}, got {value!r}')
    if key == 'signal':
        try:
            num = signal_number(value)
        except (ValueError, KeyError):
            num = None
        if num is None or num in (signal.SIGTERM, signal.SIGKILL, signal.SIGSTOP, signal.SIGINT):
            raise SlurmError(f'{where}: key \'signal\' {value!r}: name the time-limit warning signal, e.g. '
                             '"USR2" (default; some NCCL versions catch USR1) or "USR1"; TERM is always trapped '
                             '(preemption, scontrol requeue)')
    if key == 'time':
        try:
            time_seconds(value)
        except (ValueError, KeyError):
            raise SlurmError(f'{where}: key \'time\' {value!r} is no SLURM time (MM, HH:MM:SS, D-HH:MM:SS)') from None


def validate_profile(prof: dict, where: str) -> None:
    """Types, stage names and the signal/time relation of a merged profile: an
    error names the key, before anything is queued."""
    for key, value in prof.items():
        if key != 'stages':
            _check_value(where, key, value)
    stages = prof.get('stages', {})
    if not isinstance(stages, dict):
        raise SlurmError(f'{where}: [stages] must be a table of stage tables')
    for stage, keys in stages.items():
        if stage not in stage_names():  # (Cityscapes-C generation runs with the robustness resources)
            raise SlurmError(f'{where}: unknown stage [stages.{stage}]; known: {", ".join(stage_names())}')
        if not isinstance(keys, dict):
            raise SlurmError(f'{where}: [stages.{stage}] must be a table of profile keys')
        for key, value in keys.items():
            if key not in PROFILE_KEYS - {'stages', 'setup'}:
                raise SlurmError(f'{where}: [stages.{stage}]: unknown key {key!r}')
            _check_value(f'{where} [stages.{stage}]', key, value)
    for stage in (None, ) + tuple(stages):
        res = dict(prof, **(stages.get(stage, {}) if stage else {}))
        if res['signal_seconds'] >= time_seconds(res['time']):
            raise SlurmError(f'{where}{f" [stages.{stage}]" if stage else ""}: signal_seconds = '
                             f'{res["signal_seconds"]} is not shorter than the time limit {res["time"]}: the '
                             'warning would come before the job starts')


def load_cluster_profile(path: Optional[str], overrides: Sequence[str] = ()) -> dict:
    prof = dict(DEFAULTS)
    where = f'cluster profile {path}' if path else 'the default cluster profile'
    if path:
        data = read_toml(path, SlurmError, 'no such cluster profile (see slurm/profiles/example.toml)')
        bad = set(data) - PROFILE_KEYS
        if bad:
            raise SlurmError(f'cluster profile {path}: unknown key(s) {sorted(bad)}; known: {sorted(PROFILE_KEYS)}')
        prof.update(data)
    for item in overrides:
        key, sep, value = item.partition('=')
        if not sep or key not in PROFILE_KEYS - {'stages'}:
            raise SlurmError(f'--slurm takes KEY=VALUE with KEY one of {sorted(PROFILE_KEYS - {"stages"})}, got {item!r}')
        try:
            prof[key] = (value.lower() in ('1', 'true', 'yes') if key == 'exclusive' else [value]
                         if key == 'extra_sbatch' else int(value) if isinstance(DEFAULTS[key], int) else value)
        except ValueError:
            raise SlurmError(f'--slurm {key}={value}: {key} takes an integer') from None
    validate_profile(prof, where + (' with --slurm ' + ' '.join(overrides) if overrides else ''))
    return prof


def resources(prof: dict, stage: str, gpus: int, nodes: int = 1) -> dict:
    res = {k: v for k, v in prof.items() if k != 'stages'}
    res.update(prof.get('stages', {}).get(stage, {}))
    # a timing must not share its node: an exclusive stage takes a whole node unless the profile says otherwise
    if 'exclusive' not in prof.get('stages', {}).get(stage, {}):
        res['exclusive'] = prof['exclusive'] if 'exclusive' in prof else stage_spec(stage).exclusive
    res['signal'] = signal.Signals(signal_number(res['signal'])).name[3:]  # 'sigusr2' -> 'USR2' for sbatch and trap
    # a row with gpus = N always runs N processes (the global batch is N x the config's):
    # one GPU each where the profile gives GPUs, else N CPU processes (gloo)
    res['nodes'], res['ntasks_per_node'] = nodes, max(1, gpus)
    res['ntasks'] = nodes * res['ntasks_per_node']
    if res['ntasks'] > 1 and res.get('gpus_per_task'):
        res['gpus_per_task'] = 1
    return res


