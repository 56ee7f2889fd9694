"""Outputs are written beside their target and renamed into place, or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from ..errors import OutputError


def check_target(path: str | Path, force: bool) -> Path:
    path = Path(path)
    if path.exists() and not force:
        raise OutputError(f"{path} exists (use --force to overwrite)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{parent}: output directory does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{parent}: cannot write there (permission denied)")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, force: bool, directory: bool = False,
                replaceable: Callable[[Path], bool] = lambda folder: False) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` (same suffix); renames it over ``path`` when the
    block succeeds, removes it when the block raises (KeyboardInterrupt included).

    With ``directory``, an existing folder is replaced (under --force) only when
    ``replaceable(folder)`` says it is one of ours.
    """
    path = check_target(path, force)
    parent = path.parent
    try:
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=parent))
            os.chmod(tmp, 0o777 & ~_umask())
        else:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{path.suffix}",
                                        dir=parent)
            os.close(fd)
            tmp = Path(name)
            os.chmod(tmp, 0o666 & ~_umask())
    except OSError as exc:
        raise OutputError(f"{parent}: cannot write there ({exc.strerror})") from None
    try:
        yield tmp
        if directory and path.exists():
            if not path.is_dir() or not replaceable(path):
                raise OutputError(f"{path} exists and is not an imfcodec output folder; not replacing it")
            shutil.rmtree(path)
        elif not directory and path.is_dir():
            raise OutputError(f"{path} is a directory")
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_bytes(target: str | Path, data: bytes, force: bool = False) -> Path:
    """Writes ``data`` to ``target`` atomically (synced before the rename)."""
    with atomic_path(target, force) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(target)
