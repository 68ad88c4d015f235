"""The analytic mode's per-position loops: a normal install runs their C port, and it gives bit-identical
results to the numpy reference on random inputs (fractional costs, idle gaps, gated and ungated trains,
positions that go back, empty spines) and on a whole analytic run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from elsa_tlm import recurrences as rec

BUILT = importlib.util.find_spec(rec._C_MODULE) is not None
needs_c = pytest.mark.skipif(not BUILT, reason="the C extension elsa_tlm._recurrences is not built")


def _c() -> rec.Engine:
    c = rec._load_c()
    assert c is not None
    return c


def _bytes(*arrays: np.ndarray) -> bytes:
    return b"|".join(np.ascontiguousarray(a).tobytes() for a in arrays)


def _server_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = int(rng.integers(1, 400))
    cost = rng.random(n) * rng.choice([0.5, 3.0, 40.0]) * (rng.random(n) < 0.9)
    cum = np.cumsum(cost)
    # arrivals: mostly early (a busy server), some late (idle gaps), some exactly at the previous finish
    arrive = np.sort(rng.random(n)) * cum[-1] * rng.choice([0.2, 1.0, 3.0])
    arrive[rng.random(n) < 0.1] = 0.0
    return arrive, cum, cum - cost


@needs_c
def test_the_installed_c_port_is_the_one_in_use() -> None:
    code = "from elsa_tlm import recurrences as r; print(r.engine())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["c"]
    env_code = "import os; os.environ['ELSA_TLM_RECURRENCES'] = 'numpy'; " + code
    out = subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["numpy"]


@needs_c
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_server_is_bit_identical_to_the_reference(seed: int) -> None:
    server_c = _c().server
    rng = np.random.default_rng(seed)
    gaps = 0
    for _ in range(200):
        a, cum, before = _server_case(rng)
        fc, sc = server_c(a, cum, before)
        fp, sp = rec.server_py(a, cum, before)
        assert _bytes(fc, sc) == _bytes(fp, sp)
        gaps += sc.size > 1
    assert gaps > 50  # idle gaps were drawn


def test_server_is_the_fifo_recurrence() -> None:
    """The closed form against F_i = max(A_i, F_{i-1}) + c_i, busy periods where the server waited."""
    rng = np.random.default_rng(5)
    for _ in range(100):
        a, cum, before = _server_case(rng)
        cost = cum - before
        f, starts = rec.server_py(a, cum, before)
        prev, want = 0.0, []
        for i in range(a.size):
            if i == 0 or a[i] > prev + 1e-9:
                want.append(i)
            prev = max(a[i], prev) + cost[i]
            assert f[i] == pytest.approx(prev, rel=1e-12, abs=1e-9)
        assert starts.tolist() == want


def _trains_case(rng: np.random.Generator) -> dict[str, Any]:
    T, n_in = int(rng.integers(1, 5)), int(rng.integers(1, 60))
    n_emit = int(rng.integers(1, 40))
    pos_emit = np.sort(rng.integers(0, n_in, n_emit))
    if rng.random() < 0.2:  # positions that go back (the C walk searches again)
        pos_emit = rng.integers(0, n_in, n_emit)
    starts = np.unique(np.r_[0, rng.integers(0, T * n_in, int(rng.integers(0, 30)))]).astype(np.int64)
    flits = rng.integers(0, 9, T * n_emit) * (rng.random(T * n_emit) < 0.7)
    return {
        "T": T,
        "n_in": n_in,
        "pos_emit": pos_emit.astype(np.int64),
        "starts": starts,
        "batch": int(rng.choice([1, 3, 16])),
        "gated": bool(rng.random() < 0.2),
        "flits": flits.astype(np.int64),
        "packets": (flits > 0).astype(np.int64) * rng.integers(1, 3, T * n_emit),
        "ready": np.ceil(rng.random((T, n_emit)) * 500),
        "chunk": int(rng.choice([1, 4, 32])),
    }


@needs_c
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_trains_are_bit_identical_to_the_reference(seed: int) -> None:
    trains_c = _c().trains
    rng = np.random.default_rng(seed)
    kinds = set()
    for _ in range(300):
        kw = _trains_case(rng)
        got, want = trains_c(**kw), rec.trains_py(**kw)
        assert _bytes(*got) == _bytes(*want), {k: v for k, v in kw.items() if np.isscalar(v)}
        kinds.add((kw["gated"], bool((want[2] == 1).any()), want[1].size > kw["T"]))
    assert len(kinds) >= 4


@needs_c
@pytest.mark.parametrize("seed", [1, 2])
def test_arrivals_and_ready_cycles_are_bit_identical_to_the_reference(seed: int) -> None:
    c = _c()
    rng = np.random.default_rng(seed)
    for _ in range(200):
        T, n_in, trains = int(rng.integers(1, 4)), int(rng.integers(1, 50)), int(rng.integers(1, 20))
        flatten = bool(rng.random() < 0.15)
        n_emit = int(rng.integers(1, 40)) if flatten else int(rng.integers(1, n_in + 1))
        tail = np.ceil(rng.random(trains) * 300)
        tid = np.sort(rng.integers(0, trains, (T, n_emit)), axis=1)
        skip = np.cumsum(rng.integers(0, 4, (T, n_emit + 1)), axis=1) if rng.random() < 0.4 else None
        posmap = rng.integers(0, n_in, n_emit) if (rng.random() < 0.5 and not flatten) else None
        base = np.where(rng.random((T, n_in)) < 0.3, np.ceil(rng.random((T, n_in)) * 400), 0.0)
        got, want = base.copy(), base.copy()
        c.arrive(got, tail, tid, skip, posmap, flatten)
        rec.arrive_py(want, tail, tid, skip, posmap, flatten)
        assert _bytes(got) == _bytes(want)
        pos_emit = np.sort(rng.integers(0, n_in, n_emit))
        offset = -rng.random((T, n_emit)) * 5
        assert _bytes(c.ready(got, pos_emit, offset)) == _bytes(rec.ready_py(got, pos_emit, offset))


def test_trains_follow_the_flit_generator_rules() -> None:
    """One train per (step, transaction), cut every chunk flits; it leaves with its last spine."""
    kw = {
        "T": 2,
        "n_in": 4,
        "pos_emit": np.array([0, 1, 2, 3], np.int64),
        "starts": np.array([0, 2], np.int64),  # the group waited before position 2
        "batch": 16,
        "gated": False,
        "flits": np.array([4, 3, 0, 5, 1, 1, 1, 1], np.int64),
        "packets": np.array([1, 1, 0, 1, 1, 1, 1, 1], np.int64),
        "ready": np.arange(8, dtype=np.float64).reshape(2, 4) * 10,
        "chunk": 4,
    }
    tid, ready, flits, packets = rec.trains(**kw)
    # step 0: positions 0-1 (one transaction: 4 + 3 flits, the second spine starts past 4 flits: two trains),
    # 2-3 (a new transaction: 0 + 5 flits);
    # step 1: positions 4-7 are in the busy period that started at 2, one transaction of 4 flits
    assert tid.tolist() == [[0, 1, 2, 2], [3, 3, 3, 3]]
    assert ready.tolist() == [0.0, 10.0, 30.0, 70.0]
    assert flits.tolist() == [4, 3, 5, 4] and packets.tolist() == [1, 1, 1, 4]


@needs_c
@pytest.mark.parametrize(
    "sets",
    [
        ['workload.model="resnet18"', "run.time_steps=2"],  # skip links, co-mapped slices
        ['workload.model="resnet18"', "run.time_steps=2", 'schedule.policy="tbt"', "run.batch_items=5"],
        [
            'workload.model="resnet18"',
            "run.time_steps=2",
            'schedule.policy="lbl"',
            'noc.topology="torus:6x6"',
        ],
        ["run.time_steps=3", "noc.fifo_bytes=128", "noc.flit_bits=64"],  # VGG16: many trains cut in chunks
        ['workload.model="vit_small"', "run.time_steps=1", 'schedule.policy="token"'],
    ],
    ids=["resnet18", "tbt", "lbl-torus", "vgg16-chunks", "vit-token"],
)
def test_an_analytic_run_is_the_same_with_either_engine(
    monkeypatch: pytest.MonkeyPatch, sets: list[str]
) -> None:
    """The C engine's one call per pass (rec_pass) against the reference's slice-by-slice evaluate, on the
    three CNN schedules, a transformer's token pipeline and chunked trains: the same bytes."""
    import time

    from elsa_tlm import analytic
    from elsa_tlm.config import load_config

    cfg = load_config(None, [*sets, 'run.mode="analytic"', "output.plots=false"])

    def one() -> str:
        r = analytic.run_config(cfg, time.perf_counter())
        s = dict(r.summary)
        s.pop("sim")
        return json.dumps([s, r.layer_rows, r.core_rows, r.link_rows], sort_keys=True, default=str)

    monkeypatch.setattr(analytic, "CACHE", analytic.PlanCache())
    with_c = one()
    monkeypatch.setattr(rec, "_engine", lambda: rec.REFERENCE)
    monkeypatch.setattr(analytic, "CACHE", analytic.PlanCache())  # not the C engine's cached timeline
    assert one() == with_c


@needs_c
@pytest.mark.parametrize("seed", [1, 2])
def test_port_queues_merge_is_bit_identical_to_the_reference_sort(seed: int) -> None:
    """The C port merges each resource's flows (their trains leave in order) where the reference sorts; a flow
    whose trains do not leave in order goes to the reference."""
    port_c = _c().port_queues
    rng = np.random.default_rng(seed)
    for k in range(100):
        n_flows = int(rng.integers(1, 8))
        sizes = rng.integers(1, 40, n_flows)
        first = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
        t0 = np.concatenate([np.sort(np.ceil(rng.random(s) * 300)) for s in sizes])
        if k % 10 == 0:  # not in order: the fallback
            t0 = rng.permutation(t0)
        ser = rng.integers(1, 9, t0.size).astype(np.float64)
        n_res = int(rng.integers(1, 6))
        per = [
            np.sort(rng.choice(n_flows, int(rng.integers(1, n_flows + 1)), replace=False))
            for _ in range(n_res)
        ]
        res_ptr = np.r_[0, np.cumsum([p.size for p in per])].astype(np.int64)
        res_flow = np.concatenate(per).astype(np.int64)
        res_offset = rng.integers(0, 20, res_flow.size).astype(np.float64)
        args = (res_ptr, res_flow, res_offset, first, sizes.astype(np.int64), t0, ser)
        got, want = np.zeros(t0.size), np.zeros(t0.size)
        port_c(*args, got)
        rec.port_queues_py(*args, want)
        assert _bytes(got) == _bytes(want)


@needs_c
def test_threads_solving_one_plan_at_once_get_the_same_timeline() -> None:
    """A plan's pass buffers are reused between design points; a second thread of the process (a Dask worker
    with several threads) solving the same plan meanwhile must not write into them (the C engine releases the
    GIL): every concurrent solve equals a lone one."""
    from concurrent.futures import ThreadPoolExecutor

    from elsa_tlm import analytic
    from elsa_tlm.config import load_config

    cfg = load_config(
        None, ['workload.model="resnet18"', "run.time_steps=2", 'run.mode="analytic"', "output.plots=false"]
    )
    cache = analytic.PlanCache()
    plan, _, specs, static = cache.get(cfg)
    layout = analytic.pass_layout(plan, specs, static)

    def fingerprint(t: Any) -> tuple:
        return (
            t.latency,
            t.first_output,
            tuple(t.step_done),
            tuple(
                (k, st.train_ready.tobytes(), st.train_flits.tobytes(), tuple(st.step_done))
                for k, st in t.slices.items()
            ),
        )

    alone = fingerprint(analytic.solve(plan, specs, static, layout))
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: fingerprint(analytic.solve(plan, specs, static, layout)), range(16)))
    assert all(g == alone for g in got)
