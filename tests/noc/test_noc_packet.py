"""Packet formats: derived capacities, BAER flit counts of the brief, bit-accurate round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elsa_tlm.errors import ConfigError
from elsa_tlm.noc.packet import PacketFormat, Spike, crc15, dest_bits_for, dest_field, flits_to_bytes
from elsa_tlm.noc.topology import build_topology


def test_baer_256_matches_brief():
    f = PacketFormat("baer", 256, dest_bits_for(build_topology("mesh:6x6")))
    assert f.dest_bits == 6 and (f.head_capacity, f.body_capacity) == (17, 18)
    s = np.arange(0, 400)
    packets, flits, bits = f.size(s)
    brief = np.where(s == 0, 0, 1 + np.ceil(np.maximum(s - 17, 0) / 18)).astype(np.int64)
    assert np.array_equal(flits, brief) and np.array_equal(packets, (s > 0).astype(np.int64))
    assert np.array_equal(bits, flits * 256) and flits.dtype == np.int64
    assert np.all(f.payload_bits(s) <= bits)


def test_capacities_derived_for_small_flits():
    f = PacketFormat("baer", 48, 6)
    assert (f.head_capacity, f.body_capacity) == ((48 - 35) // 13, (48 - 17) // 13)
    assert PacketFormat("baer", 128, 8).head_capacity == (128 - 37) // 13


@pytest.mark.parametrize("fb", [47, 257, 0])
def test_flit_bits_out_of_range(fb):
    with pytest.raises(ConfigError) as ei:
        PacketFormat("baer", fb, 6)
    assert ei.value.key == "noc.flit_bits"


def test_aer_one_spike_per_packet():
    for proto in ("aer_truenorth", "aer_morphic"):
        f = PacketFormat(proto, 64, 6)
        p, fl, b = f.size(np.array([0, 1, 5]))
        assert list(p) == [0, 1, 5] and list(fl) == [0, 1, 5] and list(b) == [0, 64, 320]
    assert PacketFormat("aer_morphic", 48, 6).packet_bits == 32
    assert PacketFormat("aer_truenorth", 48, 6).packet_bits == 33


def test_dest_field_mesh():
    t = build_topology("mesh:6x6")
    assert dest_field(t, 0, 35) == (5 << 3) | 5 and dest_field(t, 7, 7) == 0


spikes_st = st.lists(
    st.tuples(st.integers(0, 4095), st.booleans()), min_size=1, max_size=80, unique_by=lambda x: x[0]
)


@settings(max_examples=60, deadline=None)
@given(spikes=spikes_st, flit_bits=st.integers(48, 256), sid=st.integers(0, 4095), dest=st.integers(0, 63))
def test_baer_round_trip(spikes, flit_bits, sid, dest):
    f = PacketFormat("baer", flit_bits, 6)
    sp = [Spike(p, n) for p, n in spikes]
    (pkt,) = f.encode(sp, sid, dest)
    assert len(pkt) == int(f.size(len(sp))[1])
    assert all(0 <= w < (1 << flit_bits) for w in pkt)
    d = f.decode(pkt)
    assert d.dest == dest and d.spine_id == sid and list(d.spikes) == sorted(sp, key=lambda s: s.position)
    assert len(flits_to_bytes(pkt, flit_bits)) == len(pkt) * ((flit_bits + 7) // 8)


@settings(max_examples=40, deadline=None)
@given(
    spikes=spikes_st,
    flit_bits=st.integers(48, 256),
    sid=st.integers(0, 4095),
    dx=st.integers(-8, 7),
    dy=st.integers(-8, 7),
    core=st.integers(0, 127),
)
def test_aer_round_trip(spikes, flit_bits, sid, dx, dy, core):
    sp = [Spike(p, n) for p, n in spikes]
    tn = PacketFormat("aer_truenorth", flit_bits, 6)
    dest = tn.pack_offsets(dx, dy)
    pkts = tn.encode(sp, sid, dest)
    assert len(pkts) == len(sp)
    back = [tn.decode(p) for p in pkts]
    assert all(b.spine_id == sid and tn.unpack_offsets(b.dest) == (dx, dy) for b in back)
    assert [b.spikes[0] for b in back] == sorted(sp, key=lambda s: s.position)
    mo = PacketFormat("aer_morphic", flit_bits, 6)
    back = [mo.decode(p) for p in mo.encode(sp, sid, core)]
    assert all(b.dest == core for b in back) and [b.spikes[0] for b in back] == sorted(
        sp, key=lambda s: s.position
    )


def test_crc_detects_corruption():
    f = PacketFormat("baer", 256, 6)
    (pkt,) = f.encode([Spike(3, True), Spike(9, False)], 5, 12)
    assert crc15(0, 10) == 0
    bad = [pkt[0] ^ (1 << 100)]
    with pytest.raises(ValueError, match="CRC"):
        f.decode(bad)
