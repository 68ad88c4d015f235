"""Deprecated: the routers' latency-throughput overlay is ``elsa-tlm noc-plot ROOT --out FIG [--ref CSV]``
(``make noc-curve`` calls it). This script only passes its arguments to that command, for the command lines
written before it existed:

    python scripts/noc_routers_plot.py results/noc-curve --out plots/noc-curve/routers.png
"""

from __future__ import annotations

import sys

from elsa_tlm.cli import main

if __name__ == "__main__":
    sys.exit(main(["noc-plot", *sys.argv[1:]]))
