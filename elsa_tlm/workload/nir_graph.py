"""Spiking networks in NIR (the Neuromorphic Intermediate Representation) on the chip.

``workload.model = "nir:PATH"`` runs a NIR graph (HDF5, as snnTorch, Norse, Sinabs, SpikingJelly, Lava-dl or
Rockpool export it; package ``nir``). The graph becomes the chip's layer graph (:class:`Workload`):

* a **synaptic node** (``Conv2d``, ``Conv1d`` with kernel 1, ``Linear``, ``Affine``) starts a layer named after
  the node; the **neuron node** after it (``IF``, ``LIF``, ``CubaLIF``, ``Threshold``; ``I``, ``LI``, ``CubaLI``
  as a last, non-firing readout) is its firing rule;
* a **pool** (``SumPool2d``, ``AvgPool2d``) after a neuron is fused into that layer's output stage (the chip
  emits pooled spines); a pool that covers the whole map and feeds a ``Linear`` of C inputs is folded into
  the linear's weights (it reads the unpooled spines, C weight rows), as the ResNets' average pool is;
* ``Flatten`` is where a linear layer reads a (C, H, W) map as one H × W window; ``Scale`` folds into the next
  synaptic weights (no chip action);
* a neuron node with several incoming edges is a **residual join**: the synaptic edge is the layer's main
  input, every edge from another layer's spikes a skip path the router's residual unit adds;
* nested graphs are flattened (``sub.node``); an inner graph's ``Input``/``Output`` pass their edges on.

Shapes come from the graph (``Input.input_type``, ``Conv2d.input_shape``, the weights); a graph whose shapes
do not chain, a node the chip cannot run, a recurrent edge, NaN weights or a non-positive threshold are one
:class:`ConfigError` naming the node or the edge and the rule.

:func:`run_graph` evaluates the graph in numpy with NIR's neuron semantics, discretised by forward Euler with
time step ``dt`` (docs/MODEL.md §1b), so that the chip sees the spikes of every layer and step
(``workload.activity = "functional"`` with ``workload.inputs``).
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from elsa_tlm.errors import ConfigError

PREFIX = "nir:"
KEY = "workload.model"
FIRING = ("IF", "LIF", "CubaLIF", "Threshold")
READOUT = ("I", "LI", "CubaLI")
SYNAPTIC = ("Conv2d", "Conv1d", "Linear", "Affine")
PASSING = ("Scale", "Flatten", "SumPool2d", "AvgPool2d", "Input", "Output")
SUPPORTED = (*SYNAPTIC, *FIRING, *READOUT, *PASSING)


def _err(where: str, rule: str) -> ConfigError:
    return ConfigError(KEY, where, rule)


# --------------------------------------------------------------------------------------------- reading
def read_graph(path: str | os.PathLike) -> Any:
    """The NIR graph in ``path`` (HDF5), or one ConfigError: missing, not a regular file, not HDF5, not NIR."""
    import nir

    p = Path(path)
    where = f"{PREFIX}{p}"
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise _err(where, "file not found") from None
    except OSError as exc:
        raise _err(where, f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise _err(where, "not a regular file (a folder, device or FIFO)")
    with p.open("rb") as fh:
        if fh.read(8) != b"\x89HDF\r\n\x1a\n":
            raise _err(where, "not a NIR file: NIR graphs are HDF5 files (nir.write)")
    try:
        graph = nir.read(str(p), type_check=False)  # shapes are checked here, edge by edge
    except Exception as exc:  # noqa: BLE001 - h5py and nir raise anything on a damaged file
        raise _err(where, f"not a readable NIR graph ({type(exc).__name__}: {str(exc)[:160]})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise _err(where, f"holds a {type(graph).__name__}, not a NIR graph")
    return graph


def flatten_graph(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Nodes and edges of ``graph`` with nested graphs flattened: ``sub.node`` names; an edge into (out of) a
    nested graph goes to its one ``Input`` (from its one ``Output``), which pass it on."""
    import nir

    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    ends: dict[str, tuple[str, str]] = {}  # nested graph -> (its input node, its output node), flattened
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = flatten_graph(node, full + ".")
            ins = [n for n, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [n for n, v in node.nodes.items() if isinstance(v, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise _err(
                    full, f"nested graph with {len(ins)} inputs and {len(outs)} outputs: needs one of each"
                )
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
            ends[full] = (f"{full}.{ins[0]}", f"{full}.{outs[0]}")
        else:
            nodes[full] = node
    for src, dst in graph.edges:
        s, d = prefix + src, prefix + dst
        s = ends[s][1] if s in ends else s
        d = ends[d][0] if d in ends else d
        for end in (s, d):
            if end not in nodes:
                raise _err(f"edge {src} -> {dst}", f"names a node the graph does not have ({end})")
        edges.append((s, d))
    return nodes, edges


# ------------------------------------------------------------------------------------------ the layers
@dataclass
class NirLayer:
    """A chip layer made of a synaptic node and the neuron node after it (names of the NIR nodes)."""

    name: str  # the synaptic node
    kind: str  # "conv" | "linear"
    cin: int
    cout: int
    kernel: int
    stride: int
    padding: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    main: str  # producer layer, or "input"
    weight_rows: int
    skips: list[str] = field(default_factory=list)
    neuron: str = ""  # the neuron node (empty: none yet)
    pool: tuple[str, int, int, int, tuple[int, int]] | None = None  # fused pool: node, k, s, p, out grid
    fold_pool: str = ""  # a global pool folded into this linear's weights (its node)
    flatten: bool = False  # reads a (C, H, W) map flattened
    readout: bool = False  # its neuron integrates without firing (I, LI, CubaLI): it sends no spikes


@dataclass
class _Value:
    """What flows along a NIR edge during the walk: spikes of a layer (or the input), or the synaptic output
    (current) of a layer not yet through its neuron; pending pool and flatten on spikes."""

    layer: str
    spikes: bool
    shape: tuple[int, int, int]  # (C, H, W)
    pool: str = ""  # a pool node applied to these spikes (not yet placed)
    pool_geom: tuple[int, int, int] = (0, 0, 0)
    flat: bool = False
    pool_avg: bool = False  # the pending pool averages (it cannot be sent as spikes: folded into a linear)


@dataclass
class NirNetwork:
    """A NIR graph read as the chip's layers, with what the numpy reference needs to evaluate it."""

    path: str
    nodes: dict[str, Any]
    order: list[str]  # nodes in evaluation order
    preds: dict[str, list[str]]
    layers: list[NirLayer]
    input_node: str
    input_shape: tuple[int, ...]  # as Input.input_type gives it
    grid: tuple[int, int, int]  # the input as (C, H, W)
    dataset: str
    output_layer: str
    origin: str = ""  # the shipped model an elsa-tlm export came from (metadata "source")

    @property
    def by_name(self) -> dict[str, NirLayer]:
        return {la.name: la for la in self.layers}


def _arr(node: Any, attr: str, name: str) -> np.ndarray:
    a = np.asarray(getattr(node, attr), dtype=float)
    if a.size and not np.isfinite(a).all():
        raise _err(name, f"{type(node).__name__}.{attr} holds NaN or inf")
    return a


def _pair(v: Any, name: str, what: str) -> int:
    a = np.atleast_1d(np.asarray(v)).astype(float)
    if a.size == 0 or not (a == a[0]).all() or a[0] != int(a[0]):
        raise _err(name, f"{what} = {a.tolist()}: the chip's layers take one square, integer {what}")
    return int(a[0])


def _input_grid(node: Any, name: str) -> tuple[tuple[int, ...], tuple[int, int, int]]:
    types = getattr(node, "input_type", {}) or {}
    shapes = [np.asarray(v).astype(int).tolist() for v in types.values()]
    if len(shapes) != 1 or not shapes[0] or any(int(x) <= 0 for x in shapes[0]):
        raise _err(name, f"Input.input_type = {types}: needs one positive shape, e.g. [C, H, W]")
    shape = tuple(int(x) for x in shapes[0])
    while len(shape) > 1 and shape[0] == 1 and len(shape) != 3:  # a leading batch of one (snnTorch's [1, N])
        shape = shape[1:]
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) == 3:
        return shape, (shape[0], shape[1], shape[2])
    if len(shape) == 2:  # (C, L): a one-row map
        return shape, (shape[0], 1, shape[1])
    if len(shape) == 1:
        return shape, (shape[0], 1, 1)
    raise _err(name, f"Input shape {list(shape)}: the chip takes (C, H, W), (C, L) or (N,)")


def analyse(graph: Any, path: str, dataset: str = "nir") -> NirNetwork:
    """Read a NIR graph as the chip's layers (see the module docstring); ConfigError for what cannot run."""
    nodes, edges = flatten_graph(graph)
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind not in SUPPORTED:
            raise _err(
                name,
                f"node type {kind} is not supported on the chip; supported: {', '.join(SUPPORTED)}",
            )
    try:
        cycle = nx.find_cycle(g)
        raise _err(
            f"edge {cycle[0][0]} -> {cycle[0][1]}",
            "a recurrent edge: the chip runs feed-forward spiking networks",
        )
    except nx.NetworkXNoCycle:
        pass
    inputs = [n for n, v in nodes.items() if type(v).__name__ == "Input" and g.in_degree(n) == 0]
    outputs = [n for n, v in nodes.items() if type(v).__name__ == "Output" and g.out_degree(n) == 0]
    if len(inputs) != 1 or len(outputs) != 1:
        raise _err(
            path, f"has {len(inputs)} Input and {len(outputs)} Output nodes: the chip takes one of each"
        )
    input_node = inputs[0]
    input_shape, grid = _input_grid(nodes[input_node], input_node)
    order = list(nx.lexicographical_topological_sort(g, key=lambda n: list(nodes).index(n)))
    preds = {n: sorted(g.predecessors(n), key=list(nodes).index) for n in nodes}
    values: dict[str, _Value] = {input_node: _Value("input", True, grid)}
    meta = getattr(graph, "metadata", {}) or {}
    mains = (
        dict(meta.get("mains", {})) if isinstance(meta, dict) and isinstance(meta.get("mains"), dict) else {}
    )
    layers: list[NirLayer] = []
    by_name: dict[str, NirLayer] = {}
    for name in order:
        node = nodes[name]
        kind = type(node).__name__
        if name == input_node:
            continue
        ins = preds[name]
        if not ins:
            raise _err(name, "has no incoming edge (only the Input may)")
        if kind in FIRING or kind in READOUT:
            values[name] = _neuron(name, node, [(p, values[p]) for p in ins], by_name)
            continue
        skip_ins: list[str] = []
        if len(ins) > 1 and kind in SYNAPTIC:
            # spikes of several layers summed at a synaptic node's input: a residual join whose main input
            # is the latest layer (the others the skips the router's residual unit adds)
            ranked = _rank_main(name, node, ins, values, layers, mains)
            skip_ins, ins = ranked[:-1], ranked[-1:]
        elif len(ins) != 1:
            raise _err(
                name, f"{kind} with {len(ins)} incoming edges: only a neuron or synaptic node adds its inputs"
            )
        v = values[ins[0]]
        edge = f"edge {ins[0]} -> {name}"
        if kind in ("Input", "Output", "Scale"):
            if kind == "Scale":
                _arr(node, "scale", name)
            values[name] = v
        elif kind == "Flatten":
            values[name] = _Value(v.layer, v.spikes, v.shape, v.pool, v.pool_geom, True, v.pool_avg)
        elif kind in ("SumPool2d", "AvgPool2d"):
            if not v.spikes:
                raise _err(edge, f"{kind} between a synaptic node and its neuron: pool the neuron's spikes")
            if v.pool or v.flat:
                raise _err(edge, f"{kind} after another pool or a Flatten: one pool per layer output")
            if v.layer == "input":
                raise _err(edge, f"{kind} on the input itself: the chip pools a layer's output spines")
            k = _pair(node.kernel_size, name, "kernel_size")
            s = _pair(node.stride, name, "stride")
            p = _pair(node.padding, name, "padding")
            c, h, w = v.shape
            oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            if oh < 1 or ow < 1:
                raise _err(edge, f"pool {k}/{s}/{p} does not fit the {h}x{w} map")
            values[name] = _Value(v.layer, True, (c, oh, ow), name, (k, s, p), False, kind == "AvgPool2d")
        else:  # synaptic
            if not v.spikes:
                raise _err(edge, f"{kind} after a synaptic node without a neuron between them")
            layer = _synaptic(name, node, v, edge, by_name)
            for p in skip_ins:
                sv, sedge = values[p], f"edge {p} -> {name}"
                if not sv.spikes or sv.flat or sv.pool_avg or sv.layer == "input":
                    raise _err(sedge, "a second input of a synaptic node must be another layer's spikes")
                if sv.shape != v.shape:
                    raise _err(
                        sedge, f"adds spikes of shape {list(sv.shape)} to its input of shape {list(v.shape)}"
                    )
                _place_pool(sv, by_name[sv.layer], sedge)
                layer.skips.append(sv.layer)
            layers.append(layer)
            by_name[name] = layer
            values[name] = _Value(name, False, (layer.cout, *layer.out_hw))
    out_v = values[outputs[0]]
    if not layers:
        raise _err(path, "has no synaptic node (Conv2d, Linear, Affine): nothing for the chip to compute")
    if out_v.layer not in by_name:
        raise _err(outputs[0], "the Output is not reached from a layer")
    for la in layers:
        if not la.neuron:
            raise _err(la.name, "a synaptic node whose output reaches no neuron node")
        if la.readout and any(la.name in (o.main, *o.skips) for o in layers):
            raise _err(
                la.neuron, "a non-firing readout (I, LI, CubaLI) feeds another layer: it sends no spikes"
            )
    layers = _execution_order(layers, graph)
    return NirNetwork(path, nodes, order, preds, layers, input_node, input_shape, grid, dataset, out_v.layer)


def _execution_order(layers: list[NirLayer], graph: Any) -> list[NirLayer]:
    """Layers in an order where every producer (main and skip) comes before its consumer: the exporter's
    order when an elsa-tlm export recorded it (``metadata["layer_order"]``), else the graph's node order."""
    meta = getattr(graph, "metadata", {}) or {}
    given = list(meta.get("layer_order", [])) if isinstance(meta, dict) else []
    rank = {str(n): i for i, n in enumerate(given)}
    pos = {la.name: (rank.get(la.name, len(rank)), i) for i, la in enumerate(layers)}
    g = nx.DiGraph()
    g.add_nodes_from(la.name for la in layers)
    for la in layers:
        for src in (la.main, *la.skips):
            if src != "input":
                g.add_edge(src, la.name)
    by = {la.name: la for la in layers}
    return [by[n] for n in nx.lexicographical_topological_sort(g, key=lambda n: pos[n])]


def _rank_main(
    name: str, node: Any, ins: list[str], values: dict[str, _Value], layers: list[NirLayer], mains: dict
) -> list[str]:
    """The inputs of a residual join, the main one last: the one an elsa-tlm export named
    (``metadata["mains"]``), else one whose channels the weights take, the latest layer among those."""
    order_of = {la.name: i for i, la in enumerate(layers)}
    w = np.asarray(node.weight)
    cin = int(w.shape[1]) if w.ndim >= 2 else -1
    want = mains.get(name)

    def key(p: str) -> tuple[int, int, int]:
        v = values[p]
        named = 1 if want is not None and v.layer == want else 0
        fits = 1 if v.shape[0] == cin or (type(node).__name__ in ("Linear", "Affine")) else 0
        return (named, fits, order_of.get(v.layer, -1))

    return sorted(ins, key=key)


def _neuron(name: str, node: Any, ins: list[tuple[str, _Value]], by_name: dict[str, NirLayer]) -> _Value:
    kind = type(node).__name__
    for attr in ("v_threshold", "threshold"):
        if hasattr(node, attr):
            th = _arr(node, attr, name)
            if th.size and (th <= 0).any():
                raise _err(name, f"{kind}.{attr} must be positive (found {float(th.min()):g})")
    for attr in ("tau", "tau_mem", "tau_syn", "r"):
        if hasattr(node, attr):
            a = _arr(node, attr, name)
            if attr.startswith("tau") and a.size and (a <= 0).any():
                raise _err(name, f"{kind}.{attr} must be positive (found {float(a.min()):g})")
    currents = [(p, v) for p, v in ins if not v.spikes]
    spikes = [(p, v) for p, v in ins if v.spikes]
    if len(currents) != 1:
        what = (
            "no synaptic input"
            if not currents
            else f"{len(currents)} synaptic inputs ({', '.join(p for p, _ in currents)})"
        )
        raise _err(
            name,
            f"{kind} with {what}: a neuron needs exactly one synaptic node before it (a skip path joins as another "
            "layer's spikes)",
        )
    layer = by_name[currents[0][1].layer]
    if layer.neuron:
        raise _err(name, f"layer {layer.name} already has its neuron {layer.neuron}")
    layer.neuron = name
    layer.readout = kind in READOUT
    shape = currents[0][1].shape
    for p, v in spikes:
        edge = f"edge {p} -> {name}"
        if v.flat or v.pool_avg or v.shape != shape:
            raise _err(edge, f"skip spikes of shape {list(v.shape)} do not match the join's {list(shape)}")
        if v.layer == "input":
            raise _err(edge, "a skip path straight from the input: the chip adds layers' spikes")
        _place_pool(v, by_name[v.layer], edge)  # a pooled skip: the producer's output stage pools
        layer.skips.append(v.layer)
    return _Value(layer.name, True, shape)


def _synaptic(name: str, node: Any, v: _Value, edge: str, by_name: dict[str, NirLayer]) -> NirLayer:
    kind = type(node).__name__
    w = _arr(node, "weight", name)
    if kind in ("Affine", "Conv2d", "Conv1d") and getattr(node, "bias", None) is not None:
        _arr(node, "bias", name)
    c, h, wd = v.shape
    producer = by_name.get(v.layer)
    if kind in ("Conv2d", "Conv1d"):
        if v.flat:
            raise _err(edge, f"{kind} after a Flatten")
        if int(np.asarray(node.groups)) != 1:
            raise _err(name, f"{kind} with groups = {node.groups}: the chip runs dense convolutions only")
        if _pair(node.dilation, name, "dilation") != 1:
            raise _err(name, f"{kind} with dilation: not supported")
        if kind == "Conv1d":
            if w.ndim != 3 or w.shape[2] != 1:
                raise _err(
                    name, f"Conv1d weight {list(w.shape)}: only kernel 1 (a pointwise layer) is supported"
                )
            w = w[..., None]
        if w.ndim != 4 or w.shape[2] != w.shape[3]:
            raise _err(name, f"{kind} weight {list(w.shape)}: needs (Cout, Cin, k, k)")
        cout, cin, k = int(w.shape[0]), int(w.shape[1]), int(w.shape[2])
        s = _pair(node.stride, name, "stride")
        pad = node.padding
        if isinstance(pad, str):
            if pad != "same" or s != 1 or k % 2 == 0:
                raise _err(name, f"padding = {pad!r}: give integer padding (or 'same' with stride 1, odd k)")
            p = k // 2
        else:
            p = _pair(pad, name, "padding")
        if cin != c:
            raise _err(edge, f"{name} takes {cin} channels, its input has {c}")
        given = getattr(node, "input_shape", None)
        if given is not None and kind == "Conv2d" and tuple(int(x) for x in np.atleast_1d(given)) != (h, wd):
            raise _err(edge, f"{name}.input_shape = {list(np.atleast_1d(given))}, but its input is {h}x{wd}")
        oh, ow = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
        if oh < 1 or ow < 1:
            raise _err(edge, f"a {k}x{k}/{s} kernel does not fit the {h}x{wd} map")
        layer = NirLayer(name, "conv", cin, cout, k, s, p, (h, wd), (oh, ow), v.layer, cin * k * k)
        _place_pool(v, producer, edge)
        return layer
    # Linear / Affine
    if w.ndim != 2:
        raise _err(name, f"{kind} weight {list(w.shape)}: needs (out, in)")
    cout, n_in = int(w.shape[0]), int(w.shape[1])
    if v.pool_avg and h == 1 and wd == 1 and n_in == c and producer is not None:
        # a global average pool folded into the linear's weights (spikes cannot carry an average): it reads
        # the unpooled map, C weight rows
        k0, s0, p0 = v.pool_geom
        uh, uw = producer.pool[4] if producer.pool else producer.out_hw
        if not (p0 == 0 and k0 == producer.out_hw[0] == producer.out_hw[1]):
            raise _err(edge, "a pool folded into a linear layer must cover its square map")
        ph, pw = producer.out_hw
        if ph != pw:
            raise _err(edge, f"a {ph}x{pw} map read by one linear window: the chip takes square windows")
        layer = NirLayer(name, "linear", c, cout, ph, 1, 0, (ph, pw), (1, 1), v.layer, c)
        layer.fold_pool = v.pool
        return layer
    if n_in != c * h * wd:
        raise _err(edge, f"{name} takes {n_in} inputs, its input has {c}x{h}x{wd} = {c * h * wd}")
    if h * wd > 1 and not v.flat:
        raise _err(edge, f"{name} reads a {c}x{h}x{wd} map: put a Flatten before it")
    if h != wd:
        raise _err(edge, f"a {h}x{wd} map read by one linear window: the chip takes square windows")
    if h * wd == 1:
        layer = NirLayer(name, "linear", c, cout, 1, 1, 0, (1, 1), (1, 1), v.layer, n_in)
    else:
        layer = NirLayer(name, "linear", c, cout, h, 1, 0, (h, wd), (1, 1), v.layer, n_in)
        layer.flatten = True
    _place_pool(v, producer, edge)
    return layer


def _place_pool(v: _Value, producer: NirLayer | None, edge: str) -> None:
    """A pool on a layer's spikes becomes that layer's fused output pool (one per layer)."""
    if not v.pool or producer is None:
        return
    k, s, p = v.pool_geom
    placed = (v.pool, k, s, p, (v.shape[1], v.shape[2]))
    if producer.pool is not None and producer.pool != placed:
        raise _err(edge, f"{producer.name}'s spikes are read through two different pools")
    producer.pool = placed


# -------------------------------------------------------------------------------------- the workload
def to_workload(net: NirNetwork, T: int, input_spikes: dict[str, np.ndarray]) -> Any:
    """The chip's :class:`~elsa_tlm.workload.graph.Workload` of ``net`` at ``T`` steps; ``input_spikes``: each
    layer's input spikes per step (T,) (the statistical model's, or zeros for functional/replay runs)."""
    from elsa_tlm.workload.graph import INPUT, Layer, Pool, Workload

    layers: list[Layer] = []
    for i, nl in enumerate(net.layers):
        pool = None
        if nl.pool is not None:
            pname, k, s, p, out_hw = nl.pool
            pool = Pool(pname, k, s, p, nl.out_hw, out_hw)
        layers.append(
            Layer(
                name=nl.name,
                index=i,
                kind=nl.kind,
                cin=nl.cin,
                cout=nl.cout,
                kernel=nl.kernel,
                stride=nl.stride,
                padding=nl.padding,
                in_hw=nl.in_hw,
                out_hw=nl.out_hw,
                main=INPUT if nl.main == "input" else nl.main,
                skips=list(nl.skips),
                input_spikes=input_spikes.get(nl.name, np.zeros(T, dtype=np.int64)),
                weight_rows=nl.weight_rows,
                out_pool=pool,
            )
        )
    by = {la.name: la for la in layers}
    for la in layers:
        for src in [la.main, *la.skips]:
            if src != INPUT:
                by[src].consumers.append(la.name)
    out = by[net.output_layer]
    if out is not layers[-1]:  # the answer leaves from the last layer in execution order
        layers.remove(out)
        layers.append(out)
        for i, la in enumerate(layers):
            la.index = i
    first = layers[0]
    if first.main != INPUT:
        raise _err(net.path, f"the first layer {first.name} does not read the input")
    model = f"{PREFIX}{Path(net.path).name}"
    return Workload(model, net.dataset, T, layers, first.in_hw, first.cin, net.path, net.origin)


def rate_spikes(net: NirNetwork, T: int, rate: float, rates: dict[str, float]) -> dict[str, np.ndarray]:
    """Input spikes per step of every layer under the statistical model: its producer fires ``rates[node]``
    (a layer by its synaptic or neuron node's name, the input by its Input node's name or "input") or
    ``rate`` otherwise, per neuron and step."""
    by = net.by_name

    def rate_of(layer: str) -> float:
        if layer == "input":
            for key in ("input", net.input_node):
                if key in rates:
                    return rates[key]
            return rate
        nl = by[layer]
        for key in (nl.name, nl.neuron):
            if key in rates:
                return rates[key]
        return rate

    out = {}
    for nl in net.layers:
        src = nl.main
        neurons = nl.cin * nl.in_hw[0] * nl.in_hw[1]
        out[nl.name] = np.full(T, int(round(rate_of(src) * neurons)), dtype=np.int64)
    return out


# ------------------------------------------------------------------------------------ the reference run
def _im2col(x: np.ndarray, k: int, s: int, p: int) -> np.ndarray:
    """(C, H, W) -> (OH*OW, C*k*k) patches (zero padding)."""
    c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    sh = xp.strides
    win = np.lib.stride_tricks.as_strided(
        xp, (c, oh, ow, k, k), (sh[0], sh[1] * s, sh[2] * s, sh[1], sh[2]), writeable=False
    )
    return win.transpose(1, 2, 0, 3, 4).reshape(oh * ow, c * k * k)


def _pool(x: np.ndarray, k: int, s: int, p: int, avg: bool) -> np.ndarray:
    """Sum (or average) pooling of a (C, H, W) map, zero padding."""
    c, h, w = x.shape
    cols = _im2col(x, k, s, p)  # (OH*OW, C*k*k)
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    pooled = cols.reshape(oh * ow, c, k * k).sum(axis=2)
    if avg:
        pooled = pooled / (k * k)
    return pooled.T.reshape(c, oh, ow)


@dataclass
class Trace:
    """What the reference run gives the chip: per layer its input entries (T, C, IH, IW) and per layer the
    spikes it emits (T, C, EH, EW), as floats (a pooled spine may carry a sum)."""

    inputs: dict[str, np.ndarray]
    emitted: dict[str, np.ndarray]


def run_graph(net: NirNetwork, spikes: np.ndarray, dt: float) -> Trace:
    """Evaluate ``net`` on input ``spikes`` (T, *input shape) in numpy: synaptic nodes as they are, neurons
    (IF, LIF, CubaLIF) integrated by forward Euler with step ``dt`` and reset to ``v_reset`` (0) on a spike
    (NIR's rule), Threshold as a Heaviside step, pools and Flatten on the spikes."""
    T = spikes.shape[0]
    nodes = net.nodes
    state: dict[str, dict[str, np.ndarray]] = {}
    by = net.by_name
    layer_in: dict[str, list[np.ndarray]] = {nl.name: [] for nl in net.layers}
    layer_out: dict[str, list[np.ndarray]] = {nl.name: [] for nl in net.layers}
    neuron_of = {nl.neuron: nl.name for nl in net.layers}
    for t in range(T):
        vals: dict[str, np.ndarray] = {net.input_node: spikes[t].reshape(net.grid).astype(float)}
        for name in net.order:
            if name == net.input_node:
                continue
            node = nodes[name]
            kind = type(node).__name__
            ins = [vals[p] for p in net.preds[name]]
            if kind in ("Input", "Output"):
                vals[name] = ins[0]
            elif kind == "Scale":
                vals[name] = _scale(ins[0], np.asarray(node.scale, dtype=float), name)
            elif kind == "Flatten":
                vals[name] = ins[0]
            elif kind in ("SumPool2d", "AvgPool2d"):
                k = _pair(node.kernel_size, name, "kernel_size")
                s = _pair(node.stride, name, "stride")
                p = _pair(node.padding, name, "padding")
                vals[name] = _pool(ins[0], k, s, p, kind == "AvgPool2d")
            elif kind in SYNAPTIC:
                nl = by[name]
                x = ins[0]
                # what the chip's layer reads: the map itself (a folded pool's layer reads it unpooled)
                seen = vals[net.preds[nl.fold_pool][0]] if nl.fold_pool else x
                layer_in[name].append(seen.reshape(nl.cin, *nl.in_hw))
                vals[name] = _synapse(node, kind, nl, x)
            else:  # a neuron: the sum of its inputs drives it
                drive = sum(v.reshape(ins[0].shape) for v in ins)
                out = _step(node, kind, state.setdefault(name, {}), drive, dt)
                vals[name] = out
                layer = neuron_of.get(name)
                if layer is not None:
                    layer_out[layer].append(out)
    return Trace(
        {k: np.stack(v) for k, v in layer_in.items()},
        {k: np.stack(v) for k, v in layer_out.items()},
    )


def _scale(x: np.ndarray, sc: np.ndarray, name: str) -> np.ndarray:
    """``Scale``: one factor, one per channel, or one per entry."""
    if sc.size == 1:
        return x * float(sc.reshape(-1)[0])
    if sc.shape == x.shape:
        return x * sc
    if sc.size == x.shape[0]:
        return x * sc.reshape(-1, *([1] * (x.ndim - 1)))
    raise _err(name, f"Scale of shape {list(sc.shape)} does not fit its input {list(x.shape)}")


def _synapse(node: Any, kind: str, nl: NirLayer, x: np.ndarray) -> np.ndarray:
    w = np.asarray(node.weight, dtype=float)
    if kind in ("Conv2d", "Conv1d"):
        if w.ndim == 3:
            w = w[..., None]
        cols = _im2col(x.reshape(nl.cin, *nl.in_hw), nl.kernel, nl.stride, nl.padding)
        y = (cols @ w.reshape(nl.cout, -1).T).T.reshape(nl.cout, *nl.out_hw)
        b = getattr(node, "bias", None)
        if b is not None and np.asarray(b).size:
            y = y + np.asarray(b, dtype=float).reshape(-1, 1, 1)
        return y
    y = w @ x.reshape(-1)
    if kind == "Affine":
        y = y + np.asarray(node.bias, dtype=float).reshape(-1)
    return y.reshape(nl.cout, 1, 1)


def _step(node: Any, kind: str, st: dict[str, np.ndarray], drive: np.ndarray, dt: float) -> np.ndarray:
    """One forward-Euler step of NIR's neuron equations; returns the spikes (0/1), or the readout state."""

    def p(attr: str, default: float = 0.0) -> np.ndarray:
        v = getattr(node, attr, None)
        return np.asarray(default if v is None else v, dtype=float)

    if kind == "Threshold":
        return (drive > p("threshold")).astype(float)
    v = st.get("v", np.zeros_like(drive))
    if kind in ("CubaLIF", "CubaLI"):
        i_syn = st.get("i", np.zeros_like(drive))
        i_syn = i_syn + dt / p("tau_syn") * (-i_syn) + p("w_in", 1.0) * drive
        st["i"] = i_syn
        v = v + dt / p("tau_mem") * (p("v_leak") - v + p("r") * i_syn)
    elif kind in ("LIF", "LI"):
        v = v + dt / p("tau") * (p("v_leak") - v + p("r") * drive)
    else:  # IF, I
        v = v + dt * p("r") * drive
    if kind in READOUT:
        st["v"] = v
        return v
    spk = (v > p("v_threshold")).astype(float)
    v = np.where(spk > 0, p("v_reset", 0.0), v)
    st["v"] = v
    return spk


def chip_counts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A layer's entries (T, C, H, W) as the chip carries them: spikes per spine (T, H, W) (every non-zero
    entry is one event) and the signed entries (T, C, H, W) int8 (values clipped to -128..127)."""
    nz = x != 0
    counts = nz.sum(axis=1).astype(np.int64)
    signed = np.clip(np.rint(np.where(nz, np.sign(x) * np.maximum(np.abs(x), 1), 0)), -128, 127).astype(
        np.int8
    )
    return counts, signed


def default_dt(graph: Any) -> float:
    """The Euler step: the graph's metadata ``dt`` when an exporter wrote one, else 1 (taus in steps)."""
    meta = getattr(graph, "metadata", {}) or {}
    dt = meta.get("dt") if isinstance(meta, dict) else None
    try:
        f = float(np.asarray(dt).reshape(-1)[0]) if dt is not None else 1.0
    except (TypeError, ValueError, IndexError):
        f = 1.0
    return f if math.isfinite(f) and f > 0 else 1.0


# ------------------------------------------------------------------------------------- from a scenario
def _rates_file(path: str) -> dict[str, float]:
    from elsa_tlm.config import read_toml

    raw = read_toml(path, "workload.rates")
    out: dict[str, float] = {}
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
            raise ConfigError(f"workload.rates: {k}", v, f"must be a firing rate in [0, 1] (in {path})")
        out[str(k)] = float(v)
    return out


def _inputs(path: str, net: NirNetwork, sample: int) -> np.ndarray:
    """The input spikes of one sample, (T, *input shape), checked: array 'spikes', shape, finite numbers."""
    from elsa_tlm.datafiles import DataFile, read_npz

    f = DataFile("workload.inputs", path)
    z = read_npz(f, "an npz with one array 'spikes'")
    if "spikes" not in z:
        raise f.error(f"has no array 'spikes' (it has {', '.join(sorted(z)) or 'none'})")
    a = z["spikes"]
    shape = net.input_shape
    if a.dtype.kind not in "iubf":
        raise f.error(f"spikes: dtype {a.dtype}, expected numbers")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise f.error("spikes: holds NaN or inf")
    if a.ndim == len(shape) + 2:
        if not 0 <= sample < a.shape[0]:
            raise ConfigError(
                "workload.sample_offset", sample, f"the inputs hold {a.shape[0]} samples ({path})"
            )
        a = a[sample]
    if a.ndim != len(shape) + 1 or tuple(a.shape[1:]) != shape:
        raise f.error(
            f"spikes has shape {list(a.shape)}; the graph's Input wants (T, {', '.join(map(str, shape))}) "
            f"or (samples, T, {', '.join(map(str, shape))})"
        )
    if a.shape[0] < 1:
        raise f.error("spikes has no time step")
    return a.astype(float)


def _trace_steps(path: str) -> int:
    """The time steps a replay trace holds (0 when it cannot say: its loader names the problem)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return int(z["time_steps"])
    except Exception:  # noqa: BLE001 - load_activity checks the trace and reports it
        return 0


def load(cfg: Any) -> tuple[Any, NirNetwork, Any]:
    """The workload of ``cfg``'s NIR graph (``workload.model = "nir:PATH"``), its analysis and the graph.

    T: ``run.time_steps``; for functional activity at most (default: all) the inputs' steps; a statistical run
    must give it (a graph records none)."""
    path = cfg.workload.model[len(PREFIX) :]
    graph = read_graph(path)
    meta = getattr(graph, "metadata", {}) or {}
    meta = meta if isinstance(meta, dict) else {}
    dataset = str(meta.get("dataset", "nir"))
    net = analyse(graph, path, dataset)
    if meta.get("exported_by") == "elsa-tlm":
        net.origin = str(meta.get("source", ""))
    T = cfg.run.time_steps
    wc = cfg.workload
    if wc.activity == "functional":
        steps = _inputs(wc.inputs, net, wc.sample_offset).shape[0]
        if steps < T:
            raise ConfigError(
                "run.time_steps", T, f"the inputs hold {steps} steps ({wc.inputs}); give at most that"
            )
        T = T or steps
        spikes: dict[str, np.ndarray] = {}
    else:
        if T <= 0 and wc.activity == "replay":
            T = _trace_steps(wc.replay_path)
        if T <= 0:
            raise ConfigError(
                "run.time_steps", T, "a NIR graph has no time steps of its own: set run.time_steps (e.g. 16)"
            )
        if wc.activity == "statistical":
            rates = _rates_file(wc.rates) if wc.rates else {}
            known = {net.input_node, "input", *(n for la in net.layers for n in (la.name, la.neuron))}
            unknown = sorted(set(rates) - known)
            if unknown:
                raise ConfigError(
                    f"workload.rates: {unknown[0]}",
                    rates[unknown[0]],
                    f"names no layer or neuron node of {path}",
                )
            if wc.rate < 0:
                missing = [
                    la.name for la in net.layers if not ({la.main} | {la.name, la.neuron}) & set(rates)
                ]
                if missing and "input" not in rates:
                    raise ConfigError(
                        "workload.rate", wc.rate, f"no rate for {missing[0]}'s input: set workload.rate"
                    )
            spikes = rate_spikes(net, T, max(wc.rate, 0.0), rates)
        else:
            spikes = {}
    return to_workload(net, T, spikes), net, graph


def functional_activity(cfg: Any, wl: Any, net: NirNetwork, graph: Any) -> Any:
    """The chip's activity of one sample (``workload.sample_offset``) of ``workload.inputs``: the reference
    run's spikes at every layer and step (every non-zero entry one event; pooled spines as the pool gives them)."""
    from elsa_tlm.workload.activity import Activity, check_activity
    from elsa_tlm.workload.graph import INPUT

    wc = cfg.workload
    x = _inputs(wc.inputs, net, wc.sample_offset)[: wl.time_steps]
    dt = wc.nir_dt if wc.nir_dt > 0 else default_dt(graph)
    trace = run_graph(net, x, dt)
    inputs: dict[str, np.ndarray] = {}
    signed: dict[str, np.ndarray] = {}
    for la in wl.layers:
        counts, sg = chip_counts(trace.inputs[la.name])
        inputs[la.name], signed[la.name] = counts, sg
    emitted: dict[str, np.ndarray] = {INPUT: inputs[wl.layers[0].name]}
    readout = {nl.name for nl in net.layers if nl.readout}
    for la in wl.layers:
        out = trace.emitted[la.name]
        if la.name in readout:  # a readout integrator sends no spikes (its membrane is the answer)
            emitted[la.name] = np.zeros((wl.time_steps, *la.emit_hw), dtype=np.int64)
            continue
        if la.out_pool is not None:
            p = la.out_pool
            out = np.stack([_pool(o, p.kernel, p.stride, p.padding, False) for o in out])
        emitted[la.name] = chip_counts(out)[0]
    skips = {la.name: sum(emitted[s] for s in la.skips) for la in wl.layers if la.skips}
    act = Activity(
        "functional", wl.time_steps, inputs, emitted, skips, {"sample": wc.sample_offset, "dt": dt}, signed
    )
    check_activity(wl, act, wc.inputs)
    return act
