"""The input-buffer queue kernel: a normal install runs the C extension (no JIT compilation, numba not even
imported), and the C kernel, the numba fallback and the plain-Python reference give bit-identical results
for every option combination on randomized streams."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from elsa_tlm.hw import input_buffer as ib

BUILT = importlib.util.find_spec(ib._C_MODULE) is not None
needs_c = pytest.mark.skipif(
    not BUILT, reason="the C extension elsa_tlm.hw._ibuf_kernel is not built (no C compiler at install time?)"
)


def _stream(rng: np.random.Generator) -> dict[str, Any]:
    """A random valid layer stream: each target is released at or after the position of its last input."""
    T, n_in, n_out = int(rng.integers(1, 4)), int(rng.integers(1, 13)), int(rng.integers(1, 11))
    counts = rng.integers(0, 24, size=(T, n_in)) * (rng.random((T, n_in)) < 0.8)
    order = rng.permutation(n_in)
    fans = [rng.choice(n_out, size=int(rng.integers(0, n_out + 1)), replace=False) for _ in range(n_in)]
    fan_ptr = np.concatenate([[0], np.cumsum([f.size for f in fans])])
    fan_tgt = np.concatenate(fans).astype(np.int64)
    fan_kofs = rng.integers(0, 9, size=fan_tgt.size)
    pos = np.empty(n_in, np.int64)
    pos[order] = np.arange(n_in)
    last = np.zeros(n_out, np.int64)
    np.maximum.at(last, fan_tgt, np.repeat(pos, [f.size for f in fans]))
    late = rng.random(n_out) < 0.3  # some targets later than their last input, some deferred (n_in)
    release_after = np.where(late, rng.integers(last, n_in + 1), last)
    cin = int(rng.integers(1, 5))
    channels = [[rng.integers(0, cin, size=int(c)) for c in counts[t]] for t in range(T)]
    return dict(
        counts=counts,
        order=order,
        fan_ptr=fan_ptr,
        fan_tgt=fan_tgt,
        fan_kofs=fan_kofs,
        release_after=release_after,
        n_out=n_out,
        channels=channels,
        cin=cin,
    )


def _cases(n: int, seed: int) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """n random streams, each with random sizes and every combination of the buffer's options."""
    rng = np.random.default_rng(seed)
    sizes = [1, 1, 2, 3, 4, 5, 8, 16]
    for _ in range(n):
        s = _stream(rng)
        queues, depth, ways = (int(rng.choice(sizes)) for _ in range(3))
        hazard = int(rng.integers(0, 5))
        for weight_buffer in ib.WEIGHT_BUFFERS:
            for raw_hazard in ib.RAW_HAZARDS:
                for exact in (False, True):
                    kw = {**s, "channels": s["channels"] if exact else None}
                    opts = dict(
                        queues=queues,
                        depth=depth,
                        ways=ways,
                        hazard=hazard,
                        weight_buffer=weight_buffer,
                        raw_hazard=raw_hazard,
                    )
                    yield kw, opts


def _run(
    engine: ib.Kernel, monkeypatch: pytest.MonkeyPatch, kw: dict[str, Any], opts: dict[str, Any]
) -> bytes:
    """Every output of simulate_buffer with the given kernel, as bytes (bit-identity, -0.0 included)."""
    with monkeypatch.context() as m:
        m.setattr(ib, "kernel", lambda: ("test", engine))
        r = ib.simulate_buffer(**kw, **opts)
    return b"|".join(a.tobytes() for a in (r.absorb_flush, r.final_cycles, r.final_spikes, r.per_step))


@needs_c
def test_the_installed_c_kernel_is_the_one_in_use_and_numba_is_not_imported() -> None:
    assert ib.kernel()[0] == "c"
    code = (
        "import sys, numpy as np; from elsa_tlm.hw import input_buffer as ib; "
        "r = ib.simulate_buffer(np.array([[40]]), np.array([0]), np.array([0, 1]), np.array([0]), "
        "np.array([0]), np.array([0]), 1, 1, 16, 16, 0); "
        "print(ib.kernel()[0], r.flushes, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["c", "3", "False"]


@needs_c
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_c_kernel_is_bit_identical_to_the_python_reference(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = ib.kernel()[1]
    seen = set()
    for kw, opts in _cases(60, seed):
        assert _run(c, monkeypatch, kw, opts) == _run(ib._simulate_py, monkeypatch, kw, opts), opts
        seen.add((opts["queues"] == 1, opts["depth"] == 1, opts["ways"] == 1, opts["depth"] < opts["ways"]))
    assert len(seen) >= 4  # the corner sizes were drawn


@needs_c
def test_c_kernel_corner_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """queues = depth = ways = 1, depth < ways and ways > depth, exact banked with channels, on one stream."""
    c = ib.kernel()[1]
    rng = np.random.default_rng(7)
    for _ in range(20):
        s = _stream(rng)
        for queues, depth, ways in ((1, 1, 1), (1, 3, 16), (2, 1, 5), (3, 16, 2), (1, 16, 16), (5, 4, 32)):
            for exact in (False, True):
                kw = {**s, "channels": s["channels"] if exact else None}
                for raw_hazard in ib.RAW_HAZARDS:
                    opts = dict(
                        queues=queues,
                        depth=depth,
                        ways=ways,
                        hazard=2,
                        weight_buffer="banked",
                        raw_hazard=raw_hazard,
                    )
                    assert _run(c, monkeypatch, kw, opts) == _run(ib._simulate_py, monkeypatch, kw, opts)


def test_numba_fallback_matches_the_python_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numba")
    nb = ib._numba_kernel()
    for kw, opts in _cases(15, 11):
        assert _run(nb, monkeypatch, kw, opts) == _run(ib._simulate_py, monkeypatch, kw, opts), opts


def test_every_engine_refuses_a_stream_that_does_not_fit_its_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    engines = [ib._simulate_py] + ([ib.kernel()[1]] if BUILT else [])
    one = (np.array([[5]]), np.array([0]), np.array([0, 1]), np.array([0]), np.array([0]))
    for engine in engines:
        with monkeypatch.context() as m:
            m.setattr(ib, "kernel", lambda e=engine: ("test", e))
            with pytest.raises(ValueError, match="fan_tgt"):
                ib.simulate_buffer(*one[:3], np.array([3]), one[4], np.array([0]), 1, 2, 4, 4, 0)
            with pytest.raises(ValueError, match="release_after"):
                ib.simulate_buffer(*one, np.array([0, 0]), 1, 2, 4, 4, 0)
            with pytest.raises(ValueError, match="fan_ptr"):
                ib.simulate_buffer(*one[:2], np.array([0, 2]), *one[3:], np.array([0]), 1, 2, 4, 4, 0)
            # target 0 released after position 0, yet input 1 (absorbed at position 1) still writes to it
            with pytest.raises(ValueError, match="after its release"):
                ib.simulate_buffer(
                    np.array([[5, 5], [1, 1]]),
                    np.array([0, 1]),
                    np.array([0, 1, 2]),
                    np.array([0, 0]),
                    np.array([0, 0]),
                    np.array([0]),
                    1,
                    2,
                    4,
                    4,
                    0,
                )


@pytest.mark.parametrize("raw_hazard", ["forward", "stall"])
def test_evicting_a_queue_just_flushed_full_flushes_nothing(raw_hazard: str) -> None:
    """Inputs 0 and 1 fill their targets' queues to the depth (flushed, still allocated, empty); input 2 then
    evicts the oldest of them: an empty queue is freed without a flush — no negative hazard cycles (stall), no
    membrane access without spikes (forward). Every engine alike."""
    from elsa_tlm.hw.input_buffer import HAZARDS, MEMBRANE_RMW, simulate_buffer

    r = simulate_buffer(
        np.array([[2, 2, 1]]),
        np.arange(3),
        np.array([0, 1, 2, 3]),
        np.array([0, 1, 2]),
        np.zeros(3, np.int64),
        np.array([2, 2, 2]),
        3,
        2,
        2,
        16,
        5,
        raw_hazard=raw_hazard,
    )
    assert (r.absorb_flush >= 0).all() and r.per_step[0, HAZARDS] >= 0
    assert r.evictions == 1 and r.flushes == 3  # two full flushes and input 2's final flush
    assert r.per_step[0, MEMBRANE_RMW] == 3  # one row access per flush with spikes, none for the eviction


def test_a_stream_writing_to_a_released_target_is_refused_even_if_its_queue_is_evicted_later() -> None:
    """Inputs 0 and 1 feed target A, input 2 feeds B; A is released after position 0, so input 1's spikes
    would reach A after its release. With one queue, B's allocation evicts A's reallocated queue and no queue
    is left live at the end of the step: the kernels alone would accept it; the stream check refuses it."""
    from elsa_tlm.hw.input_buffer import simulate_buffer

    with pytest.raises(ValueError, match="after its release"):
        simulate_buffer(
            np.array([[2, 2, 1]]),
            np.arange(3),
            np.array([0, 1, 2, 3]),
            np.array([0, 0, 1]),
            np.zeros(3, np.int64),
            np.array([0, 2]),
            2,
            1,
            4,
            16,
            1,
        )
