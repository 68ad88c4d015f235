"""A component of your own, written as a plain SimPy process: a host link that streams the input image from DRAM.

The brief's chip has the first layer's input on chip when time starts. Here a host link reads the image from
DRAM at ``BYTES_PER_CYCLE`` and hands it to the chip in bursts through a bounded channel
(:func:`elsa_tlm.chip.input_port`): the first layer may absorb an input spine once its pixels have arrived.
The link is a generator that ``yield``s the kernel's timeouts and the channel's ``put`` — nothing compiled,
no SimPy internals — and it runs on the chip's own event kernel, in time order with the routers and cores.

    python examples/custom_component.py

prints latency and first output with the image on chip (the brief) and streamed at a few bandwidths.
docs/EXTENDING.md walks through it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from elsa_tlm import api
from elsa_tlm.chip import Chip, input_port

SCENARIO = ["run.time_steps=4", "output.plots=false"]  # VGG16-CIFAR10 (the default), 4 time steps
BURST = 32  # input positions (pixels, all channels) per DRAM burst


def host_link(chip: Chip, bytes_per_pixel: float, bytes_per_cycle: float, log: list[int]) -> Iterator[Any]:
    """Stream the first layer's input image: one burst of ``BURST`` pixels at a time, each taking its bytes /
    ``bytes_per_cycle`` cycles on the link, then put into the chip's input port. The image is the same at
    every time step (direct encoding), so once it is in, every step's input is."""
    kernel = chip.kernel
    first = next(s for s in chip.slices.values() if s.first)
    n_in, T = first.n_in, first.T
    port = input_port(chip, capacity_flits=2)  # two bursts in flight: double buffering at the chip's edge
    sent = 0
    while sent < n_in:
        k = min(BURST, n_in - sent)
        yield kernel.timeout(math.ceil(k * bytes_per_pixel / bytes_per_cycle))  # the burst crosses the link
        sent += k
        yield port.put(sent if sent < n_in else T * n_in, 1)  # waits while the port is full
    log.append(kernel.now())


def run_with_link(bytes_per_cycle: float | None) -> dict[str, Any]:
    """One run of the scenario; ``None``: no host link (the image on chip at cycle 0, as the brief has it)."""
    cfg = api.load_config(None, SCENARIO)
    wl = api.check(cfg).workload
    bytes_per_pixel = wl.input_channels * cfg.chip.input_bits / 8  # every channel of one input position
    log: list[int] = []

    def extend(chip: Chip) -> None:  # bind the component to the built chip, before time starts
        assert bytes_per_cycle is not None
        chip.kernel.process(host_link(chip, bytes_per_pixel, bytes_per_cycle, log))

    s = api.run(cfg, extend=None if bytes_per_cycle is None else extend).summary
    return {
        "latency": s["latency_cycles"],
        "first": s["first_output_cycle"],
        "image_in": log[-1] if log else 0,
    }


def main() -> None:
    base = run_with_link(None)
    print(f"{'host link':>16s} {'image in (cycle)':>17s} {'first output':>13s} {'latency':>9s}")
    print(f"{'none (on chip)':>16s} {0:>17,} {base['first']:>13,} {base['latency']:>9,}")
    for bw in (64.0, 8.0, 1.0):
        r = run_with_link(bw)
        print(
            f"{f'{bw:g} B/cycle':>16s} {r['image_in']:>17,} {r['first']:>13,} {r['latency']:>9,}"
            f"   first output {r['first'] - base['first']:+,}, latency {r['latency'] - base['latency']:+,} cycles"
        )


if __name__ == "__main__":
    main()
