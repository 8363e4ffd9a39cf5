"""`run-experiment data prepare|check`: from small archives with the official member names
to roots mmseg's dataset classes read; resumable, checked, and refusing wrong archives
with nothing half-written."""
import os
import shutil
import zipfile

import numpy as np
import pytest

from experiments.data import prepare as data_prepare
from experiments.cli import main
from experiments.data.check import verify
from experiments.data.prepare import partial_dir
from official_archives import (CITY_TRAIN_IDS, damage_member, declare_size, make_ade_zip, make_cityscapes_zips,
                               rewrite_member)


def _out(capsys) -> str:
    return ' '.join(capsys.readouterr().out.split())


@pytest.fixture(scope='module')
def city_zips(tmp_path_factory):
    return make_cityscapes_zips(str(tmp_path_factory.mktemp('downloads')))


def _load(dataset_cls, root, img, seg, **kw):
    """Every sample of a split through mmseg's dataset class and its loading transforms."""
    from mmseg.datasets.transforms import LoadAnnotations
    from mmcv.transforms import LoadImageFromFile
    ds = dataset_cls(data_root=root, data_prefix=dict(img_path=img, seg_map_path=seg),
                     pipeline=[LoadImageFromFile(), LoadAnnotations(**kw)], **kw)
    return [ds[i] for i in range(len(ds))]


def test_ade20k_prepare_check_and_load(tmp_path, capsys):
    from mmseg.datasets import ADE20KDataset
    archive = make_ade_zip(str(tmp_path / 'ADEChallengeData2016.zip'))
    root = tmp_path / 'data' / 'ADEChallengeData2016'
    runs = ['--runs-dir', str(tmp_path / 'runs')]
    # the published sha1 is not this archive's: refused unless allowed, and nothing written at the root
    assert main(['data', 'prepare', 'ade20k', archive, '--root', str(root)] + runs) == 2
    out = _out(capsys)
    assert 'sha256 ' in out and 'DIFFERS from the published 219e1696abb3' in out and 'gluon-cv' in out
    assert '--allow-other-digest' in out and not root.exists()
    assert main(['data', 'prepare', 'ade20k', archive, '--root', str(root), '--allow-other-digest'] + runs) == 0
    out = _out(capsys)
    assert '│ train │ 3 │ 20,210 │ 0 │ 0 │ 0 │ 0 │' in out and '│ val │ 2 │ 2,000 │' in out
    assert 'ade20k ready at' in out and 'numbers from this root are not the paper' in out
    assert sorted(os.listdir(root)) == ['.umixformer-prepare.json', 'annotations', 'images', 'objectInfo150.txt',
                                        'sceneCategories.txt']
    assert not os.path.exists(partial_dir(str(root)))
    samples = _load(ADE20KDataset, str(root), 'images/training', 'annotations/training', reduce_zero_label=True)
    assert len(samples) == 3 and samples[0]['gt_seg_map'].shape == samples[0]['img'].shape[:2]
    # the check again: cached (keyed by the file list), the same table
    assert main(['data', 'check', 'ade20k', '--root', str(root)] + runs) == 0
    assert '(cached check)' in _out(capsys)
    # a second prepare does not touch the finished root
    assert main(['data', 'prepare', 'ade20k', archive, '--root', str(root), '--allow-other-digest'] + runs) == 2
    assert 'was prepared already' in _out(capsys)


def test_cityscapes_prepare_converts_with_cityscapesscripts(city_zips, tmp_path, capsys):
    from mmseg.datasets import CityscapesDataset
    left, gt = city_zips
    root = tmp_path / 'cityscapes'
    # the archives in any order; the train-id labels made by cityscapesscripts' json2labelImg
    assert main(['data', 'prepare', 'cityscapes', gt, left, '--root', str(root), '--workers', '2',
                 '--runs-dir', str(tmp_path / 'runs')]) == 0
    out = _out(capsys)
    assert 'packageID=3' in out and 'packageID=1' in out and 'md5 ' in out
    assert '5 train-id labels made' in out and 'cityscapes ready at' in out
    assert sorted(os.listdir(root)) == ['.umixformer-prepare.json', 'README', 'gtFine', 'leftImg8bit', 'license.txt']
    samples = _load(CityscapesDataset, str(root), 'leftImg8bit/train', 'gtFine/train')
    assert len(samples) == 2
    import json
    from cityscapesscripts.helpers.labels import name2label
    ann_path = os.path.join(root, 'gtFine', 'train', 'aachen', 'aachen_000000_000019_gtFine_polygons.json')
    with open(ann_path) as f:
        ann = json.load(f)
    seg = next(s['gt_seg_map'] for s in samples if 'aachen_000000' in s['seg_map_path'])
    values = set(np.unique(seg).tolist())
    assert values <= set(CITY_TRAIN_IDS.values()) | {255} and {0, 2, 10, 13} <= values
    for name in ('road', 'sky'):  # a point inside each large polygon has its train id
        poly = next(o['polygon'] for o in ann['objects'] if o['label'] == name)
        ys = sorted({p[1] for p in poly})
        y, x = (ys[0] + ys[-1]) // 2, ann['imgWidth'] - 3
        assert seg[y, x] == name2label[name].trainId == CITY_TRAIN_IDS[name]


@pytest.mark.parametrize('case', ['folder', 'truncated', 'text', 'other-dataset', 'coarse', 'one-archive',
                                  'ade-test-release', 'absolute-member', 'climbing-member', 'bomb', 'declared-huge'])
def test_wrong_archives_are_named_and_nothing_is_written(case, city_zips, tmp_path, capsys):
    left, gt = city_zips
    dataset, given, expect = 'cityscapes', None, None
    if case == 'folder':
        given, expect = [str(tmp_path)], 'is a folder, not an archive'
    elif case == 'truncated':
        cut = tmp_path / 'gtFine_trainvaltest.zip'
        cut.write_bytes(open(gt, 'rb').read()[:os.path.getsize(gt) // 2])
        given, expect = [left, str(cut)], 'is not a complete zip archive'
    elif case == 'text':
        page = tmp_path / 'leftImg8bit_trainvaltest.zip'
        page.write_text('<html>please log in</html>')
        given, expect = [str(page), gt], 'is not a complete zip archive'
    elif case == 'other-dataset':
        given, expect = [make_ade_zip(str(tmp_path / 'a.zip')), gt], 'it holds ADE20K (ADEChallengeData2016.zip)'
    elif case == 'coarse':
        _, coarse = make_cityscapes_zips(str(tmp_path), gt_name='gtCoarse')
        given, expect = [left, coarse], 'coarse annotations (gtCoarse.zip)'
    elif case == 'one-archive':
        given, expect = [left], 'needs gtFine_trainvaltest.zip too'
    elif case == 'ade-test-release':
        test_zip = tmp_path / 'release_test.zip'
        with zipfile.ZipFile(test_zip, 'w') as zf:
            zf.writestr('release_test/testing/ADE_test_00000001.jpg', b'jpg')
        dataset, given, expect = 'ade20k', [str(test_zip)], 'ADE20K\'s test release'
    elif case in ('absolute-member', 'climbing-member'):  # outside ADEChallengeData2016/: was skipped unnamed
        name = '/etc/cron.d/x' if case == 'absolute-member' else 'ADEChallengeData2016/../../x'
        archive = make_ade_zip(str(tmp_path / 'ADEChallengeData2016.zip'), extra={name: b'x'})
        dataset, given, expect = 'ade20k', [archive], f"member '{name}' points outside the dataset folder"
    elif case in ('bomb', 'declared-huge'):  # refused before anything is extracted
        bomb = str(tmp_path / 'gtFine_trainvaltest.zip')
        if case == 'bomb':  # 64 MiB of zeros deflate to 64 KiB
            name = rewrite_member(gt, bomb, '_polygons.json', lambda data: bytes(64 << 20))
            expect = f"member '{name}' would inflate"
        else:  # a header declaring 3.9 GB for a small member
            shutil.copy(gt, bomb)
            declare_size(bomb, 'README', 0xF0000000)
            expect = "member 'README' would inflate"
        given = [left, bomb]
    root = tmp_path / 'root'
    assert main(['data', 'prepare', dataset, *given, '--root', str(root), '--runs-dir', str(tmp_path / 'runs'),
                 '--allow-other-digest']) == 2
    assert expect in _out(capsys)
    assert not root.exists()
    assert not os.path.exists(partial_dir(str(root)))  # refused before extracting: nothing left behind


def test_an_unknown_cityscapes_label_is_named_and_the_rerun_resumes(city_zips, tmp_path, capsys):
    """cityscapesscripts prints another program's usage and exits -1 on a label it does not
    know; the suite names the file and the label, keeps what was made, and resumes."""
    import json
    left, gt = city_zips
    bad = str(tmp_path / 'gtFine_trainvaltest.zip')

    def relabel(data):
        ann = json.loads(data)
        ann['objects'][-1]['label'] = 'flying saucer'
        return json.dumps(ann).encode()
    member = rewrite_member(gt, bad, 'frankfurt_000001_000019_gtFine_polygons.json', relabel)
    root = tmp_path / 'cityscapes'
    args = ['--root', str(root), '--runs-dir', str(tmp_path / 'runs'), '--workers', '1']
    assert main(['data', 'prepare', 'cityscapes', left, bad] + args) == 2
    out = _out(capsys)
    partial = partial_dir(str(root))
    assert f"{os.path.join(partial, member)}: label 'flying saucer' is not a Cityscapes label" in out
    assert f'stay in {partial}' in out and 'USAGE' not in out and 'ERROR' not in out
    assert not root.exists()
    made = [f for _, _, fs in os.walk(partial) for f in fs if f.endswith('_labelTrainIds.png')]
    assert len(made) == 4  # the labels before the bad file (the last, in sorted order): kept
    # the official archive: the same command resumes and makes only the labels still missing
    assert main(['data', 'prepare', 'cityscapes', left, gt] + args) == 0
    out = _out(capsys)
    assert 'already there (resumed)' in out and '1 train-id labels made' in out
    assert 'cityscapes ready at' in out


def test_interrupted_extraction_resumes_and_damage_is_named(city_zips, tmp_path, monkeypatch, capsys):
    left, gt = city_zips
    root = str(tmp_path / 'cityscapes')
    real, calls = data_prepare._extract, []

    def stop_after_four(zf, info, dst):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append(dst)
        real(zf, info, dst)
    monkeypatch.setattr(data_prepare, '_extract', stop_after_four)
    with pytest.raises(KeyboardInterrupt):
        data_prepare.prepare('cityscapes', [left, gt], root, workers=1)
    assert not os.path.exists(root)
    partial = partial_dir(root)
    written = [os.path.join(d, f) for d, _, fs in os.walk(partial) for f in fs if not f.startswith('.umix')]
    assert sorted(written) == sorted(calls) and not any(p.endswith('.part') for p in written)
    monkeypatch.setattr(data_prepare, '_extract', real)
    # what a SIGKILL leaves: a half-written member and a half-written label (never renamed into place)
    open(calls[-1] + '.part', 'wb').close()
    os.makedirs(os.path.join(partial, 'gtFine', 'val', 'frankfurt'), exist_ok=True)
    open(os.path.join(partial, 'gtFine', 'val', 'frankfurt', '.tmp-x_gtFine_labelTrainIds.png'), 'wb').close()
    result = data_prepare.prepare('cityscapes', [left, gt], root, workers=1)
    assert result.placed and result.resumed == 4 and result.extracted == len(_members(left, gt)) - 4
    assert not [f for _, _, fs in os.walk(root) for f in fs if f.endswith('.part') or f.startswith('.tmp-')]
    assert not result.verification.warnings()[2:]  # the pair counts only: no stray label
    # a damaged member (bad CRC) is named; the whole files stay for the next attempt
    bad = str(tmp_path / 'leftImg8bit_trainvaltest.zip')
    shutil.copy(left, bad)
    name = damage_member(bad, '_leftImg8bit.png')
    root2 = tmp_path / 'c2'
    assert main(['data', 'prepare', 'cityscapes', bad, gt, '--root', str(root2), '--allow-other-digest',
                 '--runs-dir', str(tmp_path / 'runs')]) == 2
    out = _out(capsys)
    assert f'is damaged at {name}' in out and 'the same command resumes' in out and not root2.exists()


def _members(*zips):
    names = set()
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            names |= {i.filename for i in zf.infolist() if not i.is_dir()}
    return names


def test_too_little_disk_space_is_said_before_writing(city_zips, tmp_path, monkeypatch, capsys):
    import collections
    usage = collections.namedtuple('usage', 'total used free')
    monkeypatch.setattr(data_prepare.shutil, 'disk_usage', lambda p: usage(10**12, 10**12 - 1000, 1000))
    root = tmp_path / 'cityscapes'
    assert main(['data', 'prepare', 'cityscapes', *city_zips, '--root', str(root),
                 '--runs-dir', str(tmp_path / 'runs')]) == 2
    out = _out(capsys)
    assert 'GiB free; preparing cityscapes needs' in out and 'choose --root on another disk' in out
    assert not os.path.exists(partial_dir(str(root)))


def test_check_names_bad_labels_unmatched_files_and_sizes(tmp_path, capsys):
    import cv2
    archive = make_ade_zip(str(tmp_path / 'ADEChallengeData2016.zip'), n_train=4)
    root = tmp_path / 'ade'
    data_prepare.prepare('ade20k', [archive], str(root), workers=1, allow_other_digest=True)
    runs = ['--runs-dir', str(tmp_path / 'runs')]
    ann = root / 'annotations' / 'training'
    label = cv2.imread(str(ann / 'ADE_train_00000001.png'), cv2.IMREAD_UNCHANGED)
    label[0, 0] = 200  # outside 0..150: a wrong conversion
    cv2.imwrite(str(ann / 'ADE_train_00000001.png'), label)
    other = cv2.imread(str(ann / 'ADE_train_00000002.png'), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(ann / 'ADE_train_00000002.png'), other[:-4])  # another size than its image
    os.unlink(ann / 'ADE_train_00000003.png')  # an image without its label
    assert main(['data', 'check', 'ade20k', '--root', str(root)] + runs) == 1
    out = _out(capsys)
    assert 'ADE_train_00000001: values [200] (allowed 0..150)' in out
    assert 'ADE_train_00000002: image 192x256, label 188x256' in out
    assert '1 image(s) without a label, e.g. ADE_train_00000003.jpg' in out
    # the cache follows the files: the fixed folder is checked again, not read from the cache
    cv2.imwrite(str(ann / 'ADE_train_00000001.png'), label * 0)
    check = verify('ade20k', str(root), str(tmp_path / 'runs' / 'cache'))
    assert not check.cached and len(check.problems()) == 2
    # and a run on this root stops before any job, naming the problem
    assert main(['plan', 'tiny', '--tables', os.path.join(os.path.dirname(__file__), 'data', 'tables'),
                 '--profile', 'tiny', '--rows', 'umix-b0', '--data-root', f'ade20k={root}'] + runs) == 0
    assert '2 problem(s)' in _out(capsys)
    assert main(['run', 'tiny', '--tables', os.path.join(os.path.dirname(__file__), 'data', 'tables'),
                 '--profile', 'tiny', '--rows', 'umix-b0', '--data-root', f'ade20k={root}'] + runs) == 2
    out = _out(capsys)
    assert 'cannot be used' in out and 'ADE_train_00000002: image 192x256' in out


@pytest.mark.parametrize('dataset', ['ade20k', 'cityscapes'])
def test_the_session_copy_is_a_fresh_generation(dataset, tmp_path):
    """The runs folders of this test session get the built-in data as a copy of one
    generation (conftest.builtin_data_once): byte for byte what the generator writes."""
    from experiments.data.check import prepare_root
    from experiments.data.datasets import generate_synthetic
    copied = prepare_root(dataset, str(tmp_path / 'copied'), True).root
    fresh = generate_synthetic(dataset, str(tmp_path / 'fresh'))

    def files(root):
        return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), 'rb').read()
                for d, _, fs in os.walk(root) for f in fs}
    a, b = files(copied), files(fresh)
    assert len(a) > 100 and a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []


SLOW_PREPARE = '''
import sys, time
from experiments.data import prepare
real = prepare._extract

def slow(zf, info, dst):  # each member a little slower, so that the kill lands mid-extraction
    real(zf, info, dst)
    time.sleep(0.3)
prepare._extract = slow
from experiments.cli import main
sys.exit(main(sys.argv[1:]))
'''


def test_sigkill_mid_prepare_then_the_same_command_resumes(city_zips, tmp_path, capsys):
    """A real SIGKILL (OOM killer, a node going down) during extraction: nothing is left
    half-placed under a final name, the root does not appear, and the same command
    resumes with the files already whole."""
    import signal
    import subprocess
    import sys
    import time
    from conftest import ROOT
    from experiments.cli import main
    left, gt = city_zips
    root = tmp_path / 'cityscapes'
    argv = ['data', 'prepare', 'cityscapes', left, gt, '--root', str(root), '--runs-dir', str(tmp_path / 'runs'),
            '--workers', '1']
    proc = subprocess.Popen([sys.executable, '-c', SLOW_PREPARE, *argv], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    partial = partial_dir(str(root))
    deadline = time.time() + 120

    def whole():
        return [os.path.join(d, f) for d, _, fs in os.walk(partial) for f in fs
                if not f.startswith('.umix') and not f.endswith('.part')]
    try:
        while time.time() < deadline and len(whole()) < 4 and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, 'prepare ended before the kill'
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert not root.exists()
    kept = whole()
    members = {i.filename for z in (left, gt) for i in zipfile.ZipFile(z).infolist() if not i.is_dir()}
    for path in kept:  # every file under its final name is whole: the archive's bytes
        rel = os.path.relpath(path, partial)
        src = left if rel.startswith('leftImg8bit') else gt
        with zipfile.ZipFile(src) as zf:
            assert open(path, 'rb').read() == zf.read(rel), rel
    capsys.readouterr()
    assert main(argv) == 0  # the same command, in full
    assert f'{len(kept)} already there (resumed)' in ' '.join(capsys.readouterr().out.split())
    placed = {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}
    assert members <= placed and not [f for f in placed if f.endswith('.part') or '/.tmp-' in '/' + f]
    assert not os.path.exists(partial)
