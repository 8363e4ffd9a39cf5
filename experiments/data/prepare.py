"""From the downloaded archives to a dataset root mmseg reads.

    run-experiment data prepare ade20k ADEChallengeData2016.zip [--root DIR]
    run-experiment data prepare cityscapes leftImg8bit_trainvaltest.zip gtFine_trainvaltest.zip [--root DIR]

Each archive is recognised by its content (``archives.identify``) and hashed (sha256, and
the published digest's kind where one is known). The free disk space is checked against
what is still to be written. Members are streamed out of the zip into
``<parent>/.<root name>.partial/`` (each file written under a temporary name and renamed
once complete, so an interrupted run leaves only whole files and the same command
resumes where it stopped); for Cityscapes the train-id labels are then made by
cityscapesscripts' ``json2labelImg`` (what mmseg's converter runs) on every CPU of the
allocation. The folder is verified (``data_check``) and only then renamed into place:
the root either does not exist or is complete and checked.
"""
import json
import os
import shutil
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

from experiments.core.files import atomic_write, digests
from experiments.data.archives import PARTS, ArchiveError, Part, digest_verdict, identify, members, open_archive
from experiments.data.check import Verification, verify

STATE = '.umixformer-prepare.json'  # in the partial folder while it is made, in the root after
Progress = Callable[[str, int, int, str], None]


@dataclass
class Prepared:
    root: str
    archives: List[dict] = field(default_factory=list)  # name, path, size, digests, verdict
    extracted: int = 0  # files written by this call
    resumed: int = 0  # files already there from an interrupted call
    labels: int = 0  # train-id label images made by this call
    verification: Optional[Verification] = None
    placed: bool = False  # renamed into place (the check found no problem)


def partial_dir(root: str) -> str:
    root = os.path.abspath(root)
    return os.path.join(os.path.dirname(root), f'.{os.path.basename(root)}.partial')


def _read_state(folder: str) -> dict:
    try:
        with open(os.path.join(folder, STATE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _hash(path: str, part: Part, cached: dict, progress: Optional[Progress]) -> Dict[str, str]:
    """Digests of the archive, from the partial folder's state when the file is unchanged."""
    st = os.stat(path)
    stamp = [st.st_size, st.st_mtime_ns]
    if cached.get('stamp') == stamp and 'sha256' in cached.get('digests', {}):
        return cached['digests']
    return digests(path, [part.digest[0]] if part.digest else ['md5'], progress)


def _sorted_archives(dataset: str, paths: Sequence[str]) -> List[tuple]:
    """(part, path, zipfile) per archive, in the dataset's order; each part exactly once."""
    found: Dict[str, tuple] = {}
    for path in paths:
        zf = open_archive(path)
        part = identify(dataset, zf.namelist(), path)
        if part.name in found:
            raise ArchiveError(f'{path} and {found[part.name][1]} are both {part.name}; give each archive once')
        found[part.name] = (part, os.path.abspath(path), zf)
    missing = [p.name for p in PARTS[dataset] if p.name not in found]
    if missing:
        raise ArchiveError(f'{dataset} needs {" and ".join(missing)} too (given: '
                           f'{", ".join(os.path.basename(p) for p in paths)}); pass every archive in one command')
    return [found[p.name] for p in PARTS[dataset]]


def _sweep(folder: str) -> int:
    """Removes what a killed run left half-written (``*.part``, ``.tmp-*``): never renamed into place."""
    removed = 0
    for d, _, files in os.walk(folder):
        for name in files:
            if name.endswith('.part') or name.startswith('.tmp-'):
                os.unlink(os.path.join(d, name))
                removed += 1
    return removed


def _label_jobs(folder: str) -> List[tuple]:
    """(polygons json, train-id label png) for every Cityscapes annotation without its label."""
    jobs = []
    for dirpath, dirs, files in os.walk(os.path.join(folder, 'gtFine')):
        dirs.sort()  # one order everywhere: a rerun after a bad file goes the same way
        for name in sorted(files):
            if name.endswith('_gtFine_polygons.json'):
                out = os.path.join(dirpath, name.replace('_polygons.json', '_labelTrainIds.png'))
                if not os.path.exists(out):
                    jobs.append((os.path.join(dirpath, name), out))
    return jobs


def _needed_bytes(todo: List[tuple], folder: str, labels_left: bool) -> int:
    need = sum(info.file_size for _, _, info, rel in todo)
    if labels_left:  # a train-id label is about the size of its labelIds image (both 8-bit PNGs)
        need += sum(info.file_size for _, _, info, rel in todo if rel.endswith('_gtFine_labelIds.png'))
        need += sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(folder, 'gtFine'))
                    for f in fs if f.endswith('_gtFine_labelIds.png'))
    return need


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dst: str) -> None:
    tmp = dst + '.part'
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        with zf.open(info) as src, open(tmp, 'wb') as out:
            shutil.copyfileobj(src, out, 1 << 20)  # zipfile checks the CRC at the member's end
        os.replace(tmp, dst)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise ArchiveError(f'{zf.filename} is damaged at {info.filename} ({err}): download it again; the files '
                           f'extracted so far are kept in {os.path.dirname(dst)} and the same command resumes') \
            from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _unknown_label(src: str) -> Optional[str]:
    """The first label of a polygon file that cityscapesscripts cannot draw, by its own rule
    (deleted objects skipped, a trailing 'group' dropped): it would print its usage and
    ``sys.exit(-1)`` on it instead of raising."""
    from cityscapesscripts.helpers.labels import name2label
    try:
        with open(src) as f:
            objects = json.load(f).get('objects', [])
    except (ValueError, AttributeError) as err:
        return f'(not a polygon file: {err})'
    for obj in objects:
        name = obj.get('label')
        if obj.get('deleted') or name in name2label:
            continue
        if not (isinstance(name, str) and name.endswith('group') and name[:-len('group')] in name2label):
            return repr(name)
    return None


def _make_label(job: tuple) -> str:
    """One Cityscapes polygon file to its train-id label image (cityscapesscripts), atomically."""
    from cityscapesscripts.preparation.json2labelImg import json2labelImg
    src, dst = job
    bad = _unknown_label(src)
    if bad:
        raise ArchiveError(f'{src}: label {bad} is not a Cityscapes label (cityscapesscripts\' labels.py; the '
                           'official gtFine_trainvaltest.zip holds none such: a modified or newer archive?). Use '
                           'the official archive, or correct that label in the archive, and run the same command '
                           f'again: the files extracted and the labels made so far stay in {_partial_of(src)} and '
                           'are not made again')
    tmp = os.path.join(os.path.dirname(dst), '.tmp-' + os.path.basename(dst))  # .png: PIL picks the format
    json2labelImg(src, tmp, 'trainIds')
    os.replace(tmp, dst)
    return dst


def _partial_of(path: str) -> str:
    """The partial folder a file under ``<partial>/gtFine/...`` lies in."""
    head, sep, _ = path.rpartition(os.sep + 'gtFine' + os.sep)
    return head if sep else os.path.dirname(path)


def make_labels(folder: str, workers: int, progress: Optional[Progress] = None) -> int:
    """The missing ``*_gtFine_labelTrainIds.png`` under ``folder``, in ``workers`` processes."""
    from concurrent.futures import ProcessPoolExecutor
    jobs = _label_jobs(folder)
    if not jobs:
        return 0
    if workers <= 1 or len(jobs) < 8:
        for i, job in enumerate(jobs):
            _make_label(job)
            progress and progress('train-id labels', i + 1, len(jobs), '')
        return len(jobs)
    with ProcessPoolExecutor(workers) as pool:
        for i, _ in enumerate(pool.map(_make_label, jobs, chunksize=16)):
            progress and progress('train-id labels', i + 1, len(jobs), '')
    return len(jobs)


def prepare(dataset: str, archive_paths: Sequence[str], root: str, workers: int, cache_dir: Optional[str] = None,
            allow_other_digest: bool = False, progress: Optional[Progress] = None,
            say: Callable[[str], None] = print) -> Prepared:
    """Extracts, converts and verifies; the root appears only when all of it passed.

    Raises:
        ArchiveError: a wrong, damaged or missing archive, a root that exists, too
            little disk space, or a digest that differs from the published one.
    """
    root = os.path.abspath(root)
    if os.path.exists(root):
        if _read_state(root).get('complete'):
            raise ArchiveError(f'{root} was prepared already (see {os.path.join(root, STATE)}); '
                               f'`run-experiment data check {dataset} --root {root}` verifies it')
        raise ArchiveError(f'{root} exists; refusing to write into it. Choose another --root, or remove it '
                           'if it is a broken copy')
    archives = _sorted_archives(dataset, archive_paths)
    folder = partial_dir(root)
    os.makedirs(folder, exist_ok=True)
    try:
        return _prepare_in(dataset, root, folder, archives, cache_dir, workers, allow_other_digest, progress, say)
    except ArchiveError as err:
        left = [f for f in os.listdir(folder) if f != STATE] if os.path.isdir(folder) else []
        if not left:  # refused before anything was extracted: nothing to go on from, nothing left behind
            shutil.rmtree(folder, ignore_errors=True)
            raise
        raise ArchiveError(f'{err}. The files extracted so far stay in {folder}: the same command goes on from '
                           'them once the archive is right; remove that folder to start over') from None


def _prepare_in(dataset: str, root: str, folder: str, archives, cache_dir, workers, allow_other_digest, progress,
                say) -> 'Prepared':
    """``prepare``'s work in the partial folder ``folder``."""
    state = _read_state(folder)
    if state and state.get('dataset') != dataset:
        raise ArchiveError(f'{folder} holds an interrupted preparation of {state.get("dataset")}; remove it first')
    result = Prepared(root=root)
    known = {a['name']: a for a in state.get('archives', [])}
    for part, path, _ in archives:
        found = _hash(path, part, known.get(part.name, {}), progress)
        verdict = digest_verdict(part, found)
        st = os.stat(path)
        result.archives.append(dict(name=part.name, path=path, size=st.st_size, stamp=[st.st_size, st.st_mtime_ns],
                                    digests=found, verdict=verdict))
        say(f'{part.name}: sha256 {found["sha256"]}' + ''.join(f', {a} {v}' for a, v in found.items()
                                                                   if a != 'sha256') + f'\n  {verdict}')
        if 'DIFFERS' in verdict and not allow_other_digest:
            raise ArchiveError(f'{path} is not the published {part.name} (its {part.digest[0]} differs): a damaged or '
                               'different download. Download it again, or pass --allow-other-digest to prepare '
                               'it anyway (the dataset identity in every record key follows the files)')
    atomic_write(os.path.join(folder, STATE), json.dumps(dict(dataset=dataset, archives=result.archives), indent=1))
    _sweep(folder)  # a run killed outright (SIGKILL, power) left its temporary files
    todo, seen = [], set()
    for part, path, zf in archives:
        for info, rel in members(zf, part):
            if rel in seen:
                continue  # README and licence come in both Cityscapes archives
            seen.add(rel)
            dst = os.path.join(folder, rel)
            if os.path.isfile(dst) and os.path.getsize(dst) == info.file_size:
                result.resumed += 1
            else:
                todo.append((part, zf, info, rel))
    labels_left = dataset == 'cityscapes'
    need, free = _needed_bytes(todo, folder, labels_left), shutil.disk_usage(folder).free
    if need > free:
        raise ArchiveError(f'{os.path.dirname(folder)} has {free / 2**30:.1f} GiB free; preparing {dataset} needs '
                           f'{need / 2**30:.1f} GiB more. Free some space or choose --root on another disk')
    total, done = sum(info.file_size for _, _, info, _ in todo), 0
    for part, zf, info, rel in todo:
        _extract(zf, info, os.path.join(folder, rel))
        done += info.file_size
        result.extracted += 1
        progress and progress('extract', result.extracted, len(todo), f'files, {done >> 20:,} of {total >> 20:,} MiB')
    if labels_left:
        result.labels = make_labels(folder, workers, progress)
    result.verification = verify(dataset, folder, cache_dir=cache_dir, workers=workers, progress=progress,
                                 expect_official=True)
    if result.verification.problems():
        return result  # the caller shows the check; the files stay in the partial folder
    atomic_write(os.path.join(folder, STATE), json.dumps(
        dict(dataset=dataset, complete=True, archives=result.archives,
             counts=result.verification.counts()), indent=1))
    os.replace(folder, root)
    result.placed, result.verification.root = True, root
    return result
