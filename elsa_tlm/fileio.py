"""Every file elsa-tlm writes goes through here: the output guard, then an atomic write.

**The output guard.** A file is written only where the tool has been cleared to write, by construction: the
writers below (``write_bytes_atomic`` and everything built on it, figures included) refuse a path that no
guard call cleared first. Clearing is one of

- :func:`check_output_folder` / :func:`claim_output_folder`: a folder that is new, empty, or a result folder
  of the same kind the tool wrote (marked by :data:`MARKER`);
- :func:`check_output_file`: one file that is new, or an existing regular file the caller's ``ours`` test
  recognises as the tool's (a report's first line, an activity trace's arrays, a figure's metadata);
- :func:`make_temp_folder`: a fresh temporary folder (a run is written there, then swapped in).

At every write, whatever was cleared: the target is never a symbolic link (neither replaced nor written
through), never a folder, FIFO, device or socket (refused from ``lstat``, never opened), and an existing file is
replaced only when the tool wrote it (listed in the marker of its folder, or inside a fresh temporary folder,
or cleared as a file). A file written into a marked folder is recorded in that folder's marker, so the next
command knows it is the tool's. Writes are atomic: a temporary sibling and a rename, so a failed command never
leaves half a file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() would give; mkstemp alone would leave 0600
DIR_MODE = 0o777 & ~_UMASK  # what mkdir() would give; mkdtemp alone would leave 0700

# ------------------------------------------------------------------------------------------- the output guard
# what this process has been cleared to write: real path of a folder -> (the option that named it, fresh), and
# absolute path of a single file -> the option that named it. ``fresh``: a temporary folder this process made,
# so everything in it is the tool's.
_FOLDERS: dict[str, tuple[str, bool]] = {}
_FILES: dict[str, str] = {}
GUARD_VERSION = (
    1  # markers written with it list every entry the tool wrote (older markers: trusted as a whole)
)


def _error(key: str, value: object, rule: str) -> Exception:
    from elsa_tlm.errors import ConfigError  # errors imports nothing; lazily, as the rest of this module

    return ConfigError(key, value, rule)


def _refuse(key: str, path: str | os.PathLike, rule: str) -> Exception:
    return _error(key, str(path), rule)


def _cleared_root(parent: str) -> tuple[str, str, bool] | None:
    """The nearest cleared folder at or above ``parent`` (a real path): (its path, key, fresh)."""
    d = parent
    while True:
        hit = _FOLDERS.get(d)
        if hit is not None:
            return d, hit[0], hit[1]
        up = os.path.dirname(d)
        if up == d:
            return None
        d = up


def _listed(path: str, root: str) -> bool:
    """True if the nearest marker between ``path``'s folder and ``root`` lists the entry ``path`` lies under
    (an older marker, which listed nothing for in-place results, vouches for its whole folder)."""
    d = os.path.dirname(path)
    while True:
        m = read_marker(Path(d))
        if m is not None:
            if m.get("guard") is None and m.get("kind") not in ("run", "plots"):
                return True  # markers of in-place results listed nothing before GUARD_VERSION
            first = os.path.relpath(path, d).split(os.sep)[0]
            return first in m.get("entries", [])
        if d == root or os.path.dirname(d) == d:
            return False
        d = os.path.dirname(d)


def guard_write(path: str | os.PathLike) -> Path:
    """The output guard's rule for one write (see the module docstring); raises ConfigError, touching
    nothing, or returns the absolute path to write."""
    ap = os.path.abspath(os.fspath(path))
    try:
        st: os.stat_result | None = os.lstat(ap)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _refuse("output", path, f"cannot be inspected ({exc.strerror or exc})") from None
    key = _FILES.get(ap)
    if st is not None:
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            raise _refuse(
                key or "output", path, "is a symbolic link; elsa-tlm never writes over or through one"
            )
        if stat.S_ISDIR(mode):
            raise _refuse(key or "output", path, "is a folder; give a file name")
        if not stat.S_ISREG(mode):
            raise _refuse(
                key or "output", path, "is not a regular file (a FIFO, device or socket); it was not opened"
            )
    if key is not None:  # cleared as a file (its owner was checked then)
        return Path(ap)
    found = _cleared_root(os.path.realpath(os.path.dirname(ap)))
    if found is None:
        raise _refuse(
            "output",
            path,
            "no output guard cleared this path (an elsa-tlm bug: every output is checked before it is "
            "written); nothing was written",
        )
    root, key, fresh = found
    if st is not None and not fresh:
        real = os.path.join(os.path.realpath(os.path.dirname(ap)), os.path.basename(ap))
        if os.path.basename(ap) == MARKER:
            if read_marker(Path(os.path.dirname(ap))) is None:
                raise _refuse(key, path, "exists and is not an elsa-tlm marker; nothing was written")
        elif not _listed(real, root):
            raise _refuse(key, path, "exists and was not written by elsa-tlm; nothing was written")
    return Path(ap)


def _record(path: Path) -> None:
    """Name ``path`` in the marker of its folder (a marked result folder), so it stays the tool's."""
    if path.name == MARKER:
        return
    m = read_marker(path.parent)
    if m is not None and m.get("guard") is not None and path.name not in m.get("entries", []):
        m["entries"] = sorted({*m.get("entries", []), path.name})
        _write(path.parent / MARKER, json.dumps(m, indent=2, sort_keys=True) + "\n")


def make_temp_folder(parent: str | os.PathLike, prefix: str) -> Path:
    """A new temporary folder in ``parent`` (which must itself be cleared or be the parent of a cleared
    folder), cleared for writing: everything in it is the tool's."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(tmp, DIR_MODE)  # mkdtemp gives 0700; results are meant to be shared
    _FOLDERS[os.path.realpath(tmp)] = ("output", True)
    return tmp


def forget(path: str | os.PathLike) -> None:
    """Withdraw a clearance (a temporary folder that has been renamed or removed)."""
    _FOLDERS.pop(os.path.realpath(path), None)
    _FILES.pop(os.path.abspath(os.fspath(path)), None)


# ------------------------------------------------------------------------------------------- atomic writes
def _write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        data = data.encode("utf-8")
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


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` (cleared by the output guard) through a temporary sibling and a rename."""
    given = Path(path)
    _write(guard_write(given), data)
    _record(given)
    return given


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
    """The marker of an elsa-tlm result folder, or None when ``folder`` is not one (a marker that is not a
    small regular file, a FIFO say, is not opened)."""
    p = Path(folder) / MARKER
    try:
        st = os.lstat(p)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 1 << 24:
            return None
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == "elsa-tlm" else None


def marker(kind: str, entries: Iterable[str] = ()) -> dict:
    from elsa_tlm.version import __version__

    return {
        "tool": "elsa-tlm",
        "kind": kind,
        "version": __version__,
        "guard": GUARD_VERSION,
        "entries": sorted(set(entries)),
    }


def _own_entry(path: Path, own: str | Callable[[Path], bool]) -> bool:
    """An entry of an unmarked folder that the tool wrote before markers: its name starts with ``own`` (a
    prefix), or ``own(path)`` says so."""
    return path.name.startswith(own) if isinstance(own, str) else own(path)


def check_output_folder(
    path: str | os.PathLike,
    kind: str,
    key: str = "--out",
    own_prefix: str | Callable[[Path], bool] | None = None,
) -> Path:
    """Refuse (ConfigError, nothing touched) an output folder that elsa-tlm must not write into.

    Allowed: a path that does not exist (its parent must be creatable and writable), an empty folder, or an
    elsa-tlm result folder of the same ``kind`` holding only entries the tool wrote, or (``own_prefix``) an
    unmarked folder whose every entry starts with that prefix, or passes that test (the tool's own output
    from before markers).
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
            if m is None and own_prefix and all(_own_entry(p / e, own_prefix) for e in entries):
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
    _FOLDERS[os.path.realpath(p)] = (key, False)
    return p


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
        if not ours(p):  # what the file holds decides (a listed name may since have been overwritten)
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
    _FILES[os.path.abspath(p)] = key
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
    path: str | os.PathLike,
    kind: str,
    key: str = "--out",
    own_prefix: str | Callable[[Path], bool] | None = None,
) -> Path:
    """For tools that write files into a folder in place (sweeps, NoC runs, studies): check it, create it
    and mark it as an elsa-tlm ``kind`` result."""
    p = check_output_folder(path, kind, key, own_prefix)
    p.mkdir(parents=True, exist_ok=True)
    m = read_marker(p)
    if m is None or m.get("guard") is None:
        # a folder of the tool's own from before markers (``own_prefix``) or before markers listed their
        # entries: what it holds was vouched for as a whole; from now on each entry is listed
        held = [e.name for e in p.iterdir() if e.name != MARKER and not e.name.startswith(".elsa-tlm")]
        write_json_atomic(p / MARKER, marker(kind, [*(m or {}).get("entries", []), *held]))
    return p


# ------------------------------------------------------------------------------------------------- figures
FIGURE_FORMATS = ("png", "pdf", "svg")
SIGNATURE = "elsa-tlm"  # the figure's creator in its metadata: how the tool knows a figure file is its own
_SIGNS = {
    "png": b"tEXtSoftware\x00" + SIGNATURE.encode(),
    "pdf": b"/Creator (" + SIGNATURE.encode() + b")",
    "svg": b"<dc:title>" + SIGNATURE.encode() + b"</dc:title>",
}


def figure_format(path: str | os.PathLike, key: str) -> str:
    """The figure format a file name asks for (its suffix), or ConfigError naming the formats written."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise _refuse(
            key,
            path,
            f"a figure is written as {', '.join('.' + f for f in FIGURE_FORMATS)}; "
            f"give a file name ending in one of them",
        )
    return fmt


def is_own_figure(path: Path) -> bool:
    """True if ``path`` (a regular file) is a figure this tool wrote: its metadata names elsa-tlm as the
    creator (read from its first and last 64 KiB only)."""
    sign = _SIGNS.get(path.suffix.lower().lstrip("."))
    if sign is None:
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - (1 << 16)))
            tail = fh.read()
    except OSError:
        return False
    return sign in head or sign in tail


def check_figure_file(path: str | os.PathLike, key: str) -> Path:
    """Clear one figure file for writing: a format the tool writes, and new or a figure the tool wrote."""
    figure_format(path, key)
    return check_output_file(path, key, is_own_figure)


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Render a matplotlib figure in the format of ``path``'s suffix (png, pdf, svg) with elsa-tlm named as
    its creator and no date (same bytes for the same figure), then write it through the output guard."""
    import matplotlib

    fmt = figure_format(path, "figure")
    meta: dict[str, str | None] = {
        "png": {"Software": SIGNATURE},
        "pdf": {"Creator": SIGNATURE, "Producer": SIGNATURE, "CreationDate": None},
        "svg": {"Creator": SIGNATURE, "Date": None},
    }[fmt]
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": SIGNATURE}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta)
    return write_bytes_atomic(path, buf.getvalue())


def path_argument(name: str, value: object, optional: bool = False) -> Path | None:
    """A path argument of a public function, checked: a non-empty str or os.PathLike (None if ``optional``);
    anything else is a ConfigError naming the argument."""
    if value is None and optional:
        return None
    if isinstance(value, str | os.PathLike):
        text = os.fspath(value)
        if isinstance(text, str) and text.strip() and "\x00" not in text:
            return Path(text)
        raise _error(name, value, "is empty or not a text path; give a path")
    kind = "a path (str or os.PathLike)" + (" or None" if optional else "")
    raise _error(name, value, f"must be {kind}, not {type(value).__name__}")


# ------------------------------------------------------------------------------------------ command lines
def output_argument(parser: Any, flag: str, kind: str, **kwargs: Any) -> Any:
    """Add a command-line option that names something the command writes (``kind``: "folder" or "file").
    The option is tagged (``action.output``), so a test walks every subcommand's outputs and checks each
    against a user's file, a symbolic link and a FIFO."""
    if kind not in ("folder", "file"):
        raise ValueError(f"output kind {kind!r}: folder or file")
    action = parser.add_argument(flag, **kwargs)
    action.output = kind
    return action
