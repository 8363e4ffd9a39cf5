"""Leases: at most one process computes a record at a time, on one machine or on a
cluster's shared file system.

A lease is ``<runs>/leases/<key>.json`` holding host, pid, SLURM job id, start time
and a heartbeat that a background thread refreshes. It is taken with ``os.link`` of
a fully written temp file, which is atomic and fails if the lease exists, also on
NFS (``O_EXCL`` is not reliable there, and ``flock`` does not cross hosts). A lease
is stale when its heartbeat is older than ``stale_after`` seconds, or, on the same
host, when its process is gone; a stale lease is taken over by renaming it aside
(only one of several contenders' renames succeeds).
"""
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Optional

from experiments.core.environment import value


def heartbeat_s() -> float:
    """Seconds between a running task's heartbeats ($UMIX_HEARTBEAT_S, checked)."""
    return value('UMIX_HEARTBEAT_S', 30.0)


def stale_after_s() -> float:
    """A lease without a heartbeat for this long is taken over ($UMIX_STALE_AFTER_S, checked)."""
    return value('UMIX_STALE_AFTER_S', 10 * heartbeat_s())


@dataclass
class Holder:
    host: str
    pid: int
    slurm_job: str
    started: float
    heartbeat: float
    token: str

    def describe(self) -> str:
        job = f' (SLURM job {self.slurm_job})' if self.slurm_job else ''
        return (f'being computed by pid {self.pid} on host {self.host}{job} since '
                f'{time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))}')


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lease:
    """The lease of one record key under a runs folder."""

    def __init__(self, root: str, key: str) -> None:
        self.path = os.path.join(root, 'leases', key + '.json')
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- reading -------------------------------------------------------------------
    def holder(self) -> Optional[Holder]:
        try:
            with open(self.path) as f:
                return Holder(**json.load(f))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def is_stale(self, holder: Holder, now: Optional[float] = None) -> bool:
        now = time.time() if now is None else now
        if holder.host == socket.gethostname() and not _pid_alive(holder.pid):
            return True
        return now - holder.heartbeat > stale_after_s()

    # -- taking and giving back ---------------------------------------------------
    def _write_tmp(self, started: float) -> str:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f'{self.path}.{self.token}.tmp'
        info = dict(host=socket.gethostname(), pid=os.getpid(), slurm_job=os.environ.get('SLURM_JOB_ID', ''),
                    started=started, heartbeat=time.time(), token=self.token)
        with open(tmp, 'w') as f:
            json.dump(info, f)
        return tmp

    def try_acquire(self) -> Optional[Holder]:
        """Takes the lease (returns None) or returns the live holder."""
        for _ in range(3):
            tmp = self._write_tmp(time.time())
            try:
                os.link(tmp, self.path)
                return None
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
            holder = self.holder()
            if holder is None:  # vanished or half-visible: look again
                time.sleep(0.05)
                continue
            if not self.is_stale(holder):
                return holder
            try:  # take over: move the stale lease aside; one contender wins
                os.rename(self.path, f'{self.path}.stale-{self.token}')
                os.unlink(f'{self.path}.stale-{self.token}')
            except FileNotFoundError:
                pass
        holder = self.holder()
        if holder is None:
            raise RuntimeError(f'cannot take the lease {self.path}')
        return holder

    def acquire(self, wait: bool = False, poll_s: float = 5.0) -> Optional[Holder]:
        """Takes the lease and starts the heartbeat; returns None when taken, else
        the holder (or, with ``wait``, polls until the lease is free)."""
        while True:
            holder = self.try_acquire()
            if holder is None:
                self._thread = threading.Thread(target=self._beat, daemon=True)
                self._thread.start()
                return None
            if not wait:
                return holder
            time.sleep(poll_s)

    def _beat(self) -> None:
        started = time.time()
        while not self._stop.wait(heartbeat_s()):
            cur = self.holder()
            if cur is None or cur.token != self.token:
                return  # taken over (we were judged stale): stop touching it
            tmp = self._write_tmp(cur.started or started)
            os.replace(tmp, self.path)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        cur = self.holder()
        if cur is not None and cur.token == self.token:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
