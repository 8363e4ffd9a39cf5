"""Files written whole or not at all, and their digests."""
import hashlib
import os
import tempfile
import time
import uuid
from typing import Callable, Dict, Optional, Sequence, Union

CHUNK = 1 << 20  # bytes read at a time


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str, text: Union[str, bytes]) -> str:
    """Writes ``text`` (or bytes) to ``path`` through a temp file in the same folder
    and a rename, so a reader sees the old file or the whole new one, never a part."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.part')
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600: respect the umask
        with os.fdopen(fd, 'wb' if isinstance(text, bytes) else 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def aside_stamp() -> str:
    """The suffix of a file or folder set aside: when, by which process, and a few
    random letters (one process may set the same key aside twice in a second)."""
    return time.strftime('.%Y%m%d-%H%M%S') + f'.{os.getpid()}.{uuid.uuid4().hex[:6]}'


def digests(path: str, algorithms: Sequence[str], progress: Optional[Callable] = None) -> Dict[str, str]:
    """Hex digests of the file in one read (sha256 always, plus the published kind)."""
    hashes = {a: hashlib.new(a) for a in dict.fromkeys(['sha256', *algorithms])}
    total, done = os.path.getsize(path), 0
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(16 * CHUNK), b''):
            for h in hashes.values():
                h.update(block)
            done += len(block)
            if progress:
                progress(f'sha256 {os.path.basename(path)}', done >> 20, max(total >> 20, 1), 'MiB')
    return {a: h.hexdigest() for a, h in hashes.items()}


def sha256_of(path: str) -> str:
    """The sha256 of a file (hex): the digest of archives, checkpoints and weights alike."""
    return digests(path, [])['sha256']
