"""Timeline of one run as Chrome/Perfetto trace-event JSON (``trace.json``; open it in ui.perfetto.dev).

Layout: one process per router node (``core N (r,c)``). In it, the ``PE`` thread carries a complete event ("X")
per PE transaction (named after the layer slice it served, with its time step and the spines it fired) and
the intervals the PEs stood idle (``stalled on output``: a slice's outputs could not leave; ``waiting for
input``), and ``noc tx`` threads carrying the packet trains the core sent (destination,
flits, packets); overlapping transfers are spread over ``noc tx``, ``noc tx 2``... so that events on one
thread never overlap. Destination FIFO occupancy is a counter ("C") per router input port. Timestamps are
cycles converted to microseconds at ``chip.clock_mhz``; metadata events ("M") name every process and thread.
Transfers and FIFO samples exist only for ``run.mode = "at"`` with ``output.trace = true``.
"""

from __future__ import annotations

import heapq
import json
from pathlib import Path
from typing import Any

from elsa_tlm.fileio import write_text_atomic

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
    for e in result.trace_events:
        pid = int(e["pid"])
        events.append(
            {
                "name": str(e["name"]),
                "cat": "pe",
                "ph": "X",
                "pid": pid,
                "tid": threads[pid][str(e["tid"])],
                "ts": e["ts"] * us,
                "dur": max(0, e["dur"]) * us,
                "args": dict(e.get("args", {})),
            }
        )
    by_src: dict[int, list[int]] = {}
    transfers = list(result.noc_transfers)
    for i, (src, *_rest) in enumerate(transfers):
        by_src.setdefault(int(src), []).append(i)
    for src, idxs in by_src.items():
        lanes = _lanes([(transfers[i][2], transfers[i][3], k) for k, i in enumerate(idxs)])
        for k, i in enumerate(idxs):
            _, dst, sent, done, flits, packets = transfers[i]
            lane = lanes[k]
            tid = tid_for(src, "noc tx" if lane == 0 else f"noc tx {lane + 1}", NOC_TID + lane)
            events.append(
                {
                    "name": f"-> core {dst}",
                    "cat": "noc",
                    "ph": "X",
                    "pid": src,
                    "tid": tid,
                    "ts": sent * us,
                    "dur": max(0, done - sent) * us,
                    "args": {"dst": int(dst), "flits": int(flits), "packets": int(packets)},
                }
            )
    counter_pids: set[int] = set()
    for cycle, node, port, flits in result.fifo_samples:
        counter_pids.add(int(node))
        events.append(
            {
                "name": f"fifo in{int(port)} (flits)",
                "cat": "fifo",
                "ph": "C",
                "pid": int(node),
                "tid": 0,
                "ts": cycle * us,
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
            meta.append(_meta("thread_name", pid, 0, {"name": "router fifos"}))
        for name, tid in sorted(names.items(), key=lambda nt: nt[1]):
            meta.append(_meta("thread_name", pid, tid, {"name": name}))
            meta.append(_meta("thread_sort_index", pid, tid, {"sort_index": tid}))
    return meta + events


def _meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "ph": "M", "pid": pid, "tid": tid, "ts": 0, "args": args}


def write_trace(path: str | Path, result: Any) -> Path:
    """Write ``trace.json`` (``{"traceEvents": [...], "displayTimeUnit": "ns"}``) atomically."""
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
    return write_text_atomic(path, json.dumps(doc, separators=(",", ":")) + "\n")
