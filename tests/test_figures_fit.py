"""Every figure of a run, at the size a user gets, fits its canvas (nothing clipped) and its legend lists
every series: the default CNN and ViT-Small (122 layers: grouped by block)."""

from __future__ import annotations

from pathlib import Path

import pytest

from elsa_tlm import api
from elsa_tlm.figures import run as figs


def _fits(fig) -> None:
    fig.canvas.draw()
    bb = fig.get_tightbbox(fig.canvas.get_renderer())
    w, h = fig.get_size_inches()
    assert bb.x0 >= -0.05 and bb.y0 >= -0.05 and bb.x1 <= w + 0.05 and bb.y1 <= h + 0.05, (bb, w, h)


@pytest.fixture(scope="module", params=["default", "vit"])
def result(request):
    return api.run(request.param, ["run.time_steps=2", "output.plots=false"])


def test_run_figures_fit_their_canvas(result, monkeypatch, tmp_path: Path) -> None:
    figures = []
    monkeypatch.setattr(figs, "_save", lambda fig, path: figures.append((path.name, fig)))
    figs.plot_run(result, tmp_path)
    assert {n for n, _ in figures} >= {"timeline.png", "energy.png", "mapping.png"}
    for name, fig in figures:
        _fits(fig)
        w, h = fig.get_size_inches()
        assert w <= 16 and h <= 12, (name, w, h)  # readable on a page or a screen
        figs.plt.close(fig)


def test_the_mapping_legend_lists_every_layer_or_block(result) -> None:
    fig = figs.mapping_figure(result)
    legend = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None][0]
    layers = result.workload.layers
    if len(layers) > figs.GROUP_ABOVE:
        expected = len({figs.layer_group(la.name)[0] for la in layers})
    else:
        expected = len(layers)
    assert len(legend.get_texts()) == expected
    figs.plt.close(fig)
