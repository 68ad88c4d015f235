"""``elsa-tlm report DIR``: one self-contained HTML page (``DIR/report.html``) for a run or a sweep.

A run folder (``summary.json``) gives: the key results with units (cycles and ms, µJ, mm², MB), the design
point, per-step timing, the energy and area breakdowns, the NoC totals, the busiest links (``links.csv``),
every layer (``layers.csv``), the simulator's cost, the resolved configuration and every PNG of the folder.
A sweep folder (``sweep.csv``) gives: the sweep's description, every failed point with its status and error
message, the ``sweep.csv`` table and every PNG. ``--images DIR`` adds the PNGs of other folders (e.g. a
study's ``plots/<name>/``). Images are embedded as base64 data URIs, so the page can be mailed or archived on
its own. Optional files that are missing or unreadable are noted on the page, never fatal.

The page starts with :data:`MARKER`; an existing file is only ever overwritten if it starts with it (or is a
report of an earlier version), so ``--out`` can never destroy anything else.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from elsa_tlm.errors import ConfigError
from elsa_tlm.fileio import check_output_file, read_marker, write_text_atomic

MARKER = "<!-- elsa-tlm report -->"
LEGACY_PREFIX = "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>elsa-tlm: "  # before MARKER
TOP_LINKS = 20
ERROR_CHARS = 60  # an error message in a table cell is cut here (the full text: its tooltip, the failed box)
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em auto;max-width:1240px;color:#222;
 padding:0 1em;line-height:1.4}
h1{font-size:1.45em;margin-bottom:.2em}h2{font-size:1.12em;margin-top:1.8em;border-bottom:1px solid #ccc}
nav{font-size:.85em;margin:.6em 0 1em}nav a{margin-right:.9em;white-space:nowrap}
table{border-collapse:separate;border-spacing:0;font-size:.84em;margin:.4em 0}
th,td{border-bottom:1px solid #e2e2e2;padding:.28em .65em;text-align:right;white-space:nowrap;
 font-variant-numeric:tabular-nums}
th{background:#f1f3f5;font-weight:600;vertical-align:bottom;white-space:normal;min-width:4.5em}
thead th{position:sticky;top:0;z-index:2;border-bottom:2px solid #bbb}
th .u{display:block;font-weight:400;color:#666;font-size:.9em}
td.t,th.t{text-align:left}td.wrap{white-space:normal;text-align:left;max-width:60em}
tr.bad td{background:#fdecec}tbody tr:hover td{background:#f6f9ff}
.scroll{overflow:auto;max-height:72vh;border:1px solid #ddd;margin:.4em 0}
.scroll table{margin:0}.scroll td:first-child,.scroll th:first-child{position:sticky;left:0;z-index:1;
 background:#fff;border-right:1px solid #e2e2e2}.scroll thead th:first-child{z-index:3;background:#f1f3f5}
tr.bad td:first-child{background:#fdecec}
.bar{display:inline-block;height:.8em;background:#4c78a8;vertical-align:middle}
.bar.fo{background:#e45756}td.barcell{min-width:14em;text-align:left}
.failed{border:2px solid #c62828;background:#fff5f5;padding:.5em 1em;margin:1em 0;border-radius:4px}
.failed h2{color:#b71c1c;border-bottom-color:#e8a0a0;margin-top:.4em}
.failed pre{white-space:pre-wrap;margin:.2em 0 .8em;font-size:.85em;background:#fff;padding:.4em;
 border:1px solid #f0c0c0}
.warned{border:2px solid #e0a800;background:#fffbea;padding:.5em 1em;margin:1em 0;border-radius:4px}
.warned h2{color:#8a6100;border-bottom-color:#f0d890;margin-top:.4em}
.status{display:inline-block;padding:0 .45em;border-radius:3px;font-size:.85em;font-weight:600}
.status.ok{background:#e3f4e3;color:#1b5e20}.status.no{background:#c62828;color:#fff}
pre.cfg{background:#f7f7f7;border:1px solid #ddd;padding:.8em;overflow:auto;max-height:70vh;font-size:.8em}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
.muted{color:#777;font-size:.85em}.note{color:#8a5a00;font-size:.88em}
"""

# column name -> (label, unit, scale): the unit and scale shown in tables (csv columns and summary keys)
COLUMNS: dict[str, tuple[str, str, float]] = {
    "latency_cycles": ("latency", "cycles", 1.0),
    "latency_ms": ("latency", "ms", 1.0),
    "first_output_cycle": ("first output", "cycles", 1.0),
    "energy_j": ("energy", "µJ", 1e6),
    "tops_per_w": ("efficiency", "TOPS/W", 1.0),
    "pj_per_sop": ("energy/SOP", "pJ", 1.0),
    "area_mm2": ("area", "mm²", 1.0),
    "cores_used": ("cores used", "", 1.0),
    "noc_traffic_mb": ("NoC traffic", "MB", 1.0),
    "noc_flits": ("NoC flits", "flits", 1.0),
    "noc_max_link_flits": ("busiest link", "flits", 1.0),
    "wall_s": ("wall time", "s", 1.0),
    "input_spikes": ("input spikes", "", 1.0),
    "output_spikes": ("output spikes", "", 1.0),
    "expanded_events": ("im2col events", "", 1.0),
    "packets_in": ("packets in", "", 1.0),
    "flits_in": ("flits in", "", 1.0),
    "packets_out": ("packets out", "", 1.0),
    "busy_cycles": ("busy", "cycles", 1.0),
    "first_spine_cycle": ("first spine", "cycle", 1.0),
    "last_spine_cycle": ("last spine", "cycle", 1.0),
    "transactions": ("transactions", "", 1.0),
    "utilisation": ("utilisation", "% of latency", 100.0),
    "mb": ("traffic", "MB", 1.0),
    "accuracy": ("accuracy", "%", 100.0),
}
TEXT_COLUMNS = {"point", "status", "error", "layer", "kind", "cores", "link"}


# ------------------------------------------------------------------------------------------ formatting
def _number(v: Any) -> float | int | None:
    """``v`` as a finite or non-finite number, None if it is not one (bools and text that is no number)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return v
    if isinstance(v, str) and v.strip():
        t = v.strip()
        try:
            return int(t)
        except ValueError:
            pass
        try:
            return float(t)
        except ValueError:
            return None
    return None


def fmt_num(v: float | int, sig: int = 4) -> str:
    """Integers with thousands separators; floats to ``sig`` significant digits without trailing zeros,
    plain between 1e-4 and 1e7, else in e-notation."""
    if isinstance(v, int):
        return f"{v:,}"
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e7 or a < 1e-4:
        mant, exp = f"{v:.{sig - 1}e}".split("e")
        return f"{mant.rstrip('0').rstrip('.')}e{exp}"
    decimals = max(0, sig - 1 - math.floor(math.log10(a)))
    text = f"{v:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _fmt(v: Any, scale: float = 1.0) -> str:
    """A cell: numbers formatted (scaled), text as is, None/'' empty."""
    if v is None or v == "":
        return ""
    n = _number(v)
    if n is None:
        return str(v)
    if scale != 1.0:
        return fmt_num(float(n) * scale)
    return fmt_num(n)


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _header(col: str, label: str | None = None, unit: str | None = None) -> tuple[str, str, float]:
    lab, u, scale = COLUMNS.get(col, (col, "", 1.0))
    return label or lab, u if unit is None else unit, scale


def html_table(
    rows: list[dict[str, Any]],
    columns: list[str],
    bad: str | None = None,
    headers: dict[str, tuple[str, str]] | None = None,
    wide: bool = True,
) -> str:
    """A table of ``rows``: units under the headers, numbers right-aligned and formatted (scaled to the unit
    of :data:`COLUMNS`), text left-aligned; rows whose ``bad`` column is neither '' nor 'ok' highlighted.
    ``wide``: in a scroll container with a sticky header and first column."""
    numeric = {
        c: c not in TEXT_COLUMNS
        and any(r.get(c) not in (None, "") for r in rows)
        and all(_number(r.get(c)) is not None for r in rows if r.get(c) not in (None, ""))
        for c in columns
    }
    spec = {c: _header(c, *(headers or {}).get(c, (None, None))) for c in columns}
    head = "".join(
        f'<th{"" if numeric[c] else " class=t"} title="{_esc(c)}">{_esc(spec[c][0])}'
        + (f'<span class="u">{_esc(spec[c][1])}</span>' if spec[c][1] else "")
        + "</th>"
        for c in columns
    )
    body = []
    for r in rows:
        failed = bad is not None and str(r.get(bad, "ok")) not in ("", "ok")
        cells = []
        for c in columns:
            v = r.get(c)
            if c == bad:
                cells.append(f"<td class=t>{_status(v)}</td>")
            elif c == "error":
                full = str(v or "")
                short = full if len(full) <= ERROR_CHARS else full[: ERROR_CHARS - 1] + "…"
                cells.append(f'<td class=t title="{_esc(full)}">{_esc(short)}</td>')
            elif numeric[c]:
                cells.append(f"<td>{_esc(_fmt(v, spec[c][2]))}</td>")
            else:
                cells.append(f"<td class=t>{_esc(_fmt(v))}</td>")
        body.append(f"<tr{' class=bad' if failed else ''}>{''.join(cells)}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{table}</div>' if wide else table


def _status(v: Any) -> str:
    s = str(v or "")
    cls = "ok" if s in ("", "ok") else "no"
    return f'<span class="status {cls}">{_esc(s or "ok")}</span>'


def _kv_table(pairs: Iterable[tuple[str, Any, str]]) -> str:
    """Rows of (quantity, value, unit or second value); values right-aligned if they start with a number."""

    def cls(v: Any) -> str:
        t = str(v).strip().replace(",", "")
        if len(t) > 60:
            return ' class="wrap"'
        return "" if t[:1].isdigit() or (t[:1] == "-" and t[1:2].isdigit()) else ' class="t"'

    rows = "".join(
        f'<tr><th class="t">{_esc(k)}</th><td{cls(v)}>{_esc(v)}</td><td class="t">{_esc(u)}</td></tr>'
        for k, v, u in pairs
    )
    return f"<table><tbody>{rows}</tbody></table>"


def _bar(frac: float, cls: str = "") -> str:
    w = max(0.0, min(1.0, frac)) * 12
    return f'<span class="bar {cls}" style="width:{w:.2f}em"></span>'


def _section(sid: str, title: str, body: str, toc: list[tuple[str, str]]) -> str:
    toc.append((sid, title))
    return f'<h2 id="{sid}">{_esc(title)}</h2>\n{body}'


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


# ------------------------------------------------------------------------------------------ files
def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _optional_csv(path: Path) -> tuple[list[str], list[dict[str, str]], str]:
    """(columns, rows, '') or ([], [], note) when the file is missing or unreadable."""
    if not path.is_file():
        return [], [], f"{path.name} is not in this folder."
    try:
        cols, rows = _read_csv(path)
    except (OSError, csv.Error, ValueError) as exc:
        return [], [], f"{path.name} could not be read: {exc}"
    return cols, rows, ""


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError("report", str(path), f"cannot read summary.json: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            "report",
            str(path),
            f"summary.json must hold a JSON object (a run's summary), not a JSON {type(data).__name__}",
        )
    return data


# ------------------------------------------------------------------------------------------ run report
def _cycles_ms(cycles: Any, clock_mhz: float | None) -> tuple[str, str]:
    c = _number(cycles)
    if c is None:
        return ("n/a" if cycles is None else str(cycles)), ""
    ms = f"{fmt_num(c / (clock_mhz * 1e3))} ms" if clock_mhz else ""
    return f"{fmt_num(c)} cycles", ms


def _key_results(s: dict[str, Any], clock: float | None) -> str:
    def num(k: str, unit: str, scale: float = 1.0) -> tuple[str, str] | None:
        v = _number(s.get(k))
        return None if v is None else (f"{fmt_num(v * scale if scale != 1.0 else v)} {unit}".strip(), "")

    rows: list[tuple[str, Any, str]] = []

    def add(label: str, val: tuple[str, str] | None) -> None:
        if val is not None:
            rows.append((label, val[0], val[1]))

    if "latency_cycles" in s:
        add("latency, all T steps", _cycles_ms(s["latency_cycles"], clock))
    if "first_output_cycle" in s:
        add("first output leaves the chip", _cycles_ms(s["first_output_cycle"], clock))
    add("energy per inference", num("energy_j", "µJ", 1e6))
    add("energy efficiency", num("tops_per_w", "TOPS/W"))
    add("energy per synaptic op", num("pj_per_sop", "pJ/SOP"))
    add("throughput", num("gops", "GOPS"))
    add("dense operations", num("ops", "ops"))
    add("synaptic operations", num("sops", "SOPs"))
    area = num("area_mm2", "mm²")
    if area:
        core = _number(s.get("area_core_mm2"))
        add("chip area", (area[0], f"{fmt_num(core)} mm² per core" if core is not None else ""))
    used, total = _number(s.get("cores_used")), _number(s.get("cores_total"))
    if used is not None:
        add("cores used", (f"{fmt_num(used)}" + (f" of {fmt_num(total)}" if total is not None else ""), ""))
    noc = s.get("noc") if isinstance(s.get("noc"), dict) else {}
    mb = _number(noc.get("traffic_mb"))
    if mb is not None:
        fl, pk = _number(noc.get("flits")), _number(noc.get("packets"))
        extra = ", ".join(
            x
            for x in (fl is not None and f"{fmt_num(fl)} flits", pk is not None and f"{fmt_num(pk)} packets")
            if x
        )
        add("NoC traffic", (f"{fmt_num(mb)} MB", extra))
    return _kv_table(rows) if rows else _note("summary.json has none of the key results.")


DESIGN_KEYS: list[tuple[str, str, str]] = [
    ("model", "network", ""),
    ("dataset", "dataset", ""),
    ("time_steps", "time steps T", ""),
    ("activity", "activity", ""),
    ("schedule", "pipeline schedule", ""),
    ("product", "PE product", ""),
    ("protocol", "spike packet format", ""),
    ("flit_bits", "flit size", "bits"),
    ("topology", "topology", ""),
    ("routing", "routing", ""),
    ("memory", "buffer technology", ""),
    ("clock_mhz", "clock", "MHz"),
    ("seed", "seed", ""),
]


def _design(s: dict[str, Any]) -> str:
    rows = [(label, _fmt(s[k]), unit) for k, label, unit in DESIGN_KEYS if k in s]
    return _kv_table(rows) if rows else _note("summary.json names no design parameters.")


def _steps(s: dict[str, Any], clock: float | None) -> str:
    steps = s.get("step_done_cycles")
    if not isinstance(steps, list) or not steps:
        return _note("summary.json has no step_done_cycles.")
    vals = [_number(v) for v in steps]
    if any(v is None for v in vals):
        return _note(f"step_done_cycles is not a list of numbers: {steps!r}"[:300])
    last = max(float(v) for v in vals if v is not None) or 1.0  # type: ignore[arg-type]
    fo = _number(s.get("first_output_cycle"))
    body = []
    prev = 0.0
    for t, v in enumerate(vals):
        assert v is not None
        ms = f"{fmt_num(v / (clock * 1e3))}" if clock else ""
        d = v - prev
        dms = f"{fmt_num(d / (clock * 1e3))}" if clock else ""
        first = fo is not None and t == 0
        body.append(
            f"<tr><td>{t}</td><td>{fmt_num(v)}</td><td>{ms}</td><td>{fmt_num(d)}</td><td>{dms}</td>"
            f'<td class="barcell">{_bar(v / last, "fo" if first else "")}</td></tr>'
        )
        prev = float(v)
    head = (
        "<thead><tr><th>step</th><th>output done<span class=u>cycles</span></th>"
        "<th>output done<span class=u>ms</span></th><th>since previous step<span class=u>cycles</span></th>"
        "<th>since previous step<span class=u>ms</span></th><th class=t>output done, share of latency</th>"
        "</tr></thead>"
    )
    note = (
        f'<p class="muted">Cycle at which each time step\'s output is complete (step 0 in red); '
        f"first output leaves at {fmt_num(fo)} cycles.</p>"
        if fo is not None
        else ""
    )
    wrap = len(vals) > 24
    table = f"<table>{head}<tbody>{''.join(body)}</tbody></table>"
    return note + (f'<div class="scroll">{table}</div>' if wrap else table)


def _breakdown(d: dict[str, Any], label: str, unit: str, scale: float, part: str) -> str:
    """Table of a breakdown dict, largest first, with shares, bars and the total."""
    items = [(k, _number(v)) for k, v in d.items()]
    good = [(k, float(v)) for k, v in items if v is not None]
    bad = [k for k, v in items if v is None]
    total = sum(v for _, v in good)
    body = []
    for k, v in sorted(good, key=lambda kv: -kv[1]):
        share = v / total if total else 0.0
        body.append(
            f"<tr><td class=t>{_esc(k)}</td><td>{fmt_num(v * scale)}</td><td>{share * 100:.1f}</td>"
            f'<td class="barcell">{_bar(share)}</td></tr>'
        )
    body.append(f"<tr><th class=t>total</th><th>{fmt_num(total * scale)}</th><th>100.0</th><th></th></tr>")
    head = (
        f"<thead><tr><th class=t>{_esc(part)}</th><th>{_esc(label)}<span class=u>{_esc(unit)}</span></th>"
        "<th>share<span class=u>%</span></th><th class=t></th></tr></thead>"
    )
    extra = _note(f"not numbers, left out: {', '.join(bad)}") if bad else ""
    return f"<table>{head}<tbody>{''.join(body)}</tbody></table>{extra}"


def _area(s: dict[str, Any], toc: list[tuple[str, str]]) -> str:
    parts = []
    rows = []
    for k, label in (("area_mm2", "chip"), ("area_core_mm2", "one core (PEs + router)")):
        v = _number(s.get(k))
        if v is not None:
            rows.append((label, fmt_num(v), "mm²"))
    if rows:
        parts.append(_kv_table(rows))
    if isinstance(s.get("area_breakdown_mm2"), dict) and s["area_breakdown_mm2"]:
        parts.append('<p class="muted">Area of one core by block (area_breakdown_mm2):</p>')
        parts.append(_breakdown(s["area_breakdown_mm2"], "area", "mm²", 1.0, "block"))
    occ = s.get("macros_occupied")
    if isinstance(occ, dict) and occ:
        parts.append('<p class="muted">SRAM macros the mapped layers occupy (macros_occupied):</p>')
        parts.append(
            _kv_table((k, _fmt(v), "mm²" if k.endswith("_mm2") else "macros") for k, v in sorted(occ.items()))
        )
    rec = s.get("area_reconciliation")
    if isinstance(rec, list) and rec and all(isinstance(r, dict) for r in rec):
        parts.append('<p class="muted">Reconciliation with the paper\'s Table III (area_reconciliation):</p>')
        body = []
        for r in rec:
            diff = _number(r.get("difference_mm2"))
            body.append(
                f"<tr><td class=t>{_esc(r.get('line', ''))}</td><td class=t>{_esc(r.get('reported_key') or '–')}</td>"
                f"<td>{_fmt(r.get('model_mm2'))}</td><td>{_fmt(r.get('reported_mm2'))}</td>"
                f"<td>{'–' if diff is None else f'{diff:+.4f}'}</td><td class=wrap>{_esc(r.get('note', ''))}</td></tr>"
            )
        head = (
            "<thead><tr><th class=t>line</th><th class=t>Table III key</th><th>model<span class=u>mm²</span></th>"
            "<th>reported<span class=u>mm²</span></th><th>model − reported<span class=u>mm²</span></th>"
            "<th class=t>how it is built</th></tr></thead>"
        )
        parts.append(f"<table>{head}<tbody>{''.join(body)}</tbody></table>")
    if not parts:
        return ""
    return _section("area", "Area", "\n".join(parts), toc)


def _cores(folder: Path, toc: list[tuple[str, str]]) -> str:
    cols, rows, note = _optional_csv(folder / "cores.csv")
    if note:
        return _section("cores", "Cores (cores.csv)", _note(note), toc)
    text = (
        f'<p class="muted">{len(rows)} neural cores: busy / stalled-on-output / starved-on-input cycles within '
        "the latency, work after the answer, lane groups, FIFO peaks, flushes, per-PE computing cycles.</p>"
    )
    return _section("cores", "Cores (cores.csv)", text + html_table(rows, cols), toc)


NOC_UNITS: dict[str, tuple[str, str, float]] = {
    "router": ("router model that timed the trains (zero_load: lt's closed form)", "", 1.0),
    "packets": ("packets", "", 1.0),
    "flits": ("flits", "", 1.0),
    "bits": ("bits", "bits", 1.0),
    "traffic_mb": ("traffic", "MB", 1.0),
    "flit_hops": ("flit-hops (flits × links crossed)", "", 1.0),
    "max_link_flits": ("busiest link", "flits", 1.0),
    "mean_link_utilisation": ("mean link utilisation", "% of latency", 100.0),
}


def _noc(s: dict[str, Any]) -> str:
    noc = s["noc"]
    rows = []
    order = [k for k in NOC_UNITS if k in noc] + sorted(k for k in noc if k not in NOC_UNITS)
    for k in order:
        v = noc[k]
        label, unit, scale = NOC_UNITS.get(k, (k, "", 1.0))
        rows.append((label, _fmt(v, scale), unit))
    return _kv_table(rows)


def _links(folder: Path, s: dict[str, Any], toc: list[tuple[str, str]]) -> str:
    cols, rows, note = _optional_csv(folder / "links.csv")
    if note:
        return _section("links", "Links (links.csv)", _note(note), toc)
    latency = _number(s.get("latency_cycles"))
    table = []
    for r in rows:
        fl = _number(r.get("flits"))
        if fl is None:
            continue
        bits, busy = _number(r.get("bits")), _number(r.get("busy_cycles"))
        table.append(
            {
                "link": f"{r.get('src', '?')} → {r.get('dst', '?')}",
                "packets": r.get("packets"),
                "flits": fl,
                "mb": bits / 8e6 if bits is not None else None,
                "busy_cycles": busy,
                "utilisation": busy / latency if busy is not None and latency else None,
            }
        )
    used = [r for r in table if r["flits"] > 0]
    used.sort(key=lambda r: -r["flits"])
    top = used[:TOP_LINKS]
    shown = f"the busiest {len(top)} by flits" if len(used) > len(top) else "all of them, busiest first"
    text = (
        f'<p class="muted">{len(rows)} directed links, {len(used)} carry traffic; '
        f"{shown}. "
        "Utilisation = busy cycles / latency.</p>"
    )
    if not top:
        return _section("links", "Links (links.csv)", text, toc)
    return _section(
        "links",
        "Links (links.csv)",
        text + html_table(top, ["link", "packets", "flits", "mb", "busy_cycles", "utilisation"], wide=False),
        toc,
    )


def _layers(folder: Path, toc: list[tuple[str, str]]) -> str:
    cols, rows, note = _optional_csv(folder / "layers.csv")
    if note:
        return _section("layers", "Layers (layers.csv)", _note(note), toc)
    text = (
        f'<p class="muted">{len(rows)} layers in execution order; cores = the routers holding its slices.</p>'
    )
    return _section("layers", "Layers (layers.csv)", text + html_table(rows, cols), toc)


def _config(folder: Path, toc: list[tuple[str, str]]) -> str:
    path = folder / "config.resolved.toml"
    if not path.is_file():
        return _section(
            "config", "Resolved configuration", _note("config.resolved.toml is not in this folder."), toc
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        return _section("config", "Resolved configuration", _note(f"config.resolved.toml: {exc}"), toc)
    return _section(
        "config",
        "Resolved configuration (config.resolved.toml)",
        f'<p class="muted">Rerunning it reproduces this summary.</p><pre class="cfg">{_esc(text)}</pre>',
        toc,
    )


def _pct(v: Any) -> str:
    n = _number(v)
    return "" if n is None else f"{fmt_num(n * 100)} %"


def _elastic(s: dict[str, Any], clock: float | None, toc: list[tuple[str, str]]) -> str:
    """Accuracy of the functional (digits) runs: QANN/SNN, the early exit, accuracy after every step."""
    e = s.get("elastic") if isinstance(s.get("elastic"), dict) else {}
    if not e and "snn_accuracy" not in s:
        return ""
    rows: list[tuple[str, Any, str]] = []

    def add(label: str, value: str, extra: str = "") -> None:
        if value:
            rows.append((label, value, extra))

    add("QANN accuracy", _pct(s.get("qann_accuracy")), f"{_fmt(s.get('test_images'))} test images")
    add("SNN accuracy after all T steps", _pct(s.get("snn_accuracy")))
    add("samples simulated on the chip", _fmt(s.get("samples_simulated")))
    for key, label in (
        ("mean_latency_cycles", "mean latency"),
        ("mean_first_output_cycle", "mean first output"),
    ):
        if key in s:
            add(label, *_cycles_ms(s[key], clock))
    if _number(s.get("mean_energy_j")) is not None:
        add("mean energy per inference", f"{fmt_num(float(s['mean_energy_j']) * 1e6)} µJ")
    if _number(e.get("threshold")):
        add(
            "early exit at confidence",
            _fmt(e.get("threshold")),
            f"softmax temperature {_fmt(e.get('temperature'))}",
        )
        add("early exit: accuracy (simulated samples)", _pct(e.get("accuracy")))
        add("early exit: mean step (0-based)", _fmt(e.get("exit_step")))
        if "exit_cycle" in e:
            add("early exit: mean output cycle", *_cycles_ms(e["exit_cycle"], clock))
        if _number(e.get("energy_exit_j")) is not None:
            add("early exit: mean energy", f"{fmt_num(float(e['energy_exit_j']) * 1e6)} µJ")
        add("early exit: test-set accuracy", _pct(e.get("test_set_accuracy")))
        add("early exit: test-set mean step", _fmt(e.get("test_set_exit_step")))
        if "test_set_exit_cycle" in e:
            add("early exit: test-set mean output cycle", *_cycles_ms(e["test_set_exit_cycle"], clock))
    parts = [_kv_table(rows)]
    acc, cyc = e.get("accuracy_per_step"), e.get("mean_step_done_cycles")
    if isinstance(acc, list) and acc:
        cyc = cyc if isinstance(cyc, list) and len(cyc) == len(acc) else [None] * len(acc)
        table = [
            {"step": t, "accuracy": _number(a), "cycles": _number(c),
             "ms": _number(c) / (clock * 1e3) if clock and _number(c) is not None else None}
            for t, (a, c) in enumerate(zip(acc, cyc, strict=True))
        ]  # fmt: skip
        parts.append(
            '<p class="muted">Test accuracy after each step and the mean cycle its output is done:</p>'
        )
        parts.append(
            html_table(
                table,
                ["step", "accuracy", "cycles", "ms"],
                headers={
                    "accuracy": ("accuracy", "%"),
                    "cycles": ("output done", "cycles"),
                    "ms": ("output done", "ms"),
                },  # fmt: skip
                wide=len(table) > 24,
            )
        )
    return _section("elastic", "Elastic inference (accuracy)", "\n".join(parts), toc)


RUN_KEYS_SHOWN = {
    "elastic", "qann_accuracy", "snn_accuracy", "test_images", "samples_simulated", "mean_latency_cycles",
    "mean_first_output_cycle", "mean_energy_j",
    *(k for k, _, _ in DESIGN_KEYS),
    "latency_cycles", "latency_ms", "first_output_cycle", "energy_j", "tops_per_w", "pj_per_sop", "gops",
    "ops", "sops", "area_mm2", "area_core_mm2", "cores_used", "cores_total", "noc", "sim", "step_done_cycles",
    "energy_breakdown_j", "area_breakdown_mm2", "macros_occupied", "area_reconciliation",
    "system_energy_breakdown_j", "warnings",
}  # fmt: skip


SIM_UNITS = {
    "wall_s": ("wall time", "s"),
    "peak_rss_mb": ("peak memory (RSS)", "MB"),
    "events": ("SimPy events", ""),
    "mode": ("timing mode (at | lt)", ""),
}


def _flatten(prefix: str, v: Any) -> list[tuple[str, Any]]:
    if isinstance(v, dict):
        return [p for k, x in v.items() for p in _flatten(f"{prefix}.{k}", x)]
    if isinstance(v, list):
        return [(prefix, ", ".join(_fmt(x) for x in v) if len(v) <= 32 else f"[{len(v)} values]")]
    return [(prefix, v)]


def _run_body(folder: Path) -> tuple[str, str, list[tuple[str, str]]]:
    s = _read_summary(folder / "summary.json")
    clock = _number(s.get("clock_mhz"))
    clock = float(clock) if clock and clock > 0 and math.isfinite(clock) else None
    title = f"{s.get('model', '?')} on {s.get('topology', '?')} ({s.get('schedule', '?')})"
    toc: list[tuple[str, str]] = []
    warned = s.get("warnings")
    parts = [
        _warnings_box([(str(w), "") for w in warned] if isinstance(warned, list) else [], toc),
        _section("results", "Key results", _key_results(s, clock), toc),
        _section("design", "Design point", _design(s), toc),
        _section("steps", "Per-step timing", _steps(s, clock), toc),
        _elastic(s, clock, toc),
    ]
    if isinstance(s.get("energy_breakdown_j"), dict) and s["energy_breakdown_j"]:
        parts.append(
            _section(
                "energy",
                "Energy breakdown",
                "<p>On-chip energy (dynamic + leakage); the DRAM load of the input image is apart.</p>"
                + _breakdown(s["energy_breakdown_j"], "energy", "µJ", 1e6, "part")
                + (
                    f"<p>DRAM (input image): {_fmt(s['dram_energy_j'] * 1e6)} µJ; system (chip + DRAM): "
                    f"{_fmt(s['system_energy_j'] * 1e6)} µJ</p>"
                    if isinstance(s.get("dram_energy_j"), int | float)
                    and isinstance(s.get("system_energy_j"), int | float)
                    else ""
                ),
                toc,
            )
        )
    parts.append(_area(s, toc))
    if isinstance(s.get("noc"), dict):
        parts.append(_section("noc", "Network-on-chip", _noc(s), toc))
    parts.append(_links(folder, s, toc))
    parts.append(_layers(folder, toc))
    parts.append(_cores(folder, toc))
    if isinstance(s.get("sim"), dict):
        parts.append(
            _section(
                "sim",
                "Simulator",
                _kv_table(
                    (SIM_UNITS.get(k, (k, ""))[0], _fmt(v), SIM_UNITS.get(k, (k, ""))[1])
                    for k, v in sorted(s["sim"].items())
                ),
                toc,
            )
        )
    other = [p for k, v in s.items() if k not in RUN_KEYS_SHOWN and v is not None for p in _flatten(k, v)]
    if other:
        parts.append(
            _section("other", "Other summary fields", _kv_table((k, _fmt(v), "") for k, v in other), toc)
        )
    parts.append(_config(folder, toc))
    return title, "\n".join(p for p in parts if p), toc


# ------------------------------------------------------------------------------------------ sweep report
def _sweep_meta(folder: Path) -> tuple[dict[str, Any], str]:
    path = folder / "sweep.json"
    if not path.is_file():
        return {}, "sweep.json is not in this folder."
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, f"sweep.json could not be read: {exc}"
    if not isinstance(meta, dict):
        return {}, f"sweep.json holds a JSON {type(meta).__name__}, not an object: ignored."
    return meta, ""


def _sweep_body(folder: Path) -> tuple[str, str, list[tuple[str, str]]]:
    meta, meta_note = _sweep_meta(folder)
    try:
        cols, rows = _read_csv(folder / "sweep.csv")
    except (OSError, csv.Error, ValueError) as exc:
        raise ConfigError("report", str(folder / "sweep.csv"), f"cannot read sweep.csv: {exc}") from None
    failed = [r for r in rows if str(r.get("status") or "ok") != "ok"]
    counts: dict[str, int] = {}
    for r in rows:
        st = str(r.get("status") or "ok")
        counts[st] = counts.get(st, 0) + 1
    title = f"sweep {meta.get('name') or folder.name}"
    toc: list[tuple[str, str]] = []
    info: list[tuple[str, Any, str]] = [
        ("points", fmt_num(len(rows)), ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))),
    ]
    for k in ("description", "base", "source"):
        if meta.get(k):
            info.append((k, str(meta[k]), ""))
    if isinstance(meta.get("set"), list) and meta["set"]:
        info.append(("set", ", ".join(map(str, meta["set"])), ""))
    if isinstance(meta.get("axes"), dict):
        for k, v in meta["axes"].items():
            info.append((f"axis {k}", ", ".join(map(str, v)) if isinstance(v, list) else str(v), ""))
    parts = []
    if failed:
        parts.append(_failed_box(failed, cols, len(rows), toc))
    warned = meta.get("warnings") if isinstance(meta.get("warnings"), list) else []
    parts.append(
        _warnings_box(
            [
                (str(w.get("message", "")), f"{len(w.get('points') or [])} of {len(rows)} points")
                for w in warned
                if isinstance(w, dict)
            ],
            toc,
        )
    )
    parts.append(_section("sweep", "Sweep", _kv_table(info) + (_note(meta_note) if meta_note else ""), toc))
    if rows:
        text = '<p class="muted">Failed points are highlighted; hover a header for its sweep.csv column.</p>'
        order = [c for c in cols if "." in c] + [c for c in ("status",) if c in cols]
        order += [c for c in cols if c not in order]
        parts.append(_section("points", "Points (sweep.csv)", text + html_table(rows, order, "status"), toc))
    else:
        parts.append(_section("points", "Points (sweep.csv)", _note("sweep.csv has no points."), toc))
    return title, "\n".join(parts), toc


def _failed_box(failed: list[dict[str, str]], cols: list[str], n: int, toc: list[tuple[str, str]]) -> str:
    keys = [c for c in cols if "." in c]  # the varied keys: section.key; result columns have no dot
    items = []
    for r in failed:
        values = ", ".join(f"{k} = {r.get(k, '')}" for k in keys) or "(no axis values)"
        items.append(
            f"<p>{_status(r.get('status'))} <b>{_esc(values)}</b> "
            f'<span class="muted">point {_esc(r.get("point", "?"))}</span></p>'
            f"<pre>{_esc(r.get('error') or '(no error message recorded)')}</pre>"
        )
    toc.append(("failed", f"Failed points ({len(failed)})"))
    return (
        f'<div class="failed"><h2 id="failed">{len(failed)} of {n} points failed</h2>{"".join(items)}</div>'
    )


def _warnings_box(lines: list[tuple[str, str]], toc: list[tuple[str, str]]) -> str:
    """Settings that took no effect (summary.json / sweep.json ``warnings``), each with where it applies: a
    what-if that changed nothing is said first, before any number is read as its result."""
    if not lines:
        return ""
    toc.append(("warnings", f"Settings without effect ({len(lines)})"))
    items = "".join(
        f"<p>{_esc(text)}" + (f' <span class="muted">({_esc(where)})</span>' if where else "") + "</p>"
        for text, where in lines
    )
    n = len(lines)
    return f'<div class="warned"><h2 id="warnings">{n} setting{"s" if n > 1 else ""} took no effect</h2>{items}</div>'


# ------------------------------------------------------------------------------------------ page
def _image(path: Path) -> str:
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        return _note(f"{path}: {exc}")
    return (
        f'<figure><img alt="{_esc(path.name)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_esc(str(path))}</figcaption></figure>"
    )


def build_report(folder: str | Path, images: list[str | Path] | tuple = ()) -> str:
    """The HTML text of the report on a run or sweep ``folder`` (plus the PNGs of ``images`` folders)."""
    d = Path(folder)
    if not d.exists():
        raise ConfigError("report", str(folder), "folder not found")
    if not d.is_dir():
        raise ConfigError("report", str(folder), "not a folder")
    if (d / "sweep.csv").is_file():
        title, body, toc = _sweep_body(d)
    elif (d / "summary.json").is_file():
        title, body, toc = _run_body(d)
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
    figures = _section("figures", "Figures", "\n".join(_image(p) for p in pngs), toc) if pngs else ""
    nav = " ".join(f'<a href="#{sid}">{_esc(t)}</a>' for sid, t in toc)
    return (
        f"{MARKER}\n<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>elsa-tlm: {_esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>elsa-tlm report: {_esc(title)}</h1>"
        f'<p class="muted">{_esc(str(d.resolve()))}</p><nav>{nav}</nav>'
        f"{body}\n{figures}\n</body></html>\n"
    )


def is_own_report(path: Path) -> bool:
    """True if ``path`` is a file a report of this tool wrote (starts with :data:`MARKER`, or is one from
    before the marker existed)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(LEGACY_PREFIX.encode()))
    except OSError:
        return False
    return head.startswith(MARKER.encode()) or head.startswith(LEGACY_PREFIX.encode())


def check_out(path: Path, key: str = "--out") -> Path:
    """Clear the report's file with the output guard: an .html name, new or a report this tool wrote (never
    a link, a folder, a FIFO or a user's file)."""
    if path.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(key, str(path), "the report is an HTML page: give a file name ending in .html")
    return check_output_file(path, key, is_own_report)


def write_report(
    folder: str | Path, out: str | Path | None = None, images: list[str | Path] | tuple = ()
) -> Path:
    """Write the report (default ``folder/report.html``, only into a folder elsa-tlm wrote) atomically;
    returns its path. Never overwrites a file that is not a report this tool wrote (ConfigError)."""
    folder = Path(folder)
    text = build_report(folder, images)  # the input is checked first: a bad folder is the error to report
    if out:
        target = check_out(Path(out), "--out")
    else:
        if folder.is_dir() and read_marker(folder) is None:
            raise ConfigError(
                "DIR",
                str(folder),
                "is not a folder elsa-tlm wrote (no .elsa-tlm.json), so report.html is not written into it: "
                "give --out FILE.html",
            )
        target = check_out(folder / "report.html", "report")
    try:
        return write_text_atomic(target, text)  # recorded in the folder's marker: it stays replaceable
    except OSError as exc:
        raise ConfigError(
            "--out" if out else "report", str(target), f"cannot write the report: {exc.strerror or exc}"
        ) from None
