"""Save/load per-layer spike activity for the replay activity source (npz, no pickle).

Arrays per layer name: (T, IH, IW) for one sample or (n, T, IH, IW) for several, integer counts of input
events per spine and step. ``meta`` is a flat JSON-serialisable dict (model, dataset, time_steps, ...).
Layer names may contain dots (``layer1.0.conv1``); they are stored under ``layer/<name>`` keys.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from elsa_tlm.errors import ConfigError

_PREFIX = "layer/"
_META = "__meta_json__"
_ORDER = "__layer_order__"


def save_activity(path: str | Path, per_layer_counts: dict[str, np.ndarray], meta: dict) -> None:
    """Write the counts (atomically: temp file + rename) with ``meta`` as JSON inside the npz."""
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
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_activity(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read (per_layer_counts in saved order, meta)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("activity file", str(p), "file not found")
    with np.load(p, allow_pickle=False) as z:
        if _META not in z.files or _ORDER not in z.files:
            raise ConfigError("activity file", str(p), "not an elsa-tlm activity npz (meta/order missing)")
        meta = json.loads(str(z[_META]))
        order = [str(s) for s in z[_ORDER]]
        counts = {name: z[_PREFIX + name] for name in order}
    return counts, meta
