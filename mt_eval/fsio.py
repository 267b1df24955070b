"""Safe file input and atomic file output: a reader never sees a half-written file.

Inputs are opened without blocking and checked to be regular files first, so a FIFO, a device or
a folder given for a file is a one-line :class:`MtEvalError`, never a hang or a traceback.
Outputs go through a temporary sibling and an atomic rename; temporaries carry their owner
(host, PID, process start time), so the next write of the same path removes the ones a killed
process left behind without touching a live writer's. Written files are readable by everyone the
umask allows (0644 under the usual 022), folders 0755, unless ``private=True`` (secrets).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from mt_eval.errors import MtEvalError
from mt_eval.processes import pid_alive, start_ticks

# A temporary whose owner cannot be identified (written by an older version) is removed only when
# older than this; a live writer finishes long before.
LEGACY_STALE_SECONDS = 3600.0
# A temporary owned by another host cannot be checked for liveness; it is removed only when older.
FOREIGN_STALE_SECONDS = 24 * 3600.0
_OWNER_MARK = "~mte-"


# ------------------------------------------------------------------------------------- modes
def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (no race with threads)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode(private: bool = False) -> int:
    """0644 under the usual umask; 0600 for a file that holds a secret."""
    return 0o600 if private else 0o666 & ~current_umask()


def dir_mode() -> int:
    return 0o777 & ~current_umask()


def make_tree_readable(folder: str | os.PathLike[str]) -> None:
    """Folders 0755 and files 0644 (umask permitting) under ``folder``: temporaries start private."""
    fmode, dmode = file_mode(), dir_mode()
    root = Path(folder)
    os.chmod(root, dmode)
    for path in root.rglob("*"):
        if not path.is_symlink():
            os.chmod(path, dmode if path.is_dir() else fmode)


# ------------------------------------------------------------------------------------- inputs
_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    for test, label in _KINDS:
        if test(mode):
            return label
    return "not a regular file"


def _stat_input(path: Path, what: str) -> os.stat_result:
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise MtEvalError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise MtEvalError(f"{path}: cannot read {what} ({exc.strerror})") from None


def check_input_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """``path`` exists and is a regular file (symlinks followed); else a one-line error."""
    file = Path(path)
    info = _stat_input(file, what)
    if stat.S_ISDIR(info.st_mode):
        raise MtEvalError(f"{file}: is a folder, expected a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise MtEvalError(f"{file}: is {_kind(info.st_mode)}, expected a regular {what}")
    return file


def check_input_folder(path: str | os.PathLike[str], what: str = "folder") -> Path:
    """``path`` exists and is a folder; else a one-line error."""
    folder = Path(path)
    info = _stat_input(folder, what)
    if not stat.S_ISDIR(info.st_mode):
        raise MtEvalError(f"{folder}: is a file, expected a {what}" if stat.S_ISREG(info.st_mode)
                          else f"{folder}: is {_kind(info.st_mode)}, expected a {what}")
    return folder


def read_input_bytes(path: str | os.PathLike[str], what: str = "file") -> bytes:
    """The bytes of a regular file. Opened non-blocking and checked with ``fstat``, so a FIFO that
    replaced the file after a check still cannot block."""
    file = check_input_file(path, what)
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise MtEvalError(f"{file}: cannot read {what} ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise MtEvalError(f"{file}: is {_kind(os.fstat(fd).st_mode)}, expected a regular {what}")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError as exc:
        raise MtEvalError(f"{file}: cannot read {what} ({exc.strerror})") from None
    finally:
        os.close(fd)


def decode_text(data: bytes, where: str, *, allow_nul: bool = False) -> str:
    """Strict UTF-8 (a leading BOM dropped); bad bytes and NUL name the line and byte offset."""
    offset = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[offset:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start + offset
        line = data.count(b"\n", 0, at) + 1
        raise MtEvalError(f"{where}:{line}: not valid UTF-8 (byte 0x{data[at]:02x} at offset {at})") from None
    if not allow_nul and "\x00" in text:
        at = text.index("\x00")
        raise MtEvalError(f"{where}:{text.count(chr(10), 0, at) + 1}: NUL byte in text (a binary file?)")
    return text


def read_input_text(path: str | os.PathLike[str], what: str = "file", *, allow_nul: bool = False) -> str:
    """A UTF-8 text file, checked as in :func:`read_input_bytes` and :func:`decode_text`."""
    return decode_text(read_input_bytes(path, what), str(path), allow_nul=allow_nul)


def read_input_json(path: str | os.PathLike[str], what: str = "JSON file") -> Any:
    """A JSON document; a syntax error names the line and column."""
    text = read_input_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MtEvalError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON ({exc.msg})") from None
    except RecursionError:
        raise MtEvalError(f"{path}: malformed JSON (nested too deeply)") from None


def split_text_lines(text: str) -> list[str]:
    """One item per ``\\n`` (a ``\\r`` before it is dropped); nothing else is a line break.

    U+2028, U+0085, form feeds and lone CRs stay inside their line, as sacrebleu and every
    line-numbering tool read files, so line ``i`` is segment ``i`` everywhere.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# ------------------------------------------------------------------------------------ names
_MAX_SLUG = 200  # bytes; file names are limited to 255


def slug(name: str) -> str:
    """A file-name-safe, unique and reversible form of a system or metric name (:func:`unslug`).

    Letters, digits and ``. _ - ~ +`` stay (``chrf++`` -> ``chrf++``); every other character is
    percent-encoded as UTF-8 (``marian:a/b`` -> ``marian%3Aa%2Fb``), and so is a leading dot, so
    no name becomes a hidden file, ``..`` or a path. Distinct names give distinct slugs
    (``gpt+`` and ``gptp`` no longer share files). A name longer than 200 bytes encoded is cut and
    given a hash of the whole name: still unique, no longer reversible.
    """
    if not name:
        raise ValueError("cannot slug an empty name")
    safe = quote(name, safe="+")
    if safe.startswith("."):
        safe = "%2E" + safe[1:]
    if len(safe) > _MAX_SLUG:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
        safe = f"{safe[:_MAX_SLUG - 17].rstrip('%0123456789ABCDEF')}~{digest}"
    return safe


def unslug(text: str) -> str:
    """The name a :func:`slug` came from (names cut for length excepted)."""
    return unquote(text)


# ------------------------------------------------------------------------------------ outputs
def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def owner_token() -> str:
    """Host, PID and process start time: enough to tell a dead or reused-PID owner from a live one."""
    return f"{_host_tag()}-{os.getpid()}-{start_ticks() or 'x'}"


def _owner_alive(token: str) -> bool | None:
    """True/False for an owner on this host, None when it cannot be told (another host)."""
    try:
        host, pid_text, start = token.split("-", 2)
        pid = int(pid_text)
    except ValueError:
        return None
    if host != _host_tag():
        return None
    return pid_alive(pid, "" if start == "x" else start)


def _temp_prefix(name: str) -> str:
    return f".{name}.{_OWNER_MARK}{owner_token()}."


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries (``.NAME.*.tmp`` / ``.old``) of ``target`` whose writer is gone.

    Called before each write of ``target``: a killed run leaves its staging folder behind, the
    next write of the same folder cleans it. A live writer's temporaries are kept.
    """
    path = Path(target)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    head = f".{path.name}."
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(head) or not entry.name.endswith((".tmp", ".old")):
            continue
        middle = entry.name[len(head):]
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if middle.startswith(_OWNER_MARK):
            alive = _owner_alive(middle[len(_OWNER_MARK):].rsplit(".", 2)[0])
            stale = alive is False or (alive is None and age > FOREIGN_STALE_SECONDS)
        else:  # written by a version that did not record its owner
            stale = age > LEGACY_STALE_SECONDS
        if not stale:
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
        removed.append(Path(entry.path))
    return removed


def resolve_output(path: str | os.PathLike[str]) -> Path:
    """Where writing ``path`` really goes: a symlink is followed (the link itself is kept); a symbolic
    link loop is a one-line error."""
    target = Path(path)
    if target.is_symlink():
        real = Path(os.path.realpath(target))
        if real.is_symlink():  # realpath stops inside a loop
            raise MtEvalError(f"{path}: is a symbolic link loop, cannot write there")
        return real
    return target


def _make_parent(target: Path) -> None:
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [parent, *parent.parents] if p.exists() and not p.is_dir()), parent)
        raise MtEvalError(f"{target}: cannot write here, {blocker} is not a folder") from None
    except OSError as exc:
        raise MtEvalError(f"{target}: cannot create folder {parent} ({exc.strerror})") from None


def check_output_file(path: str | os.PathLike[str], what: str = "file") -> Path:
    """Refuse, before any work, an output path that is a folder, a special file or under a file."""
    target = resolve_output(path)
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        info = os.stat(target)
        if stat.S_ISDIR(info.st_mode):
            raise MtEvalError(f"{path}: is a folder, expected a {what} to write")
        if not stat.S_ISREG(info.st_mode):
            raise MtEvalError(f"{path}: is {_kind(info.st_mode)}, refusing to write a {what} there")
    _check_ancestors(target, path)
    return target


def check_output_folder(path: str | os.PathLike[str], what: str = "folder") -> Path:
    """Refuse an output folder path that is a file, lies under a file or cannot be written."""
    target = resolve_output(path)
    if target.exists() and not target.is_dir():
        raise MtEvalError(f"{path}: exists and is not a folder; choose another {what}")
    if target.is_dir() and not os.access(target, os.W_OK | os.X_OK):  # it is replaced whole: read-only,
        raise MtEvalError(f"{path}: is not writable; choose another {what}")  # immutable, or not ours
    _check_ancestors(target, path)
    return target


def _check_ancestors(target: Path, shown: str | os.PathLike[str]) -> None:
    """The nearest existing folder above ``target`` must be one this process can write in: the atomic
    write puts its temporary there (or creates the missing folders there)."""
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise MtEvalError(f"{shown}: cannot write here, {parent} is not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):  # read-only, immutable, or not ours
                raise MtEvalError(f"{shown}: cannot write here, {parent} is not writable")
            return
        if parent.is_symlink():  # a dangling link on the way
            raise MtEvalError(f"{shown}: cannot write here, {parent} is a broken symbolic link")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    A symlink at ``path`` is followed (its target is replaced, the link stays).
    """
    atomic_write_chunks(path, (data,), private=private)


def atomic_write_chunks(path: str | os.PathLike[str], chunks: Iterable[bytes], *,
                        private: bool = False) -> None:
    """:func:`atomic_write_bytes` for data produced piece by piece (never all in memory at once)."""
    target = resolve_output(path)
    if target.is_dir():
        raise MtEvalError(f"{path}: is a folder, cannot write a file there")
    _make_parent(target)
    remove_stale_temporaries(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target.name), suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise MtEvalError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            for data in chunks:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode(private))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise MtEvalError(f"{path}: cannot write ({exc.strerror})") from None
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, private: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), private=private)


def dumps_json(obj: Any) -> str:
    """Stable, human-readable JSON (UTF-8 kept, keys in insertion order)."""
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, dumps_json(obj))


def write_lines(path: str | os.PathLike[str], lines: list[str]) -> None:
    """One item per line; newlines inside an item would shift every later line, so they are refused."""
    for index, line in enumerate(lines):
        if "\n" in line or "\r" in line:
            raise ValueError(f"{path}: item {index + 1} contains a line break")
    atomic_write_text(path, "".join(f"{line}\n" for line in lines))


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it replaces ``path`` whole, on error it is removed.

    On Linux the swap is one atomic exchange; elsewhere the old folder is renamed aside first and
    deleted after the new one is in place. Either way an interruption leaves the old or the new
    content, never a mixture, and the next write removes what a killed writer left behind.
    A symlink at ``path`` is followed: the folder it points to is replaced, the link stays.
    """
    target = resolve_output(path)
    if target.exists() and not target.is_dir():
        raise MtEvalError(f"{path}: exists and is not a folder")
    _make_parent(target)
    remove_stale_temporaries(target)
    try:
        staging = Path(tempfile.mkdtemp(prefix=_temp_prefix(target.name), suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise MtEvalError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        yield staging
        make_tree_readable(staging)
        if target.exists() and _exchange(staging, target):
            shutil.rmtree(staging, ignore_errors=True)  # now holds the old content
            return
        old: Path | None = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=_temp_prefix(target.name), suffix=".old", dir=target.parent))
            old.rmdir()
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise MtEvalError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise
