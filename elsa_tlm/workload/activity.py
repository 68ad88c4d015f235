"""Activity sources: how many spikes reach each spine of each layer in each time step.

All sources produce the same :class:`Activity`: per layer ``inputs[name]`` (T, IH, IW) — spikes that reach
the layer's PEs at each input spine — and ``emitted[name]`` (T, EH, EW) — spikes the layer sends per spine
after its fused pool. ``emitted["input"]`` is the image loaded from DRAM (non-zero pixels, step 0 only).

* ``statistical``: the measured per-layer, per-step totals of ``models/<net>.json``, exactly, spread over
  spines by a seeded rule (see :func:`spread`).
* ``functional``: spikes computed by the numpy SNN kernels on real inputs (``digits``; ``elsa_tlm.snn``).
* ``replay``: an npz trace written by either of the others (``--save-activity``).
"""

from __future__ import annotations

import os
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elsa_tlm.errors import ConfigError
from elsa_tlm.workload.graph import INPUT, Layer, Workload

MEMO_BYTES = 256 << 20  # an activity's sized derived values (input-buffer runs) kept at most, bytes
_MEMO_LOCK = threading.Lock()


@dataclass
class Activity:
    """Spike counts per layer, per step, per spine (int64)."""

    source: str
    time_steps: int
    inputs: dict[str, np.ndarray]
    emitted: dict[str, np.ndarray]
    skip_inputs: dict[str, np.ndarray] = field(default_factory=dict)  # spikes added by residual units
    meta: dict = field(default_factory=dict)
    # where known (functional activity): the input entries themselves, (T, C, IH, IW) int8 — position (channel,
    # row, column) and sign of every spike (first layer: multi-bit pixel levels)
    signed: dict[str, np.ndarray] = field(default_factory=dict)
    # what is derived from these spikes (and the workload they belong to) alone, computed once: the mapper and
    # the elaboration share it within a run, and the analytic mode's plans that reuse this activity
    # (``analytic.PlanCache``) share it across design points (:meth:`derived`)
    # (not an init field: ``dataclasses.replace`` with other spikes starts an empty memo, never shares this one)
    memo: OrderedDict = field(default_factory=OrderedDict, init=False, repr=False, compare=False)
    memo_bytes: int = field(default=0, init=False, repr=False, compare=False)

    def totals(self, layer: str) -> np.ndarray:
        return self.inputs[layer].reshape(self.time_steps, -1).sum(axis=1)

    def derived(self, key: tuple, make: Callable[[], Any], nbytes: Callable[[Any], int] | None = None) -> Any:
        """``make()``, computed once per ``key`` for this activity. ``key`` names the value and every setting
        it depends on besides the workload and these spikes (the caller's contract: a setting left out of the
        key would serve a stale value; tests/test_analytic.py checks each against a cold elaboration). A value
        with ``nbytes`` counts against :data:`MEMO_BYTES`, past which the least recently used such values go.
        The values are shared: read them, never write into them."""
        with _MEMO_LOCK:  # a Dask worker's threads share an activity: the dict is changed under the lock
            hit = self.memo.get(key)
            if hit is not None:
                self.memo.move_to_end(key)
                return hit[0]
        value = make()  # outside the lock: two threads may both make it, the first kept
        with _MEMO_LOCK:
            hit = self.memo.get(key)
            if hit is not None:
                return hit[0]
            size = nbytes(value) if nbytes is not None else 0
            self.memo[key] = (value, size)
            self.memo_bytes += size
            while self.memo_bytes > MEMO_BYTES:
                victim = next((k for k, (_, n) in self.memo.items() if n), None)
                if victim is None or victim == key:
                    break
                self.memo_bytes -= self.memo.pop(victim)[1]
        return value


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def saliency(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A smooth positive random field (blurred log-normal noise with a mild centre bias), sums to 1.

    Images put their salient content in connected regions; this gives neighbouring spines correlated
    activity, which matters for mini-batch sizes and for when a spine-wise pipeline releases outputs.
    """
    h, w = shape
    if h * w == 1:
        return np.ones((1, 1))
    noise = rng.standard_normal((h, w))
    for _ in range(2):  # separable 3-tap blur, twice
        noise = (np.roll(noise, 1, 0) + noise + np.roll(noise, -1, 0)) / 3
        noise = (np.roll(noise, 1, 1) + noise + np.roll(noise, -1, 1)) / 3
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    r2 = ((yy - cy) / max(h, 1)) ** 2 + ((xx - cx) / max(w, 1)) ** 2
    field_ = np.exp(0.8 * (noise - noise.mean()) / (noise.std() + 1e-9) - 1.5 * r2)
    return field_ / field_.sum()


def spread(total: int, p: np.ndarray, cap: int, rng: np.random.Generator, what: str = "") -> np.ndarray:
    """Split ``total`` spikes over spines with probabilities ``p``, at most ``cap`` per spine, exactly.

    Multinomial draw, then the overflow above ``cap`` is redrawn over spines that still have room,
    until none is left. The sum is exactly ``total`` (which must be <= cap * spines).
    """
    flat_p = p.ravel()
    n = flat_p.size
    if total > cap * n:
        raise ConfigError(
            "workload.model",
            what or "activity",
            f"{total} spikes in one step cannot fit {n} spines of {cap} channels (one spike per channel)",
        )
    counts = rng.multinomial(total, flat_p)
    for _ in range(64):
        over = counts - cap
        excess = int(over[over > 0].sum())
        if excess == 0:
            break
        counts = np.minimum(counts, cap)
        room = cap - counts
        q = flat_p * (room > 0)
        q = q / q.sum() if q.sum() > 0 else room / room.sum()
        counts = counts + rng.multinomial(excess, q)
    else:  # deterministic fallback: fill the roomiest spines
        counts = np.minimum(counts, cap)
        left = total - int(counts.sum())
        for i in np.argsort(-(cap - counts), kind="stable")[:left]:
            counts[i] += 1
    return counts.reshape(p.shape).astype(np.int64)


def emitted_totals(wl: Workload) -> dict[str, np.ndarray]:
    """Spikes each producer sends per step (after its fused pool), from what was recorded.

    1. A producer read as the main input of a layer whose record counts that input alone sends exactly
       that layer's recorded input. This holds for residual joins too: a CNN join's recorded input is its
       convolution's input (ResNet-50's layer1.1.conv3 records 0.33 M input spikes while its skip producer
       alone sends 0.84 M); the skip spikes are added into its membranes by the router's residual unit.
    2. A transformer layer whose record counts all its operands (``qk``: Q and K; ``add_norm``: both
       addends) received the sum of their streams: producers known by rule 1 keep their totals, the others
       share the rest in proportion to their rule-3 estimates.
    3. Otherwise — read only as a skip (a ResNet downsample), as an unrecorded operand (ViT's v), or the
       output layer — the output is not recorded: its output density per step is taken equal to its own
       input density, spikes = density × Cout × emitted spines (documented assumption).
    """
    T = wl.time_steps
    out: dict[str, np.ndarray] = {INPUT: wl.layers[0].input_spikes.copy()}
    exact: set[str] = {INPUT}
    for layer in wl.layers:
        readers = [
            c
            for c in layer.consumers
            if wl.by_name[c].main == layer.name and not wl.by_name[c].counts_operands
        ]
        if readers:
            out[layer.name] = wl.by_name[readers[0]].input_spikes.copy()
            exact.add(layer.name)
        else:
            density = layer.input_spikes / max(1, layer.cin * layer.n_in)
            out[layer.name] = np.rint(density * layer.cout * layer.n_emit).astype(np.int64)
    for layer in wl.layers:  # rule 2
        if not layer.counts_operands:
            continue
        srcs = [p for p in [layer.main, *layer.operands] if p != INPUT]
        known = sum((out[p] for p in srcs if p in exact), np.zeros(T, dtype=np.int64))
        rest = [p for p in srcs if p not in exact]
        if not rest:
            continue
        left = np.maximum(layer.input_spikes - known, 0).astype(float)
        est = np.array([out[p] for p in rest], dtype=float)
        tot = est.sum(axis=0)
        share = np.divide(est, tot, out=np.full_like(est, 1 / len(rest)), where=tot > 0)
        given = np.zeros(T, dtype=np.int64)
        for k, (p, f) in enumerate(zip(rest, share, strict=True)):
            cap = wl.by_name[p].cout * wl.by_name[p].n_emit  # one spike per neuron per step at most
            part = np.rint(left * f).astype(np.int64) if k < len(rest) - 1 else left.astype(np.int64) - given
            out[p] = np.clip(part, 0, cap)
            given += out[p]
            exact.add(p)
    for name, v in out.items():
        assert v.shape == (T,), name
    return out


def sop_counts(wl: Workload, events: dict[str, np.ndarray], act: Activity | None = None) -> tuple[int, int]:
    """(synaptic events, SOPs) of a workload's expanded events (per layer, (T, n_out)). Every expanded input
    event adds a weight into its fan-out membranes (Cout, a head's block for spike × spike products, none for
    an addition): one synaptic event each. The published #SOPs count 2 ops per synaptic event, as #Ops count
    2 per MAC, over the inputs the recordings count: for ViT's A·V the attention map only (its V operand's
    half, A_acc · V_t, is done and charged but not counted in SOPs, as in the published figure)."""
    syn = counted = 0
    for la in wl.layers:
        n = int(events[la.name].sum()) * la.fanout_cols
        syn += n
        if act is not None and la.operands and not la.counts_operands:
            main = float(act.emitted[la.main].sum())
            ops = sum(float(act.emitted[o].sum()) for o in la.operands)
            n = int(round(n * main / (main + ops))) if main + ops > 0 else n
        counted += n
    return syn, 2 * counted


def statistical_activity(wl: Workload, seed: int) -> Activity:
    """Recorded totals per layer and step, spread over spines by the seeded saliency rule."""
    T = wl.time_steps
    totals = emitted_totals(wl)
    emitted: dict[str, np.ndarray] = {}
    sal: dict[str, np.ndarray] = {}
    first = wl.layers[0]
    producers: list[tuple[str, tuple[int, int], int]] = [(INPUT, first.in_hw, first.cin)]
    producers += [(la.name, la.emit_hw, la.cout) for la in wl.layers]
    for name, hw, cap in producers:
        rng = _rng(seed, name)
        sal[name] = saliency(hw, rng)
        emitted[name] = np.stack([spread(int(totals[name][t]), sal[name], cap, rng, name) for t in range(T)])
    inputs: dict[str, np.ndarray] = {}
    skip_inputs: dict[str, np.ndarray] = {}
    for layer in wl.layers:
        prod_grid = emitted[layer.main]
        if layer.only_spine >= 0:  # a head reading the class token only
            grid = np.zeros((T, *layer.in_hw), dtype=np.int64)
            grid.reshape(T, -1)[:, layer.only_spine] = np.minimum(layer.input_spikes, layer.cin)
            inputs[layer.name] = grid
        elif layer.operands and prod_grid.shape[1:] == layer.in_hw:  # every operand's spikes reach the PEs
            inputs[layer.name] = prod_grid + sum(emitted[o] for o in layer.operands)
        elif prod_grid.shape[1:] == layer.in_hw:
            inputs[layer.name] = prod_grid  # exactly what the producer sent (a join: its main input)
        else:
            rng = _rng(seed, "in:" + layer.name)
            p = sal[layer.main] if sal[layer.main].shape == layer.in_hw else saliency(layer.in_hw, rng)
            inputs[layer.name] = np.stack(
                [spread(int(layer.input_spikes[t]), p, _input_cap(layer), rng, layer.name) for t in range(T)]
            )
        if layer.skips:
            skip_inputs[layer.name] = sum(emitted[s] for s in layer.skips)
    return Activity("statistical", T, inputs, emitted, skip_inputs, {"seed": seed})


def _input_cap(layer: Layer) -> int:
    """Max spikes one input spine of ``layer`` can carry in one step."""
    return layer.cin if layer.in_hw != (1, 1) else layer.cin


def _emit_cap(wl: Workload, layer: Layer) -> int:
    """Most spikes one spine of ``layer`` sends per step: one per output channel; a transformer's embedding
    and add & norm layers send their attached layer norm's spikes too (as a digits_vit functional run counts
    them: :func:`elsa_tlm.snn.vit.run_snn`)."""
    norm_attached = wl.is_transformer and (layer.kind == "add_norm" or layer.index == 0)
    return layer.cout * (2 if norm_attached else 1)


def check_activity(wl: Workload, act: Activity, path: str = "") -> None:
    """Shapes, producers and plausible counts of an activity against the workload (replay files are user
    input): a spine carries at most one spike per channel per step."""
    key = "workload.replay_path"
    where = path or act.meta.get("path", "activity")

    def bad(rule: str) -> ConfigError:
        return ConfigError(key, where, rule)

    recorded = act.meta.get("model")
    if recorded and recorded not in (wl.model, wl.origin):
        raise bad(f"trace was recorded on model {recorded!r}, the run is {wl.model!r}")
    for layer in wl.layers:
        a = act.inputs.get(layer.name)
        if a is None:
            have = ", ".join(sorted(act.inputs)[:4])
            raise bad(f"trace has no input spikes for layer {layer.name!r} of {wl.model} (it has: {have}...)")
        if a.shape != (act.time_steps, *layer.in_hw):
            raise bad(f"layer {layer.name}: shape {a.shape}, expected {(act.time_steps, *layer.in_hw)}")
        if (a < 0).any():
            raise bad(f"layer {layer.name}: negative spike counts")
        if int(a.max(initial=0)) > layer.cin:
            raise bad(
                f"layer {layer.name}: {int(a.max())} spikes on one spine in one step, more than its "
                f"{layer.cin} channels (at most one spike per channel per step)"
            )
        sg = act.signed.get(layer.name)
        if sg is not None and (
            sg.shape[0] != act.time_steps or not np.array_equal(np.count_nonzero(sg, axis=1), a)
        ):
            raise bad(f"layer {layer.name}: signed spikes disagree with the spike counts")
        for src in layer.producers:
            e = act.emitted.get(src)
            if e is None:
                raise bad(f"trace has no emitted spikes for producer {src!r}")
            hw = wl.layers[0].in_hw if src == INPUT else wl.by_name[src].emit_hw
            if e.shape != (act.time_steps, *hw):
                raise bad(f"producer {src}: emitted shape {e.shape}, expected {(act.time_steps, *hw)}")
            cap = wl.layers[0].cin if src == INPUT else _emit_cap(wl, wl.by_name[src])
            if (e < 0).any() or int(e.max(initial=0)) > cap:
                raise bad(f"producer {src}: emitted counts outside 0..{cap} per spine and step")
        sk = act.skip_inputs.get(layer.name)
        if sk is not None and layer.skips:  # the skip producers' spikes, summed on their (common) grid
            s0 = layer.skips[0]
            want = (act.time_steps, *(wl.layers[0].in_hw if s0 == INPUT else wl.by_name[s0].emit_hw))
            if sk.shape != want or (sk < 0).any():
                raise bad(
                    f"layer {layer.name}: skip spikes of shape {sk.shape}, expected {want}, non-negative"
                )


def save_activity(path: str | os.PathLike, act: Activity, model: str = "") -> None:
    """npz trace: ``in:<layer>``, ``out:<layer>``, ``skip:<layer>`` arrays (T, H, W) and, where known,
    ``signed:<layer>`` (T, C, H, W); ``model`` names the network it was recorded on; no pickle. ``path`` is
    new or a trace this function wrote (the output guard: anything else is a ConfigError, nothing written)."""
    import io

    from elsa_tlm.fileio import check_output_file, write_bytes_atomic

    path = check_output_file(path, "--save-activity", is_activity_file)

    arrays = {f"in:{k}": v for k, v in act.inputs.items()}
    arrays.update({f"out:{k}": v for k, v in act.emitted.items()})
    arrays.update({f"skip:{k}": v for k, v in act.skip_inputs.items()})
    arrays.update({f"signed:{k}": v for k, v in act.signed.items()})
    arrays["time_steps"] = np.array(act.time_steps)
    if model:
        arrays["model"] = np.array(model)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes_atomic(path, buf.getvalue())


def is_activity_file(path: str | os.PathLike) -> bool:
    """True if ``path`` is an npz trace :func:`save_activity` wrote (a zip with ``time_steps`` and layer
    arrays): the only existing file ``--save-activity`` may replace."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    return "time_steps.npy" in names and any(n.startswith("in:") for n in names)


def _check_declared_sizes(path: str, wl: Workload, key: str) -> None:
    """Read only the .npy headers of an npz and refuse arrays larger than any trace of this workload could be
    (before one byte of data is read: a hostile header cannot make the run allocate gigabytes)."""
    import zipfile

    from numpy.lib import format as npformat

    # a trace has at most four arrays per layer (in, out, skip, signed), each (T, spines) of the layer's
    # inputs or outputs; allow 4x that, whatever T the file declares up to 1024 steps
    per_step = sum(la.n_in + la.n_out for la in wl.layers)
    limit = 16 * 1024 * per_step + 1024
    total = 0
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with z.open(info) as fh:
                    version = npformat.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = npformat.read_array_header_1_0(fh)
                    else:
                        shape, _, dtype = npformat.read_array_header_2_0(fh)
                n = int(np.prod(shape, dtype=np.float64)) if shape else 1
                total += n
                if total > limit:
                    raise ConfigError(
                        key,
                        path,
                        f"array {info.filename[:-4]} declares shape {tuple(shape)} ({dtype}): more elements "
                        f"than any activity trace of {wl.model} can hold ({limit:,} in all); not read",
                    )
    except ConfigError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(key, path, f"not a readable activity trace ({type(exc).__name__}: {exc})") from None


def load_activity(path: str, wl: Workload) -> Activity:
    """Read and check an npz trace written by :func:`save_activity`."""
    import zipfile
    import zlib as _zlib

    key = "workload.replay_path"
    if not os.path.isfile(path):
        raise ConfigError(key, path, "file not found" if not os.path.exists(path) else "not a regular file")
    if not zipfile.is_zipfile(path):
        raise ConfigError(key, path, "not an npz archive (a zip of .npy arrays written by --save-activity)")

    def counts(name: str, a: np.ndarray, ndim: int, dtype: type = np.int64) -> np.ndarray:
        """Spike counts must be integers: integer arrays as they are, float arrays only if every value is a
        finite whole number (NaN, inf and fractions are refused, never truncated); (T, H, W) per layer, (T, C,
        H, W) signed entries, which must fit int8."""
        if a.ndim != ndim:
            want = {0: "a scalar", 3: "(T, H, W)", 4: "(T, C, H, W)"}[ndim]
            raise ConfigError(key, path, f"array {name} has shape {a.shape}, expected {want}")
        if a.dtype.kind == "f":
            if not np.isfinite(a).all():
                raise ConfigError(key, path, f"array {name}: spike counts must be finite (found NaN or inf)")
            if not (a == np.round(a)).all():
                raise ConfigError(key, path, f"array {name}: spike counts must be whole numbers")
        elif a.dtype.kind not in "iub":
            raise ConfigError(key, path, f"array {name}: spike counts must be integers, not {a.dtype}")
        if dtype is np.int8 and a.size and (a.min() < -128 or a.max() > 127):
            raise ConfigError(key, path, f"array {name}: signed entries must lie in -128..127")
        return a.astype(dtype)

    _check_declared_sizes(path, wl, key)
    try:
        with np.load(path, allow_pickle=False) as z:
            T = int(counts("time_steps", z["time_steps"], 0))
            recorded = z["model"] if "model" in z.files else np.array("")
            inputs = {k[3:]: counts(k, z[k], 3) for k in z.files if k.startswith("in:")}
            emitted = {k[4:]: counts(k, z[k], 3) for k in z.files if k.startswith("out:")}
            skips = {k[5:]: counts(k, z[k], 3) for k in z.files if k.startswith("skip:")}
            signed = {k[7:]: counts(k, z[k], 4, np.int8) for k in z.files if k.startswith("signed:")}
    except KeyError as exc:
        raise ConfigError(key, path, f"not an activity trace: missing array {exc}") from None
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile, _zlib.error) as exc:
        raise ConfigError(key, path, f"not a readable activity trace ({type(exc).__name__}: {exc})") from None
    if recorded.dtype.kind != "U" or recorded.ndim != 0:
        rule = f"array model: dtype {recorded.dtype}, shape {recorded.shape}, expected a string"
        raise ConfigError(key, path, rule)
    model = str(recorded)
    if not 1 <= T <= 1024:
        raise ConfigError(key, path, f"array time_steps = {T}: must be 1..1024")
    if wl.time_steps != T:
        raise ConfigError(key, path, f"trace has T={T}, run wants T={wl.time_steps} (set run.time_steps)")
    meta = {"path": str(path), "model": model}
    act = Activity("replay", T, inputs, emitted, skips, meta, signed)
    check_activity(wl, act, str(path))
    return act
