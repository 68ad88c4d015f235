"""Timeline of one run as Chrome/Perfetto trace events, gzip-compressed (``trace.json.gz``; ui.perfetto.dev and
chrome://tracing open it as it is).

Layout: one process per router node (``core N (r,c)``). In it, one thread per lane group (a co-mapped layer
slice, or ``PE`` when the groups are time-shared) carries a complete event ("X") per PE transaction (the layer
slice it served, its time step, the spines it fired) and the intervals its PEs were ``stalled on output`` (a
slice's outputs could not leave); a gap is the group waiting for input. ``to core K`` threads carry the packet
trains the core sent to core K (flits, packets; overlapping trains to one core go on ``to core K #2``...);
``softmax <slice>`` threads the softmax stall of every step (overlapping steps on ``#2``...). Every thread's
events are disjoint (nested trivially), as Perfetto's JSON importer expects. The router's input FIFOs are
counters ("C") named by the port they belong to (``fifo from N``/``E``/``S``/``W`` on grids, ``from core U``
otherwise, ``fifo local`` and ``fifo loopback`` where the router model buffers a core's own trains: the ``vc``
router's local VCs; the ``fast`` router sends them from the output queues straight to its switch, so it has no
local counter in a chip run), emitted when the occupancy changes. Timestamps are cycles converted to
microseconds at ``chip.clock_mhz``. Transfers and FIFO samples exist only for ``run.mode = "at"``.

Why gzip'd JSON: Perfetto and Chrome read it directly, it needs no library, and it is ~10x smaller than the
plain text (ViT-Small T=2: a few MB); a protobuf writer would need a dependency for the same result.
"""

from __future__ import annotations

import gzip
import heapq
import json
from pathlib import Path
from typing import Any

from elsa_tlm.fileio import write_bytes_atomic, write_text_atomic

NOC_TID = 10_000  # noc tx lanes: tids NOC_TID, NOC_TID + 1, ...


def _lanes(intervals: list[tuple[int, int, int]]) -> list[int]:
    """Greedy interval partitioning: a lane per interval (start, end, idx) with no overlap inside a lane."""
    free: list[tuple[int, int]] = []  # (end, lane)
    lane_of = [0] * len(intervals)
    n_lanes = 0
    for start, end, idx in sorted(intervals):
        if free and free[0][0] <= start:
            _, lane = heapq.heappop(free)
        else:
            lane, n_lanes = n_lanes, n_lanes + 1
        lane_of[idx] = lane
        heapq.heappush(free, (max(end, start), lane))
    return lane_of


def _node_label(result: Any, node: int) -> str:
    cols = result.summary.get("topology", "")
    if isinstance(cols, str) and cols.split(":")[0] in ("mesh", "torus"):
        c = int(cols.split(":")[1].split("x")[1])
        return f"core {node} ({node // c},{node % c})"
    return f"core {node}"


def trace_events(result: Any) -> list[dict[str, Any]]:
    """The trace events of ``result`` (metadata first, then everything else sorted by timestamp)."""
    us = 1.0 / float(result.config.chip.clock_mhz)  # µs per cycle
    events: list[dict[str, Any]] = []
    threads: dict[int, dict[str, int]] = {}  # pid -> thread name -> tid

    def tid_for(pid: int, name: str, base: int = 1) -> int:
        names = threads.setdefault(pid, {})
        if name not in names:
            used = set(names.values())
            t = base
            while t in used:
                t += 1
            names[name] = t
        return names[name]

    layer_order = {la.name: i for i, la in enumerate(result.workload.layers)}
    slice_names = sorted(
        {(int(e["pid"]), str(e["tid"])) for e in result.trace_events},
        key=lambda pt: (pt[0], layer_order.get(pt[1].split("#")[0], 1 << 20), pt[1]),
    )
    for pid, name in slice_names:
        tid_for(pid, name)
    by_thread: dict[tuple[int, str], list[int]] = {}
    raw = list(result.trace_events)
    for i, e in enumerate(raw):
        by_thread.setdefault((int(e["pid"]), str(e["tid"])), []).append(i)
    for (pid, name), idxs in by_thread.items():
        # events that overlap on one named thread (the softmax stalls of consecutive steps) go on lanes
        lanes = _lanes(
            [
                (int(raw[i]["ts"]), int(raw[i]["ts"]) + max(0, int(raw[i]["dur"])), k)
                for k, i in enumerate(idxs)
            ]
        )
        for k, i in enumerate(idxs):
            e = raw[i]
            lane = lanes[k]
            events.append(
                {
                    "name": str(e["name"]),
                    "cat": "pe",
                    "ph": "X",
                    "pid": pid,
                    "tid": threads[pid][name] if lane == 0 else tid_for(pid, f"{name} #{lane + 1}"),
                    "ts": round(e["ts"] * us, 4),
                    "dur": round(max(0, e["dur"]) * us, 4),
                    "args": dict(e.get("args", {})),
                }
            )
    by_pair: dict[tuple[int, int], list[int]] = {}
    transfers = list(result.noc_transfers)
    for i, (src, dst, *_rest) in enumerate(transfers):
        by_pair.setdefault((int(src), int(dst)), []).append(i)
    for (src, dst), idxs in sorted(by_pair.items()):
        lanes = _lanes([(transfers[i][2], transfers[i][3], k) for k, i in enumerate(idxs)])
        for k, i in enumerate(idxs):
            _, _, sent, done, flits, packets = transfers[i]
            lane = lanes[k]
            name = f"to core {dst}" if lane == 0 else f"to core {dst} #{lane + 1}"
            events.append(
                {
                    "name": f"{flits} flits",
                    "cat": "noc",
                    "ph": "X",
                    "pid": src,
                    "tid": tid_for(src, name, NOC_TID),
                    "ts": round(sent * us, 4),
                    "dur": round(max(0, done - sent) * us, 4),
                    "args": {"dst": int(dst), "flits": int(flits), "packets": int(packets)},
                }
            )
    counter_pids: set[int] = set()
    port_names = _port_names(result)
    last: dict[tuple[int, int], int] = {}
    for cycle, node, port, flits in result.fifo_samples:
        key = (int(node), int(port))
        if last.get(key) == int(flits):
            continue  # a counter changes only when the occupancy does
        last[key] = int(flits)
        counter_pids.add(int(node))
        events.append(
            {
                "name": f"fifo {port_names.get(key, f'in{int(port)}')} (flits)",
                "ph": "C",
                "pid": int(node),
                "tid": 0,
                "ts": round(cycle * us, 4),
                "args": {"flits": int(flits)},
            }
        )
    events.sort(key=lambda e: (e["ts"], e["pid"], e["tid"]))

    meta: list[dict[str, Any]] = []
    for pid in sorted(set(threads) | counter_pids):
        meta.append(_meta("process_name", pid, 0, {"name": _node_label(result, pid)}))
        meta.append(_meta("process_sort_index", pid, 0, {"sort_index": pid}))
        names = threads.get(pid, {})
        if pid in counter_pids:  # counters are drawn on the process; name its tid 0 too
            meta.append(_meta("thread_name", pid, 0, {"name": "router input FIFOs"}))
        for name, tid in sorted(names.items(), key=lambda nt: nt[1]):
            meta.append(_meta("thread_name", pid, tid, {"name": name}))
            meta.append(_meta("thread_sort_index", pid, tid, {"sort_index": tid}))
    return meta + events


def _port_names(result: Any) -> dict[tuple[int, int], str]:
    """(node, input port) -> its name: ``local`` for port 0, then the neighbours in ascending order, named
    N/E/S/W on a mesh or torus (N: the row above), ``from core U`` on other graphs, then ``loopback`` (the
    second local path, ``noc.local_paths = 2``)."""
    from elsa_tlm.noc.topology import build_topology

    try:
        topo = build_topology(result.config.noc.topology, result.config.base_dir)
    except Exception:  # noqa: BLE001 - a trace is still useful with port numbers
        return {}
    spec = topo.spec.split(":")
    grid = spec[0] in ("mesh", "torus")
    rows, cols = (int(v) for v in spec[1].split("x")) if grid else (0, 0)
    out: dict[tuple[int, int], str] = {}
    for v in range(topo.n_nodes):
        out[(v, 0)] = "local"
        for i, u in enumerate(sorted(topo.graph.neighbors(v)), start=1):
            name = f"from core {u}"
            if grid:
                dr, dc = (u // cols - v // cols) % rows, (u % cols - v % cols) % cols
                name = {
                    (rows - 1, 0): "from N",
                    (1, 0): "from S",
                    (0, cols - 1): "from W",
                    (0, 1): "from E",
                }.get((dr, dc), name)
            out[(v, i)] = name
        if result.config.noc.local_paths == 2:
            out[(v, 1 + topo.graph.degree(v))] = "loopback"
    return out


def _meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "ph": "M", "pid": pid, "tid": tid, "ts": 0, "args": args}


def write_trace(path: str | Path, result: Any) -> Path:
    """Write the trace (``{"traceEvents": [...], "displayTimeUnit": "ns"}``) atomically; gzip for ``*.gz``."""
    doc = {
        "traceEvents": trace_events(result),
        "displayTimeUnit": "ns",
        "otherData": {
            "model": result.summary.get("model"),
            "topology": result.summary.get("topology"),
            "clock_mhz": result.config.chip.clock_mhz,
            "time_unit": "ts and dur in microseconds (cycles / clock_mhz)",
        },
    }
    text = json.dumps(doc, separators=(",", ":")) + "\n"
    if str(path).endswith(".gz"):  # mtime 0: the same run gives the same bytes
        return write_bytes_atomic(path, gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0))
    return write_text_atomic(path, text)
