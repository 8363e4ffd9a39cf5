"""Cluster-profile errors are caught before anything is queued, naming the key."""
import pytest

from slurm.profile import SlurmError, load_cluster_profile, time_seconds


@pytest.mark.parametrize('body,message', [
    ('array_throttle = "four"', "key 'array_throttle' must be an integer"),
    ('extra_sbatch = "--constraint=a100"', "key 'extra_sbatch' must be a list of strings"),
    ('setup = 5', "key 'setup' must be a string"),
    ('time = "forever"', "key 'time' 'forever' is no SLURM time"),
    ('signal_seconds = 4000\ntime = "01:00:00"', 'signal_seconds = 4000 is not shorter than the time limit'),
    ('[stages.trian]\ntime = "01:00:00"', 'unknown stage [stages.trian]'),
    ('[stages.test]\nsignal_seconds = 7200', '[stages.test]: signal_seconds = 7200'),
    ('[stages.test]\nsetup = "x"', "[stages.test]: unknown key 'setup'"),
    ('partitionn = "gpu"', "unknown key(s) ['partitionn']"),
    ('signal = "USR3"', "key 'signal' 'USR3': name the time-limit warning signal"),
    ('signal = "TERM"', "key 'signal' 'TERM'"),  # TERM is trapped for preemption already
])
def test_profile_errors_name_the_key(tmp_path, body, message):
    path = tmp_path / 'cluster.toml'
    path.write_text(body + '\n')
    with pytest.raises(SlurmError) as err:
        load_cluster_profile(str(path))
    assert message in str(err.value) and str(path) in str(err.value)


def test_overrides_are_checked_too():
    with pytest.raises(SlurmError, match='array_throttle takes an integer'):
        load_cluster_profile(None, ['array_throttle=four'])
    with pytest.raises(SlurmError, match='--slurm time=00:01:00: signal_seconds = 120'):
        load_cluster_profile(None, ['time=00:01:00'])
    assert load_cluster_profile(None, ['exclusive=true', 'time=2-00'])['exclusive'] is True


def test_signal_names_are_normalised():
    from slurm.profile import resources
    for given in ('USR1', 'SIGUSR1', 'usr1', '10'):
        assert resources(load_cluster_profile(None, [f'signal={given}']), 'train', 1)['signal'] == 'USR1'
    assert resources(load_cluster_profile(None), 'train', 1)['signal'] == 'USR2'  # the default


def test_slurm_time_formats():
    assert [time_seconds(t) for t in ('10', '05:30', '01:00:00', '2-00', '1-02:03:04')] == [
        600, 330, 3600, 172800, 93784]


def test_the_shipped_profiles_are_valid():
    from conftest import DATA_DIR, ROOT
    for path in (f'{ROOT}/slurm/profiles/example.toml', f'{DATA_DIR}/slurm-ci.toml'):
        assert load_cluster_profile(path)['time']
