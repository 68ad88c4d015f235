"""Atomic file writes (temp file in the same folder + rename): a failed run never leaves half a file."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() would give; mkstemp alone would leave 0600
DIR_MODE = 0o777 & ~_UMASK  # what mkdir() would give; mkdtemp alone would leave 0700


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling and an atomic rename."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # name the file the user will look for, not a temporary one
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # a full disk, a lost permission: say which file could not be written
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: object) -> Path:
    """Deterministic JSON: sorted keys, 2-space indent, trailing newline."""
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_csv_atomic(
    path: str | os.PathLike, rows: Iterable[Mapping[str, object]], fieldnames: Sequence[str]
) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return write_text_atomic(path, buf.getvalue())


# ---------------------------------------------------------------------------------------------------- folders
# An output folder is written only when it is new, empty, or a previous elsa-tlm result of the same kind. A
# result is recognised by its marker file, which also lists the entries the tool wrote, so a result folder into
# which the user has put files of their own is refused too (replacing it would delete them).
MARKER = ".elsa-tlm.json"


def read_marker(folder: Path) -> dict | None:
    """The marker of an elsa-tlm result folder, or None when ``folder`` is not one."""
    p = Path(folder) / MARKER
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == "elsa-tlm" else None


def marker(kind: str, entries: Iterable[str] = ()) -> dict:
    from elsa_tlm.version import __version__

    return {"tool": "elsa-tlm", "kind": kind, "version": __version__, "entries": sorted(set(entries))}


def check_output_folder(
    path: str | os.PathLike, kind: str, key: str = "--out", own_prefix: str | None = None
) -> Path:
    """Refuse (ConfigError, nothing touched) an output folder that elsa-tlm must not write into.

    Allowed: a path that does not exist (its parent must be creatable and writable), an empty folder, or an
    elsa-tlm result folder of the same ``kind`` holding only entries the tool wrote, or (``own_prefix``) an
    unmarked folder whose every entry starts with that prefix (the tool's own output from before markers).
    Refused: a file, the file-system root, the working folder or one of its ancestors, other content.
    """
    from elsa_tlm.errors import ConfigError

    if not str(path).strip():
        raise ConfigError(key, str(path), "is empty; give a folder")
    p = Path(os.path.normpath(Path(path).expanduser()))  # what the user means by a/new/.. is a
    if p.is_symlink():
        raise ConfigError(
            key, str(path), f"is a symbolic link (to {os.readlink(p)}); give the folder it points to"
        )
    try:
        r = p.resolve()
    except (OSError, RuntimeError) as exc:
        raise ConfigError(key, str(path), f"not a usable path ({exc})") from None
    if r == Path(r.anchor):
        raise ConfigError(key, str(path), "is the file-system root; give a new or empty folder")
    cwd = Path.cwd().resolve()
    if r == cwd or r in cwd.parents:
        raise ConfigError(key, str(path), "is the working folder or contains it; give a new or empty folder")
    if p.exists() or p.is_symlink():
        if not p.is_dir():
            raise ConfigError(key, str(path), "exists and is not a folder")
        try:
            entries = sorted(e.name for e in p.iterdir())
        except OSError as exc:
            raise ConfigError(key, str(path), f"cannot be read ({exc.strerror})") from None
        if entries:
            m = read_marker(p)
            if m is None and own_prefix and all(e.startswith(own_prefix) for e in entries):
                m = marker(kind, entries)
            if m is None:
                raise ConfigError(
                    key,
                    str(path),
                    f"exists, is not empty ({len(entries)} entries) and is not an elsa-tlm result folder "
                    f"(no {MARKER}); nothing was written: give a new or empty folder",
                )
            if m.get("kind") != kind:
                raise ConfigError(
                    key, str(path), f"holds an elsa-tlm {m.get('kind')} result, not a {kind} result"
                )
            own = set(m.get("entries", [])) | {MARKER}
            foreign = [e for e in entries if e not in own and not e.startswith(".elsa-tlm")]
            if foreign and kind == "run":
                raise ConfigError(
                    key,
                    str(path),
                    f"is an elsa-tlm result folder but holds entries it did not write ({', '.join(foreign[:3])}"
                    f"{'...' if len(foreign) > 3 else ''}); replacing it would delete them",
                )
        if not os.access(p, os.W_OK | os.X_OK):
            raise ConfigError(key, str(path), "is not writable")
    else:
        anc = p.parent
        while not anc.exists():
            anc = anc.parent
        if not anc.is_dir():
            raise ConfigError(key, str(path), f"{anc} is not a folder")
        if not os.access(anc, os.W_OK | os.X_OK):
            raise ConfigError(key, str(path), f"cannot create it: {anc} is not writable")
    return p


def add_to_marker(folder: str | os.PathLike, name: str) -> None:
    """Record that the tool wrote ``name`` into the result ``folder`` (e.g. a report written later), so the
    folder stays replaceable by the next run."""
    folder = Path(folder)
    m = read_marker(folder)
    if m is not None and name not in m.get("entries", []):
        m["entries"] = sorted({*m.get("entries", []), name})
        write_json_atomic(folder / MARKER, m)


def check_output_file(path: str | os.PathLike, key: str, ours: Callable[[Path], bool]) -> Path:
    """Refuse (ConfigError, nothing touched) an output file elsa-tlm must not write: an empty name, a folder,
    a symbolic link, anything but a regular file, or an existing file that ``ours`` does not recognise as one
    the tool wrote; its folder must exist and be writable."""
    from elsa_tlm.errors import ConfigError

    if not str(path).strip():
        raise ConfigError(key, str(path), "is empty; give a file name")
    p = Path(os.path.normpath(Path(path).expanduser()))
    if p.is_symlink():
        raise ConfigError(key, str(path), "is a symbolic link; give a new file name")
    if p.exists():
        if p.is_dir():
            raise ConfigError(key, str(path), "is a folder; give a file name")
        if not p.is_file():
            raise ConfigError(key, str(path), "exists and is not a regular file")
        if not ours(p):
            raise ConfigError(
                key,
                str(path),
                "exists and was not written by elsa-tlm; nothing was written: give a new file name",
            )
    parent = p.parent.resolve()
    if not parent.is_dir():
        raise ConfigError(key, str(path), f"folder {p.parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(key, str(path), f"folder {p.parent} is not writable")
    return p


class FolderLock:
    """An exclusive ``flock`` on a folder (the kernel drops it when the holder dies, even on kill -9).

    ``blocking``: wait for the other writer (serialise) or raise ConfigError at once (refuse).
    """

    def __init__(self, folder: str | os.PathLike, blocking: bool = True, key: str = "--out") -> None:
        self.folder, self.blocking, self.key = Path(folder), blocking, key
        self.fd: int | None = None

    def __enter__(self) -> FolderLock:
        import fcntl

        from elsa_tlm.errors import ConfigError

        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                self.key, str(self.folder), "another elsa-tlm process is writing into this folder"
            ) from None
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor releases the lock
            self.fd = None


def claim_output_folder(
    path: str | os.PathLike, kind: str, key: str = "--out", own_prefix: str | None = None
) -> Path:
    """For tools that write files into a folder in place (sweeps, NoC runs, studies): check it, create it
    and mark it as an elsa-tlm ``kind`` result."""
    p = check_output_folder(path, kind, key, own_prefix)
    p.mkdir(parents=True, exist_ok=True)
    if read_marker(p) is None:
        write_json_atomic(p / MARKER, marker(kind))
    return p
