"""elsa-tlm report: one self-contained HTML page for a run or a sweep folder."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from elsa_tlm.cli import main

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


def test_run_report(run_dir: Path, capsys) -> None:
    assert main(["report", str(run_dir)]) == 0
    text = (run_dir / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    imgs = _images(text)
    assert len(imgs) == len(list(run_dir.glob("*.png"))) >= 3
    assert all(i.startswith(b"\x89PNG") for i in imgs)
    assert "latency_cycles" in text and "Energy breakdown" in text and "layers.csv" in text
    assert "features.0" in text  # the first layer's row
    assert "report:" in capsys.readouterr().out
    assert "http" not in text.replace("http://www.w3.org", "")  # nothing fetched from elsewhere


def test_sweep_report_with_extra_images(tmp_path: Path, run_dir: Path) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'version = 1\nset = ["run.time_steps=2", "output.plots=false"]\n[axes]\n"noc.topology" = ["mesh:2x2", "mesh:6x6"]\n'
    )
    out = tmp_path / "sw"
    assert main(["sweep", str(sweep), "--out", str(out), "--workers", "1"]) == 0
    html_out = tmp_path / "r.html"
    assert main(["report", str(out), "--out", str(html_out), "--images", str(run_dir)]) == 0
    text = html_out.read_text()
    assert text.count("<tr") >= 3 and 'class="bad"' in text  # the refused 2x2 point is highlighted
    assert "mesh:2x2" in text and len(_images(text)) >= 3


@pytest.mark.parametrize("kind", ["missing", "file", "empty"])
def test_bad_report_dir(tmp_path: Path, capsys, kind: str) -> None:
    target = tmp_path / "x"
    if kind == "file":
        target.write_text("x")
    elif kind == "empty":
        target.mkdir()
    assert main(["report", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: report = ")
