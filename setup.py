"""The one compiled part of elsa-tlm: the PE input-buffer kernel (elsa_tlm/hw/_ibuf_kernel.c), built by every
install (``pip install .``, ``pip install -e .``, a wheel) so that no run waits for a JIT compiler. Optional:
without a C compiler the install still succeeds and elsa_tlm.hw.input_buffer falls back to numba (or plain
Python). The rest of the project's metadata is in pyproject.toml."""

import hashlib
import sys
from pathlib import Path

from setuptools import Extension, setup

SOURCE = "elsa_tlm/hw/_ibuf_kernel.c"
# compiled in: the module refuses a build whose source has changed since (an editable install not redone)
SHA256 = hashlib.sha256((Path(__file__).parent / SOURCE).read_bytes()).hexdigest()

setup(
    ext_modules=[
        Extension(
            "elsa_tlm.hw._ibuf_kernel",
            [SOURCE],
            define_macros=[("IBUF_SOURCE_SHA256", f'"{SHA256}"')],
            # no fused multiply-adds (GCC contracts by default on targets with FMA, e.g. aarch64): the cycle
            # sums must round exactly as the Python reference's
            extra_compile_args=[] if sys.platform == "win32" else ["-ffp-contract=off"],
            optional=True,
        )
    ]
)
