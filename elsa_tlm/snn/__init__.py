"""Functional SNN core: ST-BIF neurons, MM-sc products with action counts, QANN and its exact SNN.

Numpy only. See docs/model/snn.md.
"""

from elsa_tlm.snn.conversion import SNNRun, SpikingNetwork, convert
from elsa_tlm.snn.neuron import STBIFNeurons
from elsa_tlm.snn.products import (
    PRODUCTS,
    ActionCounts,
    gustavson_counts,
    gustavson_product,
    inner_counts,
    inner_product,
    outer_counts,
    outer_product,
    settle_counts,
)
from elsa_tlm.snn.qann import QNetwork, QNode

__all__ = [
    "PRODUCTS",
    "ActionCounts",
    "QNetwork",
    "QNode",
    "SNNRun",
    "STBIFNeurons",
    "SpikingNetwork",
    "convert",
    "gustavson_counts",
    "gustavson_product",
    "inner_counts",
    "inner_product",
    "outer_counts",
    "outer_product",
    "settle_counts",
]
