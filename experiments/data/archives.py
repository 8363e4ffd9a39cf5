"""The official dataset archives: what each holds, and their published digests.

    ADE20K      ADEChallengeData2016.zip (the SceneParsing challenge release, 150 classes)
    Cityscapes  leftImg8bit_trainvaltest.zip + gtFine_trainvaltest.zip

An archive is recognised by its member names, never by its file name (downloads get
renamed), so a wrong one is named for what it is: another dataset, the coarse labels,
the extra images, a test-only release.
"""
import os
import zipfile
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from experiments.core.errors import SuiteError


class ArchiveError(SuiteError, ValueError):
    """An archive is not the one the dataset needs, or is damaged."""


@dataclass(frozen=True)
class Part:
    """One official archive of a dataset."""
    name: str  # the file name as published
    prefix: str  # the folder its dataset members lie under
    strip: str  # what is cut from a member's name to place it under the root
    digest: Optional[Tuple[str, str]]  # (algorithm, hex) where one is published
    digest_source: str  # where the digest comes from, or where to compare by hand


PARTS: Dict[str, Tuple[Part, ...]] = {
    'ade20k': (
        Part('ADEChallengeData2016.zip', 'ADEChallengeData2016/images/', 'ADEChallengeData2016/',
             ('sha1', '219e1696abb36c8ba3a3afe7fb2f4b4606a897c7'),
             'GluonCV\'s ADE20K preparation script (dmlc/gluon-cv, scripts/datasets/ade20k.py, '
             'commit a1212784), the download it checks; MIT publishes none'),
    ),
    'cityscapes': (
        Part('leftImg8bit_trainvaltest.zip', 'leftImg8bit/', '', None,
             'none stored: the site shows its md5 after login at '
             'https://www.cityscapes-dataset.com/md5-sum/?packageID=3 (compare the md5 printed here)'),
        Part('gtFine_trainvaltest.zip', 'gtFine/', '', None,
             'none stored: the site shows its md5 after login at '
             'https://www.cityscapes-dataset.com/md5-sum/?packageID=1 (compare the md5 printed here)'),
    ),
}

# Member prefixes of archives a user may take for the right one, and what to do.
LOOKALIKES: Tuple[Tuple[str, str], ...] = (
    ('gtCoarse/', 'Cityscapes\' coarse annotations (gtCoarse.zip); the paper trains and evaluates on the fine '
     'ones: download gtFine_trainvaltest.zip'),
    ('leftImg8bit/train_extra/', 'Cityscapes\' 20k extra images (leftImg8bit_trainextra.zip), used only with '
     'coarse labels; download leftImg8bit_trainvaltest.zip'),
    ('leftImg8bit_sequence/', 'Cityscapes\' video sequences; download leftImg8bit_trainvaltest.zip'),
    ('rightImg8bit/', 'Cityscapes\' right stereo images; download leftImg8bit_trainvaltest.zip'),
    ('release_test/', 'ADE20K\'s test release (no labels, release_test.zip); download ADEChallengeData2016.zip'),
    ('ADE20K_20', 'the full ADE20K release (thousands of classes); the paper uses the SceneParsing '
     'benchmark\'s 150 classes: download ADEChallengeData2016.zip'),
    ('ADEChallengeData2016/', 'ADE20K (ADEChallengeData2016.zip): prepare it with `data prepare ade20k`'),
    ('leftImg8bit/', 'Cityscapes images (leftImg8bit_trainvaltest.zip): prepare it with `data prepare cityscapes`'),
    ('gtFine/', 'Cityscapes fine labels (gtFine_trainvaltest.zip): prepare it with `data prepare cityscapes`'),
)

# a member that is no dataset file (READMEs, licences) is kept once, from the first archive
CHUNK = 1 << 20
# deflate ratio past which a member is a zip bomb, not a dataset file: the official images
# (JPEG, PNG) hardly deflate and the polygon JSONs about 10:1; bombs are 1000:1 and more.
# Checked only from 1 MiB up (a small file of zeros is harmless)
MAX_RATIO, RATIO_FROM = 200, 1 << 20


def open_archive(path: str) -> zipfile.ZipFile:
    """The zip at ``path``, or an ArchiveError saying what it is instead."""
    if os.path.isdir(path):
        raise ArchiveError(f'{path} is a folder, not an archive: pass the .zip file as downloaded, or, '
                           'when it is already extracted, check it with `run-experiment data check DATASET '
                           f'--root {path}`')
    if not os.path.isfile(path):
        raise ArchiveError(f'{path}: no such file')
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise ArchiveError(f'{path} is not a complete zip archive ({err}): a download that broke off? '
                           'Download it again (or resume the download) and rerun') from None


def identify(dataset: str, names: Sequence[str], path: str) -> Part:
    """Which official archive of ``dataset`` holds the members ``names``."""
    for part in PARTS[dataset]:
        if any(n.startswith(part.prefix) for n in names) and not _lookalike_only(part, names):
            return part
    for prefix, what in LOOKALIKES:
        if any(n.startswith(prefix) for n in names):
            raise ArchiveError(f'{path} is not an archive of {dataset} '
                               f'({" and ".join(p.name for p in PARTS[dataset])}): it holds {what}')
    shown = ', '.join(list(names)[:3]) or 'nothing'
    raise ArchiveError(f'{path} is no archive of {dataset}: its first entries are {shown}; expected '
                       f'{" and ".join(p.name for p in PARTS[dataset])} as downloaded')


def _lookalike_only(part: Part, names: Sequence[str]) -> bool:
    """leftImg8bit_trainextra shares its prefix with the right archive: it holds only train_extra."""
    inside = [n for n in names if n.startswith(part.prefix) and not n.endswith('/')]
    return bool(inside) and all(n.startswith(part.prefix + 'train_extra/') for n in inside)


def members(zf: zipfile.ZipFile, part: Part) -> List[Tuple[zipfile.ZipInfo, str]]:
    """(member, path relative to the root) of every file to extract."""
    out = []
    for info in zf.infolist():
        if info.is_dir():
            continue
        name = info.filename
        # checked before the prefix test: an absolute or '..' member of an ADE20K archive does not
        # start with the dataset's folder and was skipped unnamed
        if _escapes(name):
            raise ArchiveError(f'{zf.filename}: member {name!r} points outside the dataset folder (an absolute '
                               'path or ".."): no official archive holds one; refusing the archive. Download it '
                               'again from the official site')
        if part.strip and not name.startswith(part.strip):
            continue  # outside the dataset's folder (none in the official archive)
        rel = os.path.normpath(name[len(part.strip):])
        if rel.startswith('..') or os.path.isabs(rel):
            raise ArchiveError(f'{zf.filename}: member {name!r} points outside the dataset folder; refusing it')
        if info.file_size >= RATIO_FROM and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ArchiveError(f'{zf.filename}: member {name!r} would inflate {info.compress_size:,} bytes to '
                               f'{info.file_size:,} (more than {MAX_RATIO}:1, a zip bomb, not a dataset file); '
                               'refusing the archive before extracting anything. Download it again from the '
                               'official site')
        out.append((info, rel))
    return out


def _escapes(name: str) -> bool:
    """A member name that is absolute (also a Windows drive or backslash path) or climbs out."""
    parts = name.replace('\\', '/').split('/')
    return name.startswith(('/', '\\')) or (len(name) > 1 and name[1] == ':') or '..' in parts


def digest_verdict(part: Part, found: Dict[str, str]) -> str:
    """'matches ...', 'DIFFERS ...' or 'no published digest ...'."""
    if part.digest is None:
        return part.digest_source
    algo, value = part.digest
    if found.get(algo) == value:
        return f'{algo} matches the published {value[:12]}... ({part.digest_source})'
    return (f'{algo} {found.get(algo, "?")[:12]}... DIFFERS from the published {value[:12]}... '
            f'({part.digest_source})')
