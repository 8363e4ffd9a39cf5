"""run-experiment compare: two stores side by side (paired by table, row, stage, seed and
profile; what differs in the numbers and in how they were made), a training beside a
published log, and both stores left exactly as they were."""
import hashlib
import json
import os
import shutil

import pytest

from conftest import DATA_DIR
from experiments.cli import main
from experiments.data.datasets import generate_synthetic

TINY = os.path.join(DATA_DIR, 'tables', 'tiny.toml')


def _tree_digest(root):
    h = hashlib.sha256()
    for d, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            st = os.stat(p)
            h.update(f'{os.path.relpath(p, root)} {st.st_mtime_ns} {st.st_mode}\n'.encode())
            with open(p, 'rb') as fh:
                h.update(fh.read())
        h.update(f'{os.path.relpath(d, root)} {sorted(dirs)}\n'.encode())
    return h.hexdigest()


@pytest.fixture(scope='module')
def two_stores(tmp_path_factory):
    """tiny/umix-b0 trained (check profile) into A, and into B from a copy of the table whose
    row's config sets another weight decay; B's record then edited as a colleague's numpy
    would differ."""
    base = tmp_path_factory.mktemp('compare')
    other = base / 'tables'
    other.mkdir()
    (other / 'umix_wd.py').write_text("_base_ = ['suite::umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py']\n"
                                      "optim_wrapper = dict(optimizer=dict(weight_decay=0.02))\n")
    text = open(TINY).read().replace('config = "umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py"',
                                     f'config = "{other / "umix_wd.py"}"', 1)
    (other / 'tiny.toml').write_text(text)
    data = base / 'ade'
    generate_synthetic('ade20k', str(data))  # one root for both: the same data fingerprint
    for runs, tables in ((base / 'a', os.path.dirname(TINY)), (base / 'b', str(other))):
        assert main(['tiny', '--tables', tables, '--rows', 'umix-b0', '--profile', 'check', '--stages', 'train,test',
                     '--data-root', f'ade20k={data}', '--runs-dir', str(runs)]) == 0
    rec_path = next((base / 'b' / 'records' / 'train').glob('*.json'))
    rec = json.loads(rec_path.read_text())
    rec['packages']['numpy'] = '1.26.4'
    rec_path.write_text(json.dumps(rec))
    yield base / 'a', base / 'b'
    shutil.rmtree(base, ignore_errors=True)


def test_compare_names_the_config_line_the_version_and_the_metric(two_stores, capsys, tmp_path):
    a, b = two_stores
    assert main(['compare', str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert '## tiny/umix-b0 train (check; seeds 0)' in out
    assert '-optim_wrapper.optimizer.weight_decay = 0.01' in out
    assert '+optim_wrapper.optimizer.weight_decay = 0.02' in out
    assert 'package numpy: A ' in out and '| B 1.26.4' in out
    assert '| final_loss |' in out and 'no interval' in out
    assert main(['compare', str(a), str(b), '--format', 'json', '--out', str(tmp_path)]) == 0
    data = json.loads((tmp_path / 'compare.json').read_text())
    pair = data['pairs'][0]
    assert (pair['table'], pair['row'], pair['stage']) == ('tiny', 'umix-b0', 'train')
    assert any(m['name'] == 'final_loss' for m in pair['metrics'])
    prod = pair['production'][0]
    assert '+optim_wrapper.optimizer.weight_decay = 0.02' in prod['config_diff']
    assert {'what': 'package numpy', 'a': prod['differences'][[d['what'] for d in prod['differences']].index(
        'package numpy')]['a'], 'b': '1.26.4'} in prod['differences']
    assert main(['compare', str(a), str(b), '--format', 'html', '--out', str(tmp_path)]) == 0
    html = (tmp_path / 'compare.html').read_text()
    assert '<th>A</th><th>B</th><th>paper</th>' in html and 'weight_decay = 0.02' in html


def test_compare_with_itself_and_with_nothing_in_common(two_stores, capsys, tmp_path):
    a, _ = two_stores
    assert main(['compare', str(a), str(a)]) == 0
    assert 'no differences' in capsys.readouterr().out
    (tmp_path / 'empty' / 'records').mkdir(parents=True)
    assert main(['compare', str(a), str(tmp_path / 'empty')]) == 1
    assert capsys.readouterr().out.startswith('nothing in common: 2 record(s) only in')
    assert main(['compare', str(a), str(tmp_path / 'nowhere')]) == 2
    assert 'is not a results store' in capsys.readouterr().out


def test_compare_writes_nothing_in_either_store(two_stores, capsys, tmp_path):
    a, b = two_stores
    ro = tmp_path / 'ro'
    shutil.copytree(b, ro, symlinks=True)
    damaged = ro / 'records' / 'train' / 'broken.json'
    damaged.write_text('{not json')
    for d, _, files in os.walk(ro):
        os.chmod(d, 0o555)
        for f in files:
            os.chmod(os.path.join(d, f), 0o444)
    before = _tree_digest(a), _tree_digest(ro)
    try:
        assert main(['compare', str(a), str(ro)]) == 0
        out = capsys.readouterr().out
        assert f'damaged record in B, skipped: {damaged}' in out
        assert main(['compare', str(ro), str(a), '--format', 'md']) == 0
        assert (_tree_digest(a), _tree_digest(ro)) == before
    finally:
        for d, _, _ in os.walk(ro):
            os.chmod(d, 0o755)


def test_compare_with_a_log_names_the_iteration_where_the_schedule_differs(tiny_trained, capsys, tmp_path):
    runs, _ = tiny_trained
    scalars = next(runs.glob('work/train/*/*/vis_data/scalars.json'))
    lines = [json.loads(line) for line in scalars.read_text().splitlines()]
    for d in lines:  # the published schedule: the learning rate held from iteration 30 on
        if d.get('iter', 0) >= 30 and 'lr' in d:
            d['lr'] = d['lr'] * 1.5
    log = tmp_path / 'theirs.log.json'
    log.write_text('\n'.join(json.dumps(dict(d, mode='train')) for d in lines if 'iter' in d) + '\n')
    assert main(['compare', str(runs), str(log), '--out', str(tmp_path / 'out')]) == 0
    out = capsys.readouterr().out
    assert 'learning rate: first differs at iteration 30' in out
    assert 'loss: within the log\'s band at every common iteration' in out
    assert (tmp_path / 'out' / 'compare-log.png').stat().st_size > 1000
    assert json.loads((tmp_path / 'out' / 'compare-log.json').read_text())['lr_differs_at'] == 30


def test_report_against_another_store(two_stores, tmp_path, capsys):
    a, b = two_stores
    before = _tree_digest(b)
    assert main(['report', 'tiny', '--tables', os.path.dirname(TINY), '--profile', 'check', '--runs-dir', str(a),
                 '--against', str(b), '--format', 'html', '--out', str(tmp_path)]) == 0
    html = (tmp_path / 'tiny.html').read_text()
    b_miou = json.loads(next((b / 'records' / 'test').glob('*.json')).read_text())['metrics']['miou']
    assert f'B ({b}): {b_miou:.2f}' in html
    assert _tree_digest(b) == before
    assert main(['report', 'tiny', '--tables', os.path.dirname(TINY), '--profile', 'check', '--runs-dir', str(a),
                 '--against', str(tmp_path / 'nowhere')]) == 2
    assert 'is not a results store' in capsys.readouterr().out
