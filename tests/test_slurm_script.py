"""The rendered sbatch scripts against stored fixtures (as submitit checks its
generated script): a change to what is submitted shows up as a diff here.
Regenerate after a deliberate change with UMIX_UPDATE_FIXTURES=1."""
import os
import sys

import pytest

from conftest import DATA_DIR, ROOT
from experiments.cli.parser import parse_args
from experiments.cli.selection import make_backend, select_tasks

FIXTURES = os.path.join(DATA_DIR, 'slurm')


def _render(tmp_path, *extra):
    args = parse_args(['tiny', '--tables', os.path.join(DATA_DIR, 'tables'), '--profile', 'tiny', '--runs-dir',
                       str(tmp_path), '--backend', 'slurm', '--slurm-profile', os.path.join(DATA_DIR, 'slurm-ci.toml'),
                       *extra])
    table, profile, _, store, tasks = select_tasks(args)
    sub = make_backend(args).submission(table, tasks, store, {})
    arrays = sub.render()
    # the machine-specific parts: this checkout, this interpreter, the submission folder
    subst = [(sub.dir, '<submission>'), (sys.executable, '<python>'), (ROOT, '<repo>')]
    out = {}
    for arr in arrays:
        text = arr['script']
        for real, name in subst:
            text = text.replace(real, name)
        out[arr['name']] = text
    return sub, out


@pytest.mark.parametrize('name', ['train', 'test', 'complexity'])
def test_rendered_script_matches_the_fixture(tmp_path, name):
    _, scripts = _render(tmp_path)
    path = os.path.join(FIXTURES, f'tiny-{name}.sbatch')
    if os.environ.get('UMIX_UPDATE_FIXTURES') == '1':
        with open(path, 'w') as f:
            f.write(scripts[name])
    assert scripts[name] == open(path).read(), f'{path} differs from the rendered script'


def test_dependent_array_has_the_indices_of_its_prerequisites(tmp_path):
    sub, _ = _render(tmp_path)
    arrays = {a['name']: a for a in sub.arrays}
    train_at = dict(zip((t.key for t in arrays['train']['tasks']), arrays['train']['indices']))
    assert arrays['test']['indices'] == [train_at[t.needs] for t in arrays['test']['tasks']]
    assert arrays['test']['parent'] == ('array', 'train') and arrays['complexity']['parent'] is None
    assert sub.chain()[1].startswith('test: 2 task(s), each task after its own train task in array train')


def test_prerequisites_queued_elsewhere_keep_their_indices(tmp_path):
    """A test whose training is queued by an earlier submission (array 77, task 5)
    gets index 5 and depends on that array with aftercorr."""
    args = parse_args(['tiny', '--tables', os.path.join(DATA_DIR, 'tables'), '--profile', 'tiny', '--runs-dir',
                       str(tmp_path), '--rows', 'umix-b0', '--backend', 'slurm', '--slurm-profile', os.path.join(DATA_DIR, 'slurm-ci.toml')])
    table, profile, _, store, tasks = select_tasks(args)
    (train, ) = [t for t in tasks if t.stage == 'train']
    todo = [t for t in tasks if t.stage != 'train']
    sub = make_backend(args).submission(table, todo, store, {train.key: '77_5'})
    (test, ) = [a for a in sub.arrays if a['stage'] == 'test']
    assert test['indices'] == [5] and test['parent'] == ('job', '77')
    assert sub._dependency(test, {}) == 'aftercorr:77'
    assert '#SBATCH --array=5%4' in [a for a in sub.render() if a['stage'] == 'test'][0]['script']


def test_multi_process_rows_never_train_as_one_process(tmp_path, capsys):
    """gpus = 2: the key says so (another global batch, another result), the record
    states world size and global batch, and no backend trains it as one process:
    SLURM runs 2 processes (srun; CPU processes on a node without GPUs)."""
    from experiments.cli import main
    from experiments.engine.process.executor import task_settings
    common = ['tiny_two', '--tables', os.path.join(DATA_DIR, 'tables'), '--profile', 'tiny', '--runs-dir', str(tmp_path / 'runs')]
    tasks = select_tasks(parse_args(common))[4]
    train, test = sorted(tasks, key=lambda t: t.stage != 'train')
    assert train.key.endswith('-w2') and test.needs == train.key
    assert task_settings(train)['world_size'] == 2 and task_settings(train)['global_batch'] == 4  # 2 x 2
    assert main(common) == 2
    assert 'the local backend runs one process' in ' '.join(capsys.readouterr().out.split())
    args = parse_args(common + ['--backend', 'slurm', '--slurm-profile', os.path.join(DATA_DIR, 'slurm-ci.toml')])
    table, profile, _, store, tasks = select_tasks(args)
    sub = make_backend(args).submission(table, tasks, store, {})
    (train, ) = [a for a in sub.render() if a['stage'] == 'train']
    assert train['name'] == 'train-2gpu' and '#SBATCH --ntasks=2' in train['script']
    assert 'srun --ntasks=2 ' in train['script'] and 'UMIX_LAUNCHER=slurm' in train['script']
    # one node: the processes of a single-node row are never spread over nodes
    assert '#SBATCH --nodes=1\n#SBATCH --ntasks=2\n' in train['script']
    # srun of Slurm 22.05-23.02 does not inherit --cpus-per-task from the batch script
    assert 'srun --ntasks=2 --cpus-per-task="$SLURM_CPUS_PER_TASK" ' in train['script']


def test_multi_node_row_is_rendered_with_nodes_and_srun(tmp_path):
    """nodes = 2, gpus = 2: 4 processes, 2 per node, one srun; the rendezvous
    comes from SLURM's variables in the job (experiments/engine/process/distributed.py)."""
    folder = tmp_path / 'tables'
    folder.mkdir()
    config = os.path.join(ROOT, 'experiments', 'configs', 'umixformer',
                          'umixformer_mit-b0_1xb16-160k_ade20k-512x512.py')
    (folder / 'multi.toml').write_text(f'name = "multi"\ntitle = "t"\n[[rows]]\nid = "b0-2x2"\nmethod = "U-MixFormer"\n'
                                       f'dataset = "ade20k"\nnodes = 2\ngpus = 2\nstages = ["train"]\nconfig = "{config}"\n')
    profile = tmp_path / 'gpu.toml'
    profile.write_text('partition = "gpu"\ngpus_per_task = 1\n')
    args = parse_args(['multi', '--tables', str(folder), '--profile', 'tiny', '--runs-dir', str(tmp_path / 'runs'),
                       '--backend', 'slurm', '--slurm-profile', str(profile)])
    table, profile_, _, store, (task, ) = select_tasks(args)
    assert task.key.endswith('-w4')
    (arr, ) = make_backend(args).submission(table, [task], store, {}).render()
    script = arr['script']
    assert arr['name'] == 'train-2gpu-2nodes'
    for line in ('#SBATCH --nodes=2', '#SBATCH --ntasks-per-node=2', '#SBATCH --gpus-per-task=1',
                 'export UMIX_LAUNCHER=slurm', 'srun --ntasks=4 --cpus-per-task="$SLURM_CPUS_PER_TASK" '):
        assert line in script, line
    assert '#SBATCH --ntasks=' not in script


@pytest.mark.parametrize('indices, spec', [([0, 1, 2, 5, 7, 8], '0-2,5,7-8'), ([3], '3'), ([4, 0, 2], '0,2,4'),
                                           ([9, 5, 4, 3, 3], '3-5,9')])
def test_array_spec_folds_runs_of_indices(indices, spec):
    from slurm.submission import array_spec
    assert array_spec(indices) == spec


def test_the_cluster_profile_is_the_backends_own_option(monkeypatch):
    """--slurm-profile and --slurm reach the SLURM backend as its own options; without the
    flag, $UMIX_SLURM_PROFILE names the profile."""
    from experiments.cli.parser import parse_args
    from experiments.cli.selection import make_backend
    monkeypatch.setenv('UMIX_SLURM_PROFILE', '/profiles/from-env.toml')
    args = parse_args(['plan', 'tiny', '--backend', 'slurm', '--slurm', 'partition=debug'])
    assert make_backend(args).cluster_profile() == ('/profiles/from-env.toml', ('partition=debug', ))
    args = parse_args(['plan', 'tiny', '--backend', 'slurm', '--slurm-profile', '/p.toml'])
    assert make_backend(args).cluster_profile() == ('/p.toml', ())
