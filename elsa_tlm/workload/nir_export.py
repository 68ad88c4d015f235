"""A shipped network written as a NIR graph (``elsa-tlm export MODEL --nir PATH``).

The graph is the chip's layer graph in NIR's terms, so that ``workload.model = "nir:PATH"`` reads back the
very same layers (names, shapes, pools, skips): a layer is its synaptic node (named after it: ``Conv2d`` or,
reading a flattened map, ``Flatten`` + ``Linear``) and an ``IF`` neuron ``<layer>.neuron`` (threshold 1, r 1);
a pool fused into a layer's output stage is a ``SumPool2d`` after its neuron; an average pool folded into a
classifier (the ResNets') is a global ``AvgPool2d`` + ``Flatten`` before its ``Linear``; a residual skip is an
edge from the skip producer's spikes into the join's synaptic node when it has the join's input shape (ResNet-34's
recording adds skips there), else into its neuron (the output side: ResNet-50's); NIR sums a node's inputs. The recorded networks carry no weights: their
synaptic nodes hold zeros (``metadata["weights"] = "placeholder"``), so run them with a replayed activity
(``--save-activity`` of a native run, then ``workload.activity = "replay"``) or a statistical rate. The
digits CNN carries its trained integer weights, its thresholds (the ST-BIF quantisation step) on ``IF``
neurons and its readout as a non-firing ``I``; NIR has no ST-BIF neuron, so its functional reference run is
the IF approximation, not the bit-exact digits run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from elsa_tlm.workload.graph import INPUT, Layer, Workload


def _zeros(shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


def export_graph(wl: Workload, weights: dict[str, dict[str, np.ndarray]] | None = None) -> Any:
    """The NIR graph of ``wl`` (``weights``: per layer ``weight``, ``bias``, ``threshold`` where known; the
    readout layers named in ``weights[...]["readout"]`` become non-firing integrators)."""
    import nir

    weights = weights or {}
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    first = wl.layers[0]
    nodes["input"] = nir.Input(input_type={"input": np.array([first.cin, *first.in_hw])})
    spikes_of: dict[str, str] = {INPUT: "input"}  # a layer -> the node its (pooled) spikes leave from
    for la in wl.layers:
        w = weights.get(la.name, {})
        src = spikes_of[la.main]
        syn = la.name
        if la.kind == "conv":
            nodes[syn] = nir.Conv2d(
                input_shape=la.in_hw,
                weight=w.get("weight", _zeros((la.cout, la.cin, la.kernel, la.kernel))),
                stride=la.stride,
                padding=la.padding,
                dilation=1,
                groups=1,
                bias=w.get("bias", _zeros((la.cout,))),
            )
            edges.append((src, syn))
        else:
            h, wd = la.in_hw
            if la.weight_rows == la.cin and h * wd > 1:  # an average pool folded into the classifier
                pool = f"{la.name}.avgpool"
                nodes[pool] = nir.AvgPool2d(
                    kernel_size=np.array([h, wd]), stride=np.array([h, wd]), padding=np.array([0, 0])
                )
                flat = f"{la.name}.flatten"
                nodes[flat] = nir.Flatten(input_type={"input": np.array([la.cin, 1, 1])}, start_dim=0)
                edges += [(src, pool), (pool, flat), (flat, syn)]
                n_in = la.cin
            elif h * wd > 1:
                flat = f"{la.name}.flatten"
                nodes[flat] = nir.Flatten(input_type={"input": np.array([la.cin, h, wd])}, start_dim=0)
                edges += [(src, flat), (flat, syn)]
                n_in = la.cin * h * wd
            else:
                edges.append((src, syn))
                n_in = la.cin
            weight = w.get("weight", _zeros((la.cout, n_in)))
            nodes[syn] = nir.Linear(weight=weight.reshape(la.cout, -1))
        neuron = f"{la.name}.neuron"
        shape = (la.cout, *la.out_hw) if la.kind == "conv" else (la.cout,)
        if w.get("readout") is not None:
            nodes[neuron] = nir.I(r=np.ones(shape, dtype=np.float32))
        else:
            th = w.get("threshold")
            if th is None:
                th = np.ones(shape, dtype=np.float32)
            else:
                per_channel = np.asarray(th, dtype=np.float32).reshape(-1, *([1] * (len(shape) - 1)))
                th = np.broadcast_to(per_channel, shape).copy()
            nodes[neuron] = nir.IF(r=np.ones(shape, dtype=np.float32), v_threshold=th)
        edges.append((syn, neuron))
        for s in la.skips:  # a residual join: the skip spikes add where their shape fits, input or output
            src_layer = wl.by_name[s]
            skip_shape = (src_layer.cout, *src_layer.emit_hw)
            into = syn if skip_shape == (la.cin, *la.in_hw) else neuron
            edges.append((spikes_of[s], into))
        spikes_of[la.name] = neuron
        if la.out_pool is not None:
            p = la.out_pool
            pool = p.name if p.name not in nodes and p.name not in wl.by_name else f"{la.name}.{p.name}"
            nodes[pool] = nir.SumPool2d(
                kernel_size=np.array([p.kernel, p.kernel]),
                stride=np.array([p.stride, p.stride]),
                padding=np.array([p.padding, p.padding]),
            )
            edges.append((neuron, pool))
            spikes_of[la.name] = pool
    out = wl.output_layer
    nodes["output"] = nir.Output(output_type={"output": np.array([out.cout, *out.emit_hw])})
    edges.append((spikes_of[out.name], "output"))
    meta = {
        "dataset": wl.dataset,
        "exported_by": "elsa-tlm",
        "source": wl.model,
        "weights": "trained" if weights else "placeholder",
        "layer_order": [la.name for la in wl.layers],  # HDF5 keeps nodes by name: the execution order
        "mains": {la.name: la.main for la in wl.layers if la.skips},  # each join's main input
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)


def digits_weights() -> dict[str, dict[str, np.ndarray]]:
    """The trained digits CNN's integer weights, biases and thresholds, per layer (fc: its readout)."""
    from elsa_tlm.snn.digits import load_digits_model

    model = load_digits_model()
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in model.layer_names:
        node = model.node(name)
        entry = {
            "weight": np.asarray(node.weight, dtype=np.float32),
            "bias": np.asarray(node.bias, dtype=np.float32),
        }
        if node.readout:
            entry["readout"] = np.array(1)
        else:
            entry["threshold"] = np.asarray(node.theta, dtype=np.float32)
        out[name] = entry
    return out


def export(model: str, path: Any) -> Any:
    """Write shipped ``model`` as a NIR graph to ``path`` (cleared by the output guard: new, or a NIR file
    elsa-tlm exported); returns the path."""
    import io

    import nir

    from elsa_tlm.errors import ConfigError
    from elsa_tlm.fileio import check_output_file, write_bytes_atomic
    from elsa_tlm.workload.graph import load_workload

    if model in ("vit_small", "digits_vit"):
        raise ConfigError(
            "MODEL", model, "a transformer has no NIR form (NIR 1.0 has no spike x spike product)"
        )
    target = check_output_file(path, "--nir", _is_own_export)
    wl = load_workload(model)
    graph = export_graph(wl, digits_weights() if model == "digits" else None)
    buf = io.BytesIO()
    nir.write(buf, graph)
    return write_bytes_atomic(target, buf.getvalue())


def _is_own_export(path: Any) -> bool:
    """True if ``path`` is a NIR file elsa-tlm exported (its graph's metadata says so)."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            v = f["node"]["metadata"]["exported_by"][()]
    except Exception:  # noqa: BLE001 - any unreadable file is not ours
        return False
    return (v.decode() if isinstance(v, bytes) else str(v)) == "elsa-tlm"


__all__ = ["export", "export_graph", "digits_weights", "Layer"]
