"""Outputs are written beside their target and renamed into place, or not at all.

Without --force the placement itself refuses a target that exists by then (check_target looks
before the work, minutes earlier; another program or a second encode may have made the file
since): a file is hard-linked into place, which never replaces, and a folder renamed over an
empty folder made for it (_place).

A target that exists and is not a regular file (a device such as /dev/null, a FIFO, a socket)
is never replaced by a rename: byte outputs are written through to it, as FFmpeg does, and
anything else is refused. A full disk is an OutputError, and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import OutputError

# write errors that say the output cannot be written, not that imfcodec has a bug
NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


def special(path: Path) -> bool:
    """Whether ``path`` exists and is neither a regular file nor a folder (a device, a FIFO)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_target(path: str | Path, force: bool, inputs: Iterable[str | Path] = ()) -> Path:
    """An output path that may be written: not existing (or ``force``), in a writable folder,
    and not one of the ``inputs`` (which --force would destroy)."""
    path = Path(path)
    for source in inputs:
        try:
            if path.exists() and os.path.samefile(path, source):
                raise OutputError(f"{path} is the input; refusing to write over it")
        except OSError:
            pass
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


def _temporary(path: Path, directory: bool) -> Path:
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
    return tmp


# link() errors that say the filesystem has no hard links (FAT, exFAT, some network shares)
NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK, errno.EXDEV}


def _taken(path: Path) -> OutputError:
    return OutputError(f"{path} exists (made while this output was written; use --force to "
                       f"overwrite); nothing was replaced")


def _place(tmp: Path, path: Path, force: bool, directory: bool) -> None:
    """Puts the finished ``tmp`` at ``path``. With ``force``, a rename over whatever is there
    (an old folder is removed by the caller). Without, this step itself never replaces: a
    file is hard-linked to ``path`` (link fails if the name exists) and ``tmp`` removed; on
    a filesystem without hard links the name is first claimed by an exclusive create and
    ``tmp`` renamed over that claim, so no file that existed before is ever replaced (a
    program that opens the claim without O_EXCL in that instant writes into our file, its
    own doing). A folder is renamed over an empty folder made for it (mkdir fails if the
    name exists; rename replaces only an empty folder, so one filled meanwhile fails)."""
    try:
        if force:
            os.replace(tmp, path)
        elif directory:
            try:
                os.mkdir(path)
            except FileExistsError:
                raise _taken(path) from None
            try:
                os.rename(tmp, path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.rmdir(path)  # our claim, if still empty
                raise
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise _taken(path) from None
            except OSError as exc:
                if exc.errno not in NO_LINKS:
                    raise
                _claim_and_rename(tmp, path)
            else:
                os.unlink(tmp)
    except OSError as exc:
        if exc.errno in NO_ROOM:
            raise
        raise OutputError(f"{path}: cannot put the output in place ({exc.strerror or exc})") from None


def _claim_and_rename(tmp: Path, path: Path) -> None:
    """Without hard links: ``path`` created exclusively (FileExistsError if it exists), then
    ``tmp`` renamed over it; the claim is removed if the rename fails."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise _taken(path) from None
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def _no_room(path: Path, exc: BaseException) -> OutputError | None:
    if isinstance(exc, OSError) and exc.errno in NO_ROOM:
        return OutputError(f"{path}: cannot write ({os.strerror(exc.errno)}); nothing was written")
    return None


@contextlib.contextmanager
def atomic_path(path: str | Path, force: bool, directory: bool = False,
                replaceable: Callable[[Path], bool] = lambda folder: False,
                through: bool = False) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` (same suffix); renames it over ``path`` when the
    block succeeds, removes it when the block raises (KeyboardInterrupt included).

    With ``directory``, an existing folder is replaced (under --force) only when
    ``replaceable(folder)`` says it is one of ours. A ``path`` that is a device or a FIFO is
    yielded itself when ``through`` (the block writes to it directly), else refused.
    """
    path = check_target(path, force)
    if special(path):
        if not through:
            raise OutputError(f"{path} is a device or a pipe, not a regular file; this output "
                              f"can only be written to a file or folder")
        try:
            yield path
        except OSError as exc:
            raise _no_room(path, exc) or exc from None
        return
    tmp = _temporary(path, directory)
    try:
        yield tmp
        if force and directory and path.exists():
            if not path.is_dir() or not replaceable(path):
                raise OutputError(f"{path} exists and is not an imfcodec output folder; not replacing it")
            shutil.rmtree(path)
        elif force and not directory and path.is_dir():
            raise OutputError(f"{path} is a directory")
        _place(tmp, path, force, directory)
    except BaseException as exc:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        error = _no_room(path, exc)
        if error is not None:
            raise error from None
        raise


def write_bytes(target: str | Path, data: bytes, force: bool = False) -> Path:
    """Writes ``data`` to ``target`` atomically (synced before the rename), or through to a
    device or FIFO."""
    with atomic_path(target, force, through=True) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            if not special(Path(tmp)):
                os.fsync(f.fileno())
    return Path(target)
