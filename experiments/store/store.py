"""The results store: one JSON record per (stage, run key), written atomically.

A run key identifies *what* is computed, not which table asked for it: a hash of
everything the number depends on (see docs/store.md), the profile and, for
stochastic stages, the seed. Two tables that need the same training run share one
record and one training. A finished record is never overwritten; a damaged one is
moved to ``records/damaged/`` and an invalidated one to ``records/history/``.
Paths inside records are relative to the runs folder, so a store can be moved.
"""
import json
import os
import sys
from dataclasses import asdict
from typing import Dict, Iterator, List, Optional, Tuple

from experiments.core.errors import SuiteError
from experiments.core.files import aside_stamp, atomic_write
from experiments.core.keys import text_hash
from experiments.store.records import DONE, Record, check_record, current


class RecordExistsError(SuiteError, RuntimeError):
    """Refusing to overwrite a finished record."""


class StoreError(SuiteError, ValueError):
    """The runs folder cannot be used (e.g. it is a file)."""


class Store:
    """Records under ``<root>/records/<key>.json``; run folders under ``<root>/work``."""

    def __init__(self, root: str, read_only: bool = False) -> None:
        self.root = os.path.abspath(root)
        # read someone else's store: nothing is written, a damaged record is named and left in place
        self.read_only = read_only
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise StoreError(f'--runs-dir {root} is a file, not a folder: give a folder for the results '
                             '(it is created if missing)')
        parent = os.path.dirname(self.root)
        while not os.path.exists(parent):  # the folder is created under its first existing ancestor
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            raise StoreError(f'--runs-dir {root} lies under {parent}, which is a file, not a folder: give a folder '
                             'for the results')
        self.moved: List[Tuple[str, str, str]] = []  # (damaged file, where it went, why)
        self._seen_damaged: set = set()

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f'{self.root} is read here, never written (a store being compared)')

    def path(self, key: str) -> str:
        return os.path.join(self.root, 'records', key + '.json')

    def work_dir(self, key: str) -> str:
        return os.path.join(self.root, 'work', key)

    def rel(self, path: str) -> str:
        """A path as stored in a record: relative to the runs folder when inside it."""
        ab = os.path.abspath(path)
        return os.path.relpath(ab, self.root) if ab.startswith(self.root + os.sep) else ab

    def abs(self, path: str) -> str:
        """A path read from a record, made absolute (records store them relative)."""
        return path if not path or os.path.isabs(path) else os.path.join(self.root, path)

    def data_dir(self) -> str:
        """Where the built-in datasets are generated."""
        return os.path.join(self.root, 'data')

    def is_builtin_root(self, root: str) -> bool:
        """Whether a dataset root is one of the built-in datasets of this store."""
        return os.path.dirname(root) == self.data_dir()

    def _aside_path(self, path: str, folder: str, stamp: str) -> str:
        """Where the record file ``path`` goes under records/<folder>/, stamped."""
        rel = os.path.relpath(path, os.path.join(self.root, 'records'))
        return os.path.join(self.root, 'records', folder, rel[:-len('.json')] + stamp + '.json')

    def _aside(self, path: str, folder: str) -> str:
        dest = self._aside_path(path, folder, aside_stamp())
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(path, dest)
        return dest

    def _load(self, path: str) -> Optional[Record]:
        """The record in ``path``; a damaged file (not JSON, or a field of the wrong
        type) is moved to records/damaged/ (named on stderr and in ``self.moved``)
        and read as missing. In a store this process cannot write, it is left where
        it is and still read as missing."""
        try:
            with open(path) as f:
                return check_record(json.load(f))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, UnicodeDecodeError) as err:
            why = f'{type(err).__name__}: {err}'.splitlines()[0][:200]
            if path in self._seen_damaged:
                return None
            self._seen_damaged.add(path)
            if self.read_only:
                self.moved.append((path, '', why))
                return None
            try:
                dest = self._aside(path, 'damaged')
            except FileNotFoundError:  # another reader moved it first
                return None
            except OSError as os_err:  # a read-only store (shared, or another user's): report, read on
                dest = f'nowhere (the store is not writable here: {os_err.strerror})'
            self.moved.append((path, dest, why))
            print(f'run-experiment: damaged record {path} ({why}) moved to {dest}; it counts as missing',
                  file=sys.stderr)
            return None

    def get(self, key: str) -> Optional[Record]:
        return self._load(self.path(key))

    def retire(self, key: str) -> Optional[str]:
        """Moves a record and its run folder aside (see ``retire_all``); returns where the record went."""
        return self.retire_all([key]).get(key)

    def retire_all(self, keys: List[str]) -> Dict[str, str]:
        """Sets records aside so that they are recomputed from scratch: each record goes
        to records/history/ and its run folder (checkpoints, logs) to work/history/,
        under the same time stamp; nothing is deleted. The retired records' paths are
        rewritten to where the folders went, so history stays consistent and a rerun
        never resumes from the old run's checkpoints. Returns key -> the record's new path."""
        self._writable()
        stamp = aside_stamp()
        moved_work: Dict[str, str] = {}  # old relative folder -> new relative folder
        for key in keys:
            work = self.work_dir(key)
            if os.path.isdir(work):
                dest = os.path.join(self.root, 'work', 'history', key + stamp)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                os.replace(work, dest)
                moved_work[self.rel(work)] = self.rel(dest)

        def moved(path):
            for old, new in moved_work.items():
                if isinstance(path, str) and (path == old or path.startswith(old + os.sep)):
                    return new + path[len(old):]
            return path
        out: Dict[str, str] = {}
        for key in keys:
            rec = self.get(key)
            if rec is None:
                continue
            rec.artifacts = {k: moved(v) for k, v in rec.artifacts.items()}
            rec.log, rec.resumed_from = moved(rec.log), moved(rec.resumed_from)
            dest = self._aside_path(self.path(key), 'history', stamp)
            atomic_write(dest, json.dumps(asdict(rec), indent=2, sort_keys=True))
            os.unlink(self.path(key))
            out[key] = dest
        return out

    def damaged(self) -> List[str]:
        """Files under records/damaged/, oldest first."""
        base = os.path.join(self.root, 'records', 'damaged')
        out = [os.path.join(d, f) for d, _, fs in os.walk(base) for f in fs]
        return sorted(out, key=os.path.getmtime)

    def is_done(self, key: str) -> bool:
        """Whether the key's record is done by the computation the suite runs now (a stale
        one, of an older ``StageSpec.version``, is computed again)."""
        rec = self.get(key)
        return rec is not None and current(rec)

    def put(self, record: Record) -> str:
        """Writes atomically (temp file + rename). A done record is final."""
        self._writable()
        path = self.path(record.key)
        existing = self.get(record.key)
        if existing is not None and existing.status == DONE:
            raise RecordExistsError(f'{path} is a finished record; it is never overwritten '
                                    '(delete the file to recompute it)')
        return atomic_write(path, json.dumps(asdict(record), indent=2, sort_keys=True))

    def keep_config(self, text: str) -> str:
        """Keeps a resolved config's text (``core.provenance.config_lines``) under
        configs/<sha1 of it>.txt, once; returns its path relative to the store, for a record's
        ``artifacts['resolved_config']``: a store compared without its work folders still has
        each record's config."""
        self._writable()
        rel = os.path.join('configs', text_hash(text) + '.txt')
        if not os.path.exists(os.path.join(self.root, rel)):
            atomic_write(os.path.join(self.root, rel), text)
        return rel

    def records(self) -> Iterator[Record]:
        base = os.path.join(self.root, 'records')
        for dirpath, dirnames, files in os.walk(base):
            if dirpath == base:  # not the damaged and superseded ones
                dirnames[:] = [d for d in dirnames if d not in ('damaged', 'history')]
            for f in sorted(files):
                if f.endswith('.json'):
                    rec = self._load(os.path.join(dirpath, f))
                    if rec is not None:
                        yield rec
