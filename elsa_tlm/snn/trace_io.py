"""Save/load per-layer spike activity for the replay activity source (npz, no pickle).

Arrays per layer name: (T, IH, IW) for one sample or (n, T, IH, IW) for several, integer counts of input
events per spine and step. ``meta`` is a flat JSON-serialisable dict (model, dataset, time_steps, ...).
Layer names may contain dots (``layer1.0.conv1``); they are stored under ``layer/<name>`` keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from elsa_tlm.datafiles import DataFile, array, in_range, read_npz
from elsa_tlm.errors import ConfigError

_PREFIX = "layer/"
_META = "__meta_json__"
_ORDER = "__layer_order__"


def save_activity(path: str | Path, per_layer_counts: dict[str, np.ndarray], meta: dict) -> None:
    """Write the counts (atomically, through the output guard: ``path`` new or a file this function wrote)
    with ``meta`` as JSON inside the npz."""
    arrays: dict[str, np.ndarray] = {}
    for name, arr in per_layer_counts.items():
        a = np.asarray(arr)
        if a.ndim not in (3, 4) or a.dtype.kind not in "iu":
            raise ConfigError(
                f"activity[{name}]", (a.dtype, a.shape), "need integer (T, IH, IW) or (n, T, IH, IW)"
            )
        if np.any(a < 0):
            raise ConfigError(f"activity[{name}]", int(a.min()), "spike counts must be >= 0")
        arrays[_PREFIX + name] = a.astype(np.int64)
    try:
        meta_text = json.dumps(meta, sort_keys=True)
    except TypeError as exc:
        raise ConfigError("meta", type(meta).__name__, "must be JSON-serialisable") from exc
    arrays[_META] = np.array(meta_text)
    arrays[_ORDER] = np.array(list(per_layer_counts), dtype=np.str_)
    import io

    from elsa_tlm.fileio import check_output_file, write_bytes_atomic

    target = check_output_file(path, "path", _is_activity_file)  # new, or a file this function wrote
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes_atomic(target, buf.getvalue())


def _is_activity_file(path: Path) -> bool:
    """True if ``path`` is an npz :func:`save_activity` wrote (its meta and layer-order members)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    return {f"{_META}.npy", f"{_ORDER}.npy"} <= names


def load_activity(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read (per_layer_counts in saved order, meta), checked: a JSON object ``meta``, a layer order naming
    each stored layer once, integer non-negative counts (T, IH, IW) or (n, T, IH, IW) per layer."""
    f = DataFile("activity file", str(path))
    z = read_npz(f)
    if _META not in z or _ORDER not in z:
        raise f.error("not an elsa-tlm activity npz (meta/order missing)")
    try:
        meta = json.loads(str(array(f, z, _META, "str", ())))
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise f.error(f"array {_META!r} must hold a JSON object")
    order = [str(s) for s in array(f, z, _ORDER, "str", ("layers",))]
    if len(set(order)) != len(order):
        raise f.error(f"array {_ORDER!r} names a layer twice")
    counts: dict[str, np.ndarray] = {}
    for name in order:
        key = _PREFIX + name
        a = array(f, z, key, "int")
        if a.ndim not in (3, 4):
            raise f.error(f"array {key!r} has shape {a.shape}, expected (T, IH, IW) or (n, T, IH, IW)")
        in_range(f, key, a, 0, None, "spike counts")
        counts[name] = a
    return counts, meta
