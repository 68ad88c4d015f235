"""elsa-tlm report: one self-contained HTML page for a run or a sweep folder."""

from __future__ import annotations

import base64
import csv
import html
import json
import re
import shutil
from pathlib import Path

import pytest

from elsa_tlm.cli import main
from elsa_tlm.figures.report import LEGACY_PREFIX, MARKER, build_report, fmt_num

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rep") / "run"
    assert (
        main(
            ["run", str(ROOT / "scenarios" / "default.toml"), "--out", str(out), "--set", "run.time_steps=2"]
        )
        == 0
    )
    return out


def _images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]


def _one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_run_report(run_dir: Path, capsys) -> None:
    assert main(["report", str(run_dir)]) == 0
    text = (run_dir / "report.html").read_text()
    assert text.startswith(MARKER + "\n<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    imgs = _images(text)
    assert len(imgs) == len(list(run_dir.glob("*.png"))) >= 3
    assert all(i.startswith(b"\x89PNG") for i in imgs)
    assert "report:" in capsys.readouterr().out
    assert "http" not in text.replace("http://www.w3.org", "")  # nothing fetched from elsewhere


def test_run_report_sections_and_units(run_dir: Path) -> None:
    text = build_report(run_dir)
    s = json.loads((run_dir / "summary.json").read_text())
    for heading in (
        "Key results",
        "Design point",
        "Per-step timing",
        "Energy breakdown",
        "Area",
        "Network-on-chip",
        "Links (links.csv)",
        "Layers (layers.csv)",
        "Resolved configuration (config.resolved.toml)",
        "Figures",
    ):
        assert re.search(rf'<h2 id="\w+">{re.escape(html.escape(heading))}</h2>', text), heading
    clock = s["clock_mhz"]
    # key results in cycles and ms, µJ, mm², MB
    assert f"{s['latency_cycles']:,} cycles" in text
    assert f"{fmt_num(s['latency_cycles'] / (clock * 1e3))} ms" in text
    assert f"{fmt_num(s['energy_j'] * 1e6)} µJ" in text
    assert f"{fmt_num(s['area_mm2'])} mm²" in text
    assert f"{fmt_num(s['noc']['traffic_mb'])} MB" in text
    # per-step timing: every step's cycle and ms
    for v in s["step_done_cycles"]:
        assert f"<td>{v:,}</td><td>{fmt_num(v / (clock * 1e3))}</td>" in text
    # area: every block of the core's breakdown
    assert all(f"<td class=t>{k}</td>" in text for k in s["area_breakdown_mm2"])
    # every layer, and the resolved config verbatim
    with (run_dir / "layers.csv").open() as fh:
        layers = [r["layer"] for r in csv.DictReader(fh)]
    assert all(f"<td class=t>{html.escape(n)}</td>" in text for n in layers)
    cfg = (run_dir / "config.resolved.toml").read_text()
    assert html.escape(cfg) in text
    # links: the busiest link first, with its flits
    with (run_dir / "links.csv").open() as fh:
        links = sorted(csv.DictReader(fh), key=lambda r: -int(r["flits"]))
    links_html = text.split('id="links"')[1].split("<h2")[0]
    first_row = links_html.split("<tbody>")[1].split("</tr>")[0]
    assert (
        f"{links[0]['src']} → {links[0]['dst']}" in first_row and f"{int(links[0]['flits']):,}" in first_row
    )
    assert '<span class="u">% of latency</span>' in links_html
    # wide tables: sticky header in a scroll container, numbers right-aligned
    assert '<div class="scroll"><table><thead>' in text and "position:sticky" in text


@pytest.mark.parametrize(
    ("value", "text"),
    [(23868, "23,868"), (0.11934, "0.1193"), (200.0, "200"), (7.4974e-06, "7.497e-06"), (0, "0"),
     (1234.56, "1,235"), (0.2740, "0.274"), (3.0e9, "3e+09"), (float("inf"), "inf")],
)  # fmt: skip
def test_number_formatting(value: float, text: str) -> None:
    assert fmt_num(value) == text


def test_sweep_report(tmp_path: Path, run_dir: Path) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'version = 1\nset = ["run.time_steps=2", "output.plots=false"]\n[axes]\n"noc.flit_bits" = [128, 256]\n'
    )
    out = tmp_path / "sw"
    assert main(["sweep", str(sweep), "--out", str(out), "--workers", "1"]) == 0
    html_out = tmp_path / "r.html"
    assert main(["report", str(out), "--out", str(html_out), "--images", str(run_dir)]) == 0
    text = html_out.read_text()
    assert text.count("<tr>") >= 2 and "<tr class=bad>" not in text and '<div class="failed">' not in text
    assert '<th title="noc.flit_bits" class=t>' in text or '<th title="noc.flit_bits">' in text
    assert '<span class="u">µJ</span>' in text and '<span class="u">MB</span>' in text
    assert len(_images(text)) >= 3


def test_sweep_report_shows_failed_points_with_their_error(tmp_path: Path) -> None:
    d = tmp_path / "sw"
    d.mkdir()
    err = "ring:36 needs noc.routing = 'shortest' (xy routes <grids> & tori only)"
    rows = [
        {"noc.topology": "mesh:6x6", "latency_cycles": "23868", "energy_j": "7.5e-06", "status": "ok",
         "error": "", "point": "aaaa"},
        {"noc.topology": "ring:36", "latency_cycles": "", "energy_j": "", "status": "error", "error": err,
         "point": "bbbb"},
        {"noc.topology": "mesh:8x8", "latency_cycles": "", "energy_j": "", "status": "deadlock",
         "error": "deadlock: links 3->4, 4->3", "point": "cccc"},
    ]  # fmt: skip
    with (d / "sweep.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    text = build_report(d)
    box = text.split('<div class="failed">')[1].split("</div>")[0]
    assert "2 of 3 points failed" in box
    assert f"<pre>{html.escape(err)}</pre>" in box  # the whole message, escaped, prominently
    assert '<span class="status no">error</span>' in box and "noc.topology = ring:36" in box
    assert '<span class="status no">deadlock</span>' in box and "point cccc" in box
    assert text.index('<div class="failed">') < text.index('id="points"')  # before the table
    assert text.count("<tr class=bad>") == 2
    assert "<td>7.5</td>" in text  # energy in µJ in the table


def test_sweep_report_survives_a_bad_sweep_json(tmp_path: Path) -> None:
    d = tmp_path / "sw"
    d.mkdir()
    (d / "sweep.csv").write_text("noc.flit_bits,latency_cycles,status,error,point\n64,100,ok,,abc\n")
    (d / "sweep.json").write_text("[1, 2]")
    text = build_report(d)
    assert "sweep.json holds a JSON list" in text and "<td>100</td>" in text


def test_report_refuses_to_overwrite_a_foreign_file(tmp_path: Path, run_dir: Path, capsys) -> None:
    mine = tmp_path / "notes.html"
    mine.write_text("<html>my own notes</html>")
    assert main(["report", str(run_dir), "--out", str(mine)]) == 2
    assert mine.read_text() == "<html>my own notes</html>"
    assert "was not written by elsa-tlm" in _one_error(capsys)
    csv_out = tmp_path / "table.csv"
    assert main(["report", str(run_dir), "--out", str(csv_out)]) == 2
    assert not csv_out.exists() and ".html" in _one_error(capsys)
    folder = tmp_path / "dir.html"
    folder.mkdir()
    assert main(["report", str(run_dir), "--out", str(folder)]) == 2
    assert "folder" in _one_error(capsys)
    # the default report.html inside a run folder: also only replaced if it is a report
    own = tmp_path / "run"
    shutil.copytree(run_dir, own)
    (own / "report.html").write_text("hand-written")
    assert main(["report", str(own)]) == 2
    assert (own / "report.html").read_text() == "hand-written"
    _one_error(capsys)


def test_report_replaces_its_own_reports(tmp_path: Path, run_dir: Path) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    assert main(["report", str(run_dir), "--out", str(out)]) == 0  # its own: replaced
    legacy = tmp_path / "old.html"
    legacy.write_text(LEGACY_PREFIX + "x</title></head><body></body></html>\n")  # written before the marker
    assert main(["report", str(run_dir), "--out", str(legacy)]) == 0
    assert legacy.read_text().startswith(MARKER)


@pytest.mark.parametrize("content", ["[1, 2, 3]", '"text"', "42", "{broken"])
def test_summary_json_must_be_an_object(tmp_path: Path, capsys, content: str) -> None:
    d = tmp_path / "run"
    d.mkdir()
    (d / "summary.json").write_text(content)
    assert main(["report", str(d)]) == 2
    line = _one_error(capsys)
    assert str(d / "summary.json") in line and ("JSON object" in line or "cannot read" in line)
    assert not (d / "report.html").exists()


def test_run_report_without_optional_files(tmp_path: Path, run_dir: Path) -> None:
    d = tmp_path / "run"
    d.mkdir()
    shutil.copy(run_dir / "summary.json", d)
    text = build_report(d)
    for name in ("links.csv", "layers.csv", "config.resolved.toml"):
        assert f"{name} is not in this folder." in text
    assert "Key results" in text and "Per-step timing" in text
    # odd values: text where numbers should be, missing blocks
    (d / "summary.json").write_text(
        json.dumps(
            {"model": "m", "latency_cycles": "abc", "step_done_cycles": "x", "energy_breakdown_j": {"a": "b"}}
        )
    )
    (d / "links.csv").write_bytes(b"\xff\xfe not utf-8")
    text = build_report(d)
    assert "abc" in text and "step_done_cycles" in text and "links.csv could not be read" in text


@pytest.mark.parametrize("kind", ["missing", "file", "empty"])
def test_bad_report_dir(tmp_path: Path, capsys, kind: str) -> None:
    target = tmp_path / "x"
    if kind == "file":
        target.write_text("x")
    elif kind == "empty":
        target.mkdir()
    assert main(["report", str(target)]) == 2
    assert _one_error(capsys).startswith("error: report = ")


def test_elastic_runs_report_accuracy(tmp_path: Path) -> None:
    d = tmp_path / "run"
    d.mkdir()
    elastic = {
        "threshold": 0.9,
        "accuracy": 0.9375,
        "exit_cycle": 610.0,
        "accuracy_per_step": [0.25, 0.5, 0.75],
    }
    elastic["mean_step_done_cycles"] = [200.0, 400.0, 600.0]
    s = {"model": "digits_qcnn", "clock_mhz": 200.0, "qann_accuracy": 0.98333, "snn_accuracy": 0.975}
    (d / "summary.json").write_text(json.dumps(s | {"elastic": elastic, "latency_cycles": 600}))
    text = build_report(d)
    section = text.split('id="elastic"')[1].split("<h2")[0]
    assert "98.33 %" in section and "97.5 %" in section and "93.75 %" in section
    assert "610 cycles" in section and "0.00305 ms" in section
    assert "<td>75</td><td>600</td><td>0.003</td>" in section  # step 2: 75 %, cycles, ms
