"""``elsa-tlm report DIR``: one self-contained HTML page (``DIR/report.html``) for a run or a sweep.

A run folder (``summary.json``) gives: the key results, the energy breakdown, the NoC totals, every PNG in the
folder and the first rows of ``layers.csv``. A sweep folder (``sweep.csv``) gives: the sweep's description,
the ``sweep.csv`` table (failed points highlighted) and every PNG in the folder. ``--images DIR`` adds the
PNGs of other folders (e.g. a study's ``plots/<name>/``). Images are embedded as base64 data URIs, so the
page can be mailed or archived on its own.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import json
from pathlib import Path
from typing import Any

from elsa_tlm.errors import ConfigError
from elsa_tlm.fileio import write_text_atomic

LAYER_ROWS = 25
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}th{background:#f3f3f3}
td.t,th.t{text-align:left}tr.bad td{background:#fde8e8}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
.scroll{overflow-x:auto}.muted{color:#777;font-size:.85em}
"""


def _fmt(v: Any) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return v
        if v.strip().lstrip("-").isdigit():
            return v
        return f"{f:.6g}"
    return str(v)


def _is_text(v: Any) -> bool:
    if isinstance(v, str):
        try:
            float(v)
        except ValueError:
            return True
    return False


def html_table(rows: list[dict[str, Any]], columns: list[str], bad: str | None = None) -> str:
    """An HTML table of ``rows``; rows whose ``bad`` column is neither '' nor 'ok' are highlighted."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cls = ' class="bad"' if bad and str(r.get(bad, "ok")) not in ("", "ok") else ""
        cells = "".join(
            f"<td{' class=t' if _is_text(r.get(c)) else ''}>{html.escape(_fmt(r.get(c)))}</td>"
            for c in columns
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def _kv_table(pairs: list[tuple[str, Any]]) -> str:
    rows = "".join(
        f'<tr><th class="t">{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>' for k, v in pairs
    )
    return f"<table>{rows}</table>"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(str(path))}</figcaption></figure>"
    )


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _run_body(folder: Path) -> tuple[str, str]:
    try:
        s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError("report", str(folder), f"cannot read summary.json: {exc}") from None
    title = f"{s.get('model', '?')} on {s.get('topology', '?')} ({s.get('schedule', '?')})"
    keys = [
        "model",
        "dataset",
        "time_steps",
        "schedule",
        "product",
        "protocol",
        "flit_bits",
        "topology",
        "routing",
        "memory",
        "clock_mhz",
        "latency_cycles",
        "latency_ms",
        "first_output_cycle",
        "energy_j",
        "ops",
        "sops",
        "gops",
        "tops_per_w",
        "pj_per_sop",
        "area_mm2",
        "cores_used",
        "cores_total",
    ]
    parts = ["<h2>Key results</h2>", _kv_table([(k, s[k]) for k in keys if k in s])]
    if isinstance(s.get("energy_breakdown_j"), dict):
        eb = s["energy_breakdown_j"]
        total = sum(v for v in eb.values() if isinstance(v, int | float)) or 1.0
        parts += [
            "<h2>Energy breakdown</h2>",
            html_table(
                [
                    {"part": k, "energy_j": v, "share": v / total}
                    for k, v in sorted(eb.items(), key=lambda kv: -kv[1])
                ],
                ["part", "energy_j", "share"],
            ),
        ]
    if isinstance(s.get("noc"), dict):
        parts += ["<h2>Network-on-chip</h2>", _kv_table(sorted(s["noc"].items()))]
    if isinstance(s.get("sim"), dict):
        parts += ["<h2>Simulator</h2>", _kv_table(sorted(s["sim"].items()))]
    return title, "\n".join(parts) + _layers(folder)


def _layers(folder: Path) -> str:
    path = folder / "layers.csv"
    if not path.is_file():
        return ""
    cols, rows = _read_csv(path)
    more = f'<p class="muted">first {LAYER_ROWS} of {len(rows)} layers</p>' if len(rows) > LAYER_ROWS else ""
    return "<h2>Layers (layers.csv)</h2>" + html_table(rows[:LAYER_ROWS], cols) + more


def _sweep_body(folder: Path) -> tuple[str, str]:
    meta: dict[str, Any] = {}
    if (folder / "sweep.json").is_file():
        try:
            meta = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            meta = {}
    try:
        cols, rows = _read_csv(folder / "sweep.csv")
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError("report", str(folder), f"cannot read sweep.csv: {exc}") from None
    failed = sum(r.get("status", "ok") != "ok" for r in rows)
    title = f"sweep {meta.get('name', folder.name)}"
    info = [("points", len(rows)), ("failed", failed)]
    for k in ("description", "base", "source"):
        if meta.get(k):
            info.append((k, meta[k]))
    if meta.get("set"):
        info.append(("set", ", ".join(meta["set"])))
    for k, v in (meta.get("axes") or {}).items():
        info.append((f"axis {k}", ", ".join(map(str, v))))
    parts = [
        "<h2>Sweep</h2>",
        _kv_table(info),
        "<h2>Points (sweep.csv)</h2>",
        html_table(rows, cols, "status"),
    ]
    return title, "\n".join(parts)


def build_report(folder: str | Path, images: list[str | Path] | tuple = ()) -> str:
    """The HTML text of the report on a run or sweep ``folder`` (plus the PNGs of ``images`` folders)."""
    d = Path(folder)
    if not d.exists():
        raise ConfigError("report", str(folder), "folder not found")
    if not d.is_dir():
        raise ConfigError("report", str(folder), "not a folder")
    if (d / "sweep.csv").is_file():
        title, body = _sweep_body(d)
    elif (d / "summary.json").is_file():
        title, body = _run_body(d)
    else:
        raise ConfigError(
            "report", str(folder), "neither a run (summary.json) nor a sweep (sweep.csv) folder"
        )
    pngs = sorted(d.glob("*.png"))
    for extra in images:
        e = Path(extra)
        if not e.is_dir():
            raise ConfigError("--images", str(extra), "folder not found")
        pngs += sorted(e.glob("*.png"))
    figures = "<h2>Figures</h2>" + "\n".join(_image(p) for p in pngs) if pngs else ""
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>elsa-tlm: {html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>elsa-tlm report: {html.escape(title)}</h1>"
        f'<p class="muted">{html.escape(str(d.resolve()))}</p>'
        f"{body}\n{figures}\n</body></html>\n"
    )


def write_report(
    folder: str | Path, out: str | Path | None = None, images: list[str | Path] | tuple = ()
) -> Path:
    """Write the report (default ``folder/report.html``) atomically; returns its path."""
    text = build_report(folder, images)
    return write_text_atomic(Path(out) if out else Path(folder) / "report.html", text)


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to the main parser."""
    p = subparsers.add_parser("report", help="one self-contained HTML page for a run or sweep folder")
    p.add_argument("dir", help="a run folder (summary.json) or a sweep folder (sweep.csv)")
    p.add_argument("--out", help="HTML file (default DIR/report.html)")
    p.add_argument("--images", action="append", default=[], metavar="DIR", help="also embed the PNGs of DIR")
    p.set_defaults(func=cmd_report)
    return p


def cmd_report(args: argparse.Namespace) -> int:
    """The ``elsa-tlm report`` command."""
    path = write_report(args.dir, args.out, args.images)
    print(f"report: {path}")
    return 0
