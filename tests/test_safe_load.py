"""Downloaded checkpoints are data: a crafted .pth whose unpickling would run a payload
is refused in every path that reads one (evaluate, umixformer-convert, pretrained
weights through mmengine, weights add), and the payload never runs."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import DATA_DIR
from experiments.cli import main
from umixformer.safe_load import NotACheckpointError, UnsafeCheckpointError, load

TABLES = os.path.join(DATA_DIR, 'tables')


class Payload:
    """Unpickling calls os.system: the marker file appears if it ever runs."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


@pytest.fixture
def crafted(tmp_path):
    """(zip-format .pth, legacy-pickle .pth, marker path) holding real weights and a payload."""
    marker = tmp_path / 'PAYLOAD-RAN'
    weights = {'backbone.layers.0.0.projection.weight': torch.zeros(32, 3, 7, 7)}
    zip_file = tmp_path / 'evil' / 'umixformer-b0.pth'
    zip_file.parent.mkdir()
    torch.save({'state_dict': weights, 'meta': Payload(str(marker))}, zip_file)
    legacy = tmp_path / 'legacy.pth'  # torch's pre-1.6 format
    torch.save({'state_dict': weights, 'x': Payload(str(marker))}, legacy, _use_new_zipfile_serialization=False)
    return zip_file, legacy, marker


def test_load_refuses_the_payload_and_names_it(crafted):
    zip_file, legacy, marker = crafted
    for path in (zip_file, legacy):
        with pytest.raises(UnsafeCheckpointError, match=r'refused to load .*posix\.system') as err:
            load(str(path))
        # one line that says not to load it, and no recipe that would run the payload
        text = str(err.value)
        assert 'runs code when loaded' in text and 'do not load it' in text and '\n' not in text
        assert 'weights_only=False' not in text and 'python -c' not in text
    plain = zip_file.parent / 'plain.pkl'  # no torch.save at all: refused too
    plain.write_bytes(pickle.dumps({'x': Payload(str(marker))}))
    with pytest.raises(NotACheckpointError, match='a plain pickle'):
        load(str(plain))
    assert not marker.exists()


class Unknown:
    """A class of another program: unpickling imports its module and calls it."""

    def __init__(self):
        self.x = 1


@pytest.mark.parametrize('what,harmless', [
    ('defaultdict', True), ('decimal', True), ('datetime', True), ('masked-array', True),
    ('unknown-class', False), ('defaultdict-of-system', False), ('eval', False), ('legacy-decimal', False)])
def test_the_resave_recipe_only_for_plain_data(tmp_path, what, harmless):
    """The recipe unpickles the whole file: offered only where every foreign type is plain
    data (another library's numbers, dates, containers) and all of them are known (the zip
    format lists them; torch's legacy format names only the first)."""
    import collections
    import datetime
    import decimal
    meta = {'defaultdict': collections.defaultdict(int, a=1), 'decimal': decimal.Decimal('1.5'),
            'datetime': datetime.datetime(2023, 12, 11), 'masked-array': np.ma.masked_array([1, 2], mask=[0, 1]),
            'unknown-class': Unknown(), 'defaultdict-of-system': collections.defaultdict(os.system),
            'eval': Payload.__new__(Payload), 'legacy-decimal': decimal.Decimal('2')}[what]
    if what == 'eval':
        meta.__class__ = type('Eval', (), {'__reduce__': lambda self: (eval, ('1 + 1', ))})
    path = tmp_path / 'x.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'meta': meta}, path,
               _use_new_zipfile_serialization=not what.startswith('legacy'))
    with pytest.raises(UnsafeCheckpointError) as err:
        load(str(path))
    text = str(err.value)
    assert '\n' not in text
    if harmless:
        assert 'It runs no code' in text and 'weights_only=False' in text and 'runs code when loaded' not in text
    else:
        assert 'runs code when loaded' in text and 'do not load it' in text and 'python -c' not in text


def test_checkpoints_of_mmengine_and_numpy_types_load(tmp_path):
    """What real checkpoints hold beside tensors: numpy scalars and arrays, the
    message hub's HistoryBuffer (this suite's own resume files), argparse-free meta."""
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(1.5)
    ckpt = {'state_dict': {'w': torch.ones(2)}, 'meta': {'best': np.float64(41.2), 'seed': np.int64(3),
            'rng': np.random.get_state()}, 'message_hub': {'log_scalars': {'train/loss': buf}}}
    torch.save(ckpt, tmp_path / 'ok.pth')
    back = load(str(tmp_path / 'ok.pth'))
    assert back['meta']['best'] == 41.2 and back['message_hub']['log_scalars']['train/loss'].current() == 1.5
    # in a fresh process (no HistoryBuffer made yet), as a resumed job reads it
    code = ('import sys; from umixformer.safe_load import load; '
            'print(load(sys.argv[1])["message_hub"]["log_scalars"]["train/loss"].mean())')
    proc = subprocess.run([sys.executable, '-c', code, str(tmp_path / 'ok.pth')], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == '1.5', proc.stderr


@pytest.mark.parametrize('content,what', [(b'', 'an empty file'), (b'<html><body>Sign in</body></html>\n', 'HTML'),
                                          ('half', 'truncated or damaged')])
def test_a_file_that_is_no_checkpoint_says_so(tmp_path, content, what):
    path = tmp_path / 'x.pth'
    if content == 'half':
        torch.save({'state_dict': {'w': torch.ones(1000)}}, path)
        content = path.read_bytes()[:path.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(NotACheckpointError, match=f'not a PyTorch checkpoint: .*{what}'):
        load(str(path))


def test_mmengine_pretrained_loading_is_safe(crafted):
    """init_cfg=dict(type='Pretrained'), load_from and resume all read through mmengine's
    CheckpointLoader, which importing umixformer points at the safe loader."""
    import umixformer  # noqa: F401
    from mmengine.runner.checkpoint import CheckpointLoader
    zip_file, _, marker = crafted
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint(str(zip_file), map_location='cpu')
    assert not marker.exists()


def test_evaluate_refuses_the_crafted_file(crafted, tmp_path, capsys):
    zip_file, _, marker = crafted
    rc = main(['evaluate', 'tiny', '--tables', TABLES, '--profile', 'tiny', '--checkpoints', str(zip_file.parent),
               '--runs-dir', str(tmp_path / 'runs')])
    out = ' '.join(capsys.readouterr().out.split())
    assert rc == 1 and 'umixformer-b0.pth: refused to load' in out and 'posix.system' in out
    assert not marker.exists()


def test_convert_refuses_the_crafted_file(crafted, tmp_path):
    zip_file, _, marker = crafted
    dst = tmp_path / 'converted.pth'
    proc = subprocess.run([sys.executable, '-m', 'umixformer.converters.official', str(zip_file), str(dst)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and 'refused to load' in proc.stderr and 'Traceback' not in proc.stderr
    assert not marker.exists() and not dst.exists()
    text = tmp_path / 'page.pth'
    text.write_text('<html>quota exceeded</html>')
    proc = subprocess.run([sys.executable, '-m', 'umixformer.converters.official', str(text), str(dst)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and 'not a PyTorch checkpoint' in proc.stderr


def test_pretrained_weights_are_checked_then_read_as_data(crafted, tmp_path, capsys):
    """weights add refuses the crafted file; a file put in place of a published one
    fails its digest before anything loads it; a registered file is verified."""
    zip_file, _, marker = crafted
    folder = tmp_path / 'weights'
    args = ['--weights-dir', str(folder), '--runs-dir', str(tmp_path / 'runs')]
    assert main(['weights', 'add', 'lvt', str(zip_file)] + args) == 2
    out = ' '.join(capsys.readouterr().out.split())
    assert 'was not registered: refused to load' in out and not marker.exists()
    assert not (folder / 'lvt_imagenet_pretrained.pth.tar').exists()
    # a user's LVT file: registered with its sha256, verified from then on
    good = tmp_path / 'lvt_download.pth.tar'
    torch.save({'state_dict': {'patch_embed.proj.weight': torch.zeros(2)}}, good)
    assert main(['weights', 'add', 'lvt', str(good)] + args) == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert 'registered, sha256' in out
    from experiments.registry.weights import find_weight, verify_file, verify_localised
    lvt = find_weight('lvt')
    assert verify_file(str(folder), lvt) == 'ok (sha256 from weights.local.json)'
    # the crafted file swapped in afterwards (and a published name replaced by it): refused by digest
    os.replace(zip_file, folder / lvt.file)
    assert verify_file(str(folder), lvt).startswith('corrupt: sha256')
    mit = find_weight('mit_b0')
    os.link(folder / lvt.file, folder / mit.file)
    cfg = {'backbone': {'init_cfg': {'type': 'Pretrained', 'checkpoint': str(folder / mit.file)}}}
    with pytest.raises(ValueError, match=r'corrupt: sha256 .* is not 7e0fe6dd.*nothing was loaded'):
        verify_localised(cfg)
    # a published file cannot be registered under a wrong digest either
    assert main(['weights', 'add', 'mit_b0', str(good)] + args) == 2
    # (the console wraps the message at its width: where depends on the path's length)
    assert 'does not start with the published 7e0fe6dd' in ' '.join(capsys.readouterr().out.split())
    assert not marker.exists()


@pytest.mark.parametrize('name', ['x$(touch M).pth', "a'b.pth", 'plain.pth'])
def test_the_resave_recipe_is_quoted_for_the_shell_and_python(tmp_path, name):
    """A downloaded file's name is data: the printed command, pasted into bash, runs no part
    of it and saves the weights beside the file, whatever the name."""
    import collections
    import shutil
    path = tmp_path / name
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': collections.defaultdict(int, a=1)}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        load(str(path))
    command = str(err.value).split('use that file: ', 1)[1]
    env = dict(os.environ, PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ['PATH']]))
    proc = subprocess.run([shutil.which('bash'), '-c', command], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / 'M').exists()  # $(touch M) stayed part of the name
    assert torch.equal(load(str(path) + '.weights.pth')['w'], torch.ones(2))


def test_a_python2_name_in_a_pickle_is_named_as_python3_imports_it(tmp_path):
    """pickle writes subprocess.call as commands.call (protocol 2): the refusal names the call."""
    import subprocess as sp

    class Call:
        def __reduce__(self):
            return sp.call, (['true'], )
    path = tmp_path / 'p2.pth'
    torch.save({'state_dict': {}, 'x': Call()}, path, pickle_protocol=2)
    with pytest.raises(UnsafeCheckpointError) as err:
        load(str(path))
    assert 'subprocess.call' in str(err.value) and 'commands.call' not in str(err.value)
