"""Shared fixtures: small, fast configurations."""

from __future__ import annotations

import pytest

from elsa_tlm import sim
from elsa_tlm.config import load_config

SMALL = ['workload.model="vgg16_cifar10"', "run.time_steps=4", "output.plots=false"]


@pytest.fixture(scope="session")
def small_results():
    """VGG16-CIFAR10 with T=4 under the three policies (statistical activity, at mode)."""
    out = {}
    for pol in ("spine", "tbt", "lbl"):
        out[pol] = sim.run(load_config(None, [*SMALL, f'schedule.policy="{pol}"']))
    return out
