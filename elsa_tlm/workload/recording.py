"""What a network recording (``models/<net>.json``) must hold before :mod:`elsa_tlm.workload.graph` believes it.

The fields checked are the ones the graph reads: ``model``, ``dataset``, ``time_steps``, ``source``, the
``pools`` of a CNN and every layer's ``name``, ``type``, ``inputs``, ``shape`` and spike counts (per step,
one per recorded step, for a CNN; ``input_spikes_total`` for a transformer). A field that breaks a rule is
named by its JSON path (``layers[3].shape.Cin``) and its layer. Edges between layers (grids and channels that
must match) are checked by the graph once it is built.
"""

from __future__ import annotations

from typing import Any

from elsa_tlm.datafiles import DataFile, integer
from elsa_tlm.errors import ConfigError

CNN_TYPES = ("conv", "linear")
TRANSFORMER_TYPES = ("linear", "matmul_ss", "add_norm")
MAX_STEPS = 1024  # config.MAX_TIME_STEPS
MAX_DIM = 2**20  # any one shape figure (channels, pixels, tokens): far above any real network
CONV_KEYS = ("Cin", "Cout", "kernel", "stride", "IH", "IW", "OH", "OW")
SHAPE_KEYS = {"matmul_ss": ("heads", "head_dim", "M", "K", "N"), "add_norm": ("C",)}
JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def _type_name(v: object) -> str:
    return JSON_TYPES.get(type(v), "a number")


def _string(f: DataFile, field: str, v: object) -> str:
    if not isinstance(v, str) or not v:
        raise f.bad(field, v, "must be a non-empty string")
    return v


def _list(f: DataFile, field: str, v: object, nonempty: bool = True) -> list[Any]:
    if not isinstance(v, list) or (nonempty and not v):
        raise f.bad(field, v, "must be a non-empty array" if nonempty else "must be an array")
    return v


def _dims(f: DataFile, at: str, sh: dict[str, Any], keys: tuple[str, ...]) -> None:
    for k in keys:
        if k not in sh:
            raise f.missing(f"{at}.shape.{k}", "a positive integer")
        integer(f, f"{at}.shape.{k}", sh[k], 1, MAX_DIM)


def check_recording(f: DataFile, raw: object) -> None:
    """Refuse a recording whose fields are missing, ill-typed or inconsistent (see the module docstring)."""
    if not isinstance(raw, dict):
        raise f.error(f"the top level must be a JSON object, not {_type_name(raw)}")
    for key in ("model", "dataset", "time_steps", "layers"):
        if key not in raw:
            what = {"time_steps": "a positive integer", "layers": "an array of layers"}.get(key, "a string")
            raise f.missing(key, what)
    _string(f, "model", raw["model"])
    _string(f, "dataset", raw["dataset"])
    if "source" in raw and not isinstance(raw["source"], str):
        raise f.bad("source", raw["source"], "must be a string")
    T = integer(f, "time_steps", raw["time_steps"], 1, MAX_STEPS)
    layers = _list(f, "layers", raw["layers"])
    names: set[str] = set()
    for i, lr in enumerate(layers):
        at = f"layers[{i}]"
        if not isinstance(lr, dict):
            raise f.bad(at, lr, "must be an object")
        for key in ("name", "type", "inputs", "shape"):
            if key not in lr:
                raise f.missing(f"{at}.{key}", "every layer has a name, type, inputs and shape")
        name = _string(f, f"{at}.name", lr["name"])
        if name in names or name == "input":
            raise f.bad(f"{at}.name", name, "layer names must be unique and not 'input'")
        names.add(name)
        if not isinstance(lr["type"], str) or lr["type"] not in (*CNN_TYPES, *TRANSFORMER_TYPES):
            raise f.bad(f"{at}.type", lr["type"], "must be conv, linear, matmul_ss or add_norm")
        if not isinstance(lr["shape"], dict):
            raise f.bad(f"{at}.shape", lr["shape"], "must be an object")
    transformer = any(lr["type"] in ("matmul_ss", "add_norm") for lr in layers)
    pools = {} if transformer else _pools(f, raw, names)
    seen: set[str] = {"input"}
    for i, lr in enumerate(layers):
        at = f"layers[{i}]"
        try:
            for j, src in enumerate(_list(f, f"{at}.inputs", lr["inputs"])):
                if not isinstance(src, str) or pools.get(src, src) not in seen:
                    rule = "must be 'input' or a layer (or a pool of a layer) defined before it"
                    raise f.bad(f"{at}.inputs[{j}]", src, rule)
            if transformer:
                _transformer_layer(f, at, lr, first=i == 0)
            else:
                _cnn_layer(f, at, lr, T)
        except ConfigError as exc:
            raise f.error(f"{exc.rule} (layer {lr['name']!r})") from None
        seen.add(lr["name"])


def _pools(f: DataFile, raw: dict[str, Any], layers: set[str]) -> dict[str, str]:
    """The pools of a CNN recording, name -> the one layer each reads."""
    out: dict[str, str] = {}
    for i, p in enumerate(_list(f, "pools", raw.get("pools", []), nonempty=False)):
        at = f"pools[{i}]"
        if not isinstance(p, dict):
            raise f.bad(at, p, "must be an object")
        name = _string(f, f"{at}.name", p.get("name"))
        ins = p.get("inputs")
        if not isinstance(ins, list) or len(ins) != 1 or not isinstance(ins[0], str) or ins[0] not in layers:
            raise f.bad(f"{at}.inputs", ins, "must name exactly one layer (the pool's producer)")
        if name in layers or name in out or name == "input":
            raise f.bad(f"{at}.name", name, "must differ from every layer and pool name")
        out[name] = ins[0]
    return out


def _cnn_layer(f: DataFile, at: str, lr: dict[str, Any], T: int) -> None:
    sh, kind = lr["shape"], lr["type"]
    if kind not in CNN_TYPES:
        raise f.bad(f"{at}.type", kind, "a CNN recording's layers are conv or linear")
    if kind == "conv":
        _dims(f, at, sh, CONV_KEYS)
        pad = integer(f, f"{at}.shape.padding", sh.get("padding"), 0, MAX_DIM)
        for i, o in (("IH", "OH"), ("IW", "OW")):
            want = (sh[i] + 2 * pad - sh["kernel"]) // sh["stride"] + 1
            if sh[o] != want:
                raise f.bad(
                    f"{at}.shape.{o}",
                    sh[o],
                    f"a {sh['kernel']}x{sh['kernel']}/{sh['stride']} pad {pad} convolution of {i} {sh[i]} gives "
                    f"{want}",
                )
    elif "in_shape" in sh:
        v = sh["in_shape"]
        if not isinstance(v, list) or len(v) != 3:
            raise f.bad(f"{at}.shape.in_shape", v, "must be [C, H, W], three positive integers")
        for j, d in enumerate(v):
            integer(f, f"{at}.shape.in_shape[{j}]", d, 1, MAX_DIM)
        _dims(f, at, sh, ("out_features",))
        if (
            "in_features" in sh
            and integer(f, f"{at}.shape.in_features", sh["in_features"], 1) != v[0] * v[1] * v[2]
        ):
            raise f.bad(f"{at}.shape.in_features", sh["in_features"], f"must equal C*H*W of in_shape {v}")
    else:
        _dims(f, at, sh, ("in_features", "out_features"))
    key = f"{at}.input_spikes_per_step"
    if "input_spikes_per_step" not in lr:
        raise f.missing(key, f"{T} non-negative integers, one per step")
    spikes = _list(f, key, lr["input_spikes_per_step"])
    if len(spikes) != T:
        raise f.bad(key, f"{len(spikes)} values", f"must hold one count per step: time_steps = {T}")
    for t, v in enumerate(spikes):
        integer(f, f"{key}[{t}]", v, 0)


def _transformer_layer(f: DataFile, at: str, lr: dict[str, Any], first: bool) -> None:
    sh, kind = lr["shape"], lr["type"]
    if kind == "linear":
        _dims(f, at, sh, ("tokens", "Cin", "Cout") if first else ("Cin", "Cout"))
        if "pool" in lr and lr["pool"] not in ("sum", "cls"):
            raise f.bad(f"{at}.pool", lr["pool"], "must be sum or cls")
    elif kind not in SHAPE_KEYS:
        raise f.bad(f"{at}.type", kind, "a transformer recording's layers are linear, matmul_ss or add_norm")
    else:
        if first:
            raise f.bad(f"{at}.type", kind, "a transformer recording starts with a linear layer")
        _dims(f, at, sh, SHAPE_KEYS[kind])
    if "input_spikes_total" in lr:
        integer(f, f"{at}.input_spikes_total", lr["input_spikes_total"], 0)
