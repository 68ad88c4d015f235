"""Packet formats: derived capacities and field widths, BAER flit counts of the brief, AER packing, bit-accurate
round trips, the TrueNorth-style per-hop rewrite, and the traffic table of docs/model/noc.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elsa_tlm.errors import ConfigError
from elsa_tlm.noc.packet import (
    PORT_LOCAL,
    PORT_TABLE,
    PORT_XM,
    PORT_XP,
    PORT_YM,
    PORT_YP,
    PacketFormat,
    Spike,
    crc15,
    dest_bits_for,
    dest_field,
    flits_to_bytes,
)
from elsa_tlm.noc.routes import make_routing
from elsa_tlm.noc.topology import build_topology

ROOT = Path(__file__).resolve().parents[2]
EXPRESS = f"file:{ROOT / 'scenarios' / 'topologies' / 'mesh6x6_express.graphml'}"
TOPOS = {
    spec: build_topology(spec)
    for spec in ("mesh:6x6", "mesh:3x7", "torus:6x6", "torus:5x4", "ring:36", EXPRESS)
}
AER = ("aer_truenorth", "aer_morphic")


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
    assert PacketFormat("baer", 256, topology=TOPOS["torus:5x4"]).dest_bits == 2 + 2


@pytest.mark.parametrize("fb", [47, 257, 0])
def test_flit_bits_out_of_range(fb):
    with pytest.raises(ConfigError) as ei:
        PacketFormat("baer", fb, 6)
    assert ei.value.key == "noc.flit_bits"


def test_aer_field_widths_from_topology():
    """TrueNorth: signed offsets per dimension; MorphIC: ceil(log2 N) core bits; never tabulated."""
    tn = {s: PacketFormat("aer_truenorth", 256, topology=t) for s, t in TOPOS.items()}
    # |dx|,|dy| <= 5; a 32-bit word (ELSA_BRIEF §4): the spine id gets what the offsets leave
    assert tn["mesh:6x6"].offset_widths == (4, 4) and tn["mesh:6x6"].packet_bits == 32
    assert tn["mesh:6x6"].id_bits == 11
    assert tn["mesh:3x7"].offset_widths == (4, 3) and tn["mesh:3x7"].id_bits == 12  # dx up to 6, dy up to 2
    assert all(f.packet_bits == 32 for f in tn.values())
    assert tn["torus:6x6"].offset_widths == (3, 3)  # wrapped offsets -2..3
    assert tn["ring:36"].offset_widths == (6,)  # -17..18
    assert tn[EXPRESS].offset_widths == (max(1, TOPOS[EXPRESS].diameter.bit_length()),)
    assert not tn[EXPRESS].offsets_signed and tn[EXPRESS].route_lookups_per_router == 1
    mo = {s: PacketFormat("aer_morphic", 256, topology=t) for s, t in TOPOS.items()}
    assert mo["mesh:6x6"].address_bits == 6 and mo["mesh:6x6"].packet_bits == 31
    assert mo["mesh:3x7"].address_bits == 5 and mo["torus:5x4"].address_bits == 5
    assert PacketFormat("aer_morphic", 64, topology=build_topology("mesh:8x16")).packet_bits == 32
    assert PacketFormat("aer_morphic", 64).packet_bits == 31  # default topology: the ELSA 6x6 mesh


def test_routing_facts_per_protocol():
    b, tn, mo = (PacketFormat(p, 128) for p in ("baer", *AER))
    assert (tn.route_lookups_per_router, tn.header_rewrites_per_hop) == (0, 1)
    assert (mo.route_lookups_per_router, mo.header_rewrites_per_hop) == (1, 0)
    assert (b.route_lookups_per_router, b.header_rewrites_per_hop) == (1, 1)
    assert b.packets_per_flit == 1 and (tn.packets_per_flit, mo.packets_per_flit) == (4, 4)
    assert PacketFormat("aer_truenorth", 64).packets_per_flit == 2  # two per 64-bit flit (ELSA_BRIEF §4)


def test_truenorth_offsets_that_leave_no_room_for_a_spine_id_are_refused():
    from types import SimpleNamespace

    huge = SimpleNamespace(kind="mesh", cols=1 << 10, rows=1 << 10, spec="mesh:1024x1024")  # 11 + 11 bits
    with pytest.raises(ConfigError, match="no room for a spine id on mesh:1024x1024"):
        PacketFormat("aer_truenorth", 256, topology=huge)


def test_aer_packets_packed_into_flits():
    s = np.array([0, 1, 5, 7, 8, 100])
    for proto in AER:
        for fb in (48, 64, 96, 128, 192, 256):
            f = PacketFormat(proto, fb)
            k = fb // f.packet_bits
            p, fl, b = f.size(s)
            assert f.packets_per_flit == k and list(p) == list(s)
            assert list(fl) == [-(-int(x) // k) for x in s] and np.array_equal(b, fl * fb)
            assert np.all(f.payload_bits(s) == s * f.packet_bits) and np.all(f.payload_bits(s) <= b)
    p, fl, b = PacketFormat("aer_morphic", 64).size(np.array([0, 1, 5]))
    assert list(p) == [0, 1, 5] and list(fl) == [0, 1, 3] and list(b) == [0, 64, 192]


def test_truenorth_and_morphic_traffic_differ_where_their_packets_pack_differently():
    """32-bit TrueNorth-style against 31-bit MorphIC-style packets: the same flits wherever a flit holds as
    many of either (48..256 bits), fewer MorphIC flits where the extra bit costs a slot (93 bits)."""
    s = np.array([3, 16, 40])
    for fb in (48, 64, 93, 96, 128, 256):
        tn, mo = (int(PacketFormat(p, fb).size(s)[1].sum()) for p in AER)
        assert (tn == mo) if fb // 32 == fb // 31 else (mo < tn), fb


def test_truenorth_bit_layout():
    """Exact bits of one packet: dx(4) dy(4) id(11) position(12) sign(1), two's complement offsets."""
    f = PacketFormat("aer_truenorth", 96)
    w = f.encode_aer_packet(Spike(9, True), 5, f.pack_offsets(-2, 3))
    assert w == (0b1110 << 28) | (0b0011 << 24) | (5 << 13) | (9 << 1) | 1
    (flits,) = f.encode([Spike(9, True)], 5, f.pack_offsets(-2, 3))
    assert flits == [w << (96 - 32)]
    with pytest.raises(ValueError, match="11 bits"):
        f.encode([Spike(9, True)], 2048, f.pack_offsets(-2, 3))
    mo = PacketFormat("aer_morphic", 64)
    assert mo.encode_aer_packet(Spike(4095, False), 4095, 35) == (35 << 25) | (4095 << 13) | (4095 << 1)


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


@settings(max_examples=80, deadline=None)
@given(
    spikes=spikes_st,
    flit_bits=st.integers(48, 256),
    sid=st.integers(0, 4095),
    proto=st.sampled_from(AER),
    spec=st.sampled_from(sorted(TOPOS)),
    data=st.data(),
)
def test_aer_round_trip(spikes, flit_bits, sid, proto, spec, data):
    topo = TOPOS[spec]
    f = PacketFormat(proto, flit_bits, topology=topo)
    sid = sid % (1 << f.id_bits)  # the spine id field is as wide as the format leaves it
    src = data.draw(st.integers(0, topo.n_nodes - 1))
    dst = data.draw(st.integers(0, topo.n_nodes - 1))
    sp = [Spike(p, n) for p, n in spikes]
    dest = f.address(src, dst)
    (train,) = f.encode(sp, sid, dest)
    packets, flits, bits = f.size(len(sp))
    assert len(train) == int(flits) and all(0 <= w < (1 << flit_bits) for w in train)
    assert sum(len(f.unpack_flit(w)) for w in train) == int(packets) == len(sp)
    d = f.decode(train)
    assert d.dest == dest and d.spine_id == sid and list(d.spikes) == sorted(sp, key=lambda s: s.position)
    if proto == "aer_morphic":
        assert dest == dst
    for spike in sp[:3]:  # one packet: fields at their bit positions and back
        w = f.encode_aer_packet(spike, sid, dest)
        a, i, back = f.decode_aer_packet(w)
        assert 0 <= w < (1 << f.packet_bits) and (a, i, back) == (dest, sid, spike)


@settings(max_examples=80, deadline=None)
@given(spec=st.sampled_from(sorted(TOPOS)), flit_bits=st.sampled_from([48, 64, 128, 256]), data=st.data())
def test_truenorth_hop_rewrite_follows_route(spec, flit_bits, data):
    """Applying hop() router by router steps the offsets to zero along the X-Y route (grids), the shorter way
    round (ring) or the hop count (other graphs), and leaves spikes and spine id intact."""
    topo = TOPOS[spec]
    f = PacketFormat("aer_truenorth", flit_bits, topology=topo)
    src = data.draw(st.integers(0, topo.n_nodes - 1))
    dst = data.draw(st.integers(0, topo.n_nodes - 1))
    sp = [Spike(p, n) for p, n in data.draw(spikes_st)]
    (train,) = f.encode(sp, 77, f.address(src, dst))
    route = make_routing("xy" if topo.is_grid else "shortest", topo).route(src, dst)
    node, hops = src, 0
    while True:
        ports_flits = [f.hop_flit(w) for w in train]
        ports = {p for p, _ in ports_flits}
        assert len(ports) == 1
        (port,) = ports
        if port == PORT_LOCAL:
            break
        train = [w for _, w in ports_flits]
        hops += 1
        assert hops <= topo.diameter
        if topo.is_grid:
            r, c = topo.rc(node)
            dc = {PORT_XP: 1, PORT_XM: -1}.get(port, 0)
            dr = {PORT_YP: 1, PORT_YM: -1}.get(port, 0)
            node = ((r + dr) % topo.rows) * topo.cols + (c + dc) % topo.cols
            assert node == route[hops]
        elif topo.kind == "ring":
            node = (node + (1 if port == PORT_XP else -1)) % topo.n_nodes
        else:
            assert port == PORT_TABLE
            node = route[hops]
    assert node == dst and hops == topo.hops[src, dst]
    d = f.decode(train)
    assert d.dest == 0 and d.spine_id == 77 and list(d.spikes) == sorted(sp, key=lambda s: s.position)


def test_morphic_hop_is_a_table_lookup():
    f = PacketFormat("aer_morphic", 64)
    w = f.encode_aer_packet(Spike(1, False), 3, 20)
    assert f.hop(w) == (PORT_TABLE, w) and f.hop(w, here=7) == (PORT_TABLE, w)
    assert f.hop(w, here=20) == (PORT_LOCAL, w)


def test_padding_slots_are_not_packets():
    f = PacketFormat("aer_morphic", 256)  # 8 slots
    (train,) = f.encode([Spike(0, False), Spike(5, True)], 0, 0)  # first packet is all zeros
    assert len(train) == 1 and len(f.unpack_flit(train[0])) == 2
    assert f.decode(train).spikes == (Spike(0, False), Spike(5, True))
    with pytest.raises(ValueError, match="share"):
        f.decode([train[0], f.encode([Spike(9, False)], 1, 0)[0][0]])


def test_crc_detects_corruption():
    f = PacketFormat("baer", 256, 6)
    (pkt,) = f.encode([Spike(3, True), Spike(9, False)], 5, 12)
    assert crc15(0, 10) == 0
    bad = [pkt[0] ^ (1 << 100)]
    with pytest.raises(ValueError, match="CRC"):
        f.decode(bad)


# ---- traffic table of docs/model/noc.md ---------------------------------------------------------------

TABLE_FLITS = (48, 64, 96, 128, 256)
TABLE_SPINES = (1, 4, 16, 64)


def traffic_table() -> str:
    """Flits per 1000 spikes sent as trains of s spikes per spine (one destination), and kbit on the wire at
    s = 16, per protocol and flit size on the 6x6 mesh; the markdown that docs/model/noc.md shows."""
    head = "| protocol | packet bits | flit bits | per flit | " + " | ".join(f"s={s}" for s in TABLE_SPINES)
    lines = [head + " | kbit, s=16 |", "|" + "---|" * (5 + len(TABLE_SPINES))]
    for proto in ("baer", *AER):
        for fb in TABLE_FLITS:
            f = PacketFormat(proto, fb)
            per = [1000 * int(f.size(s)[1]) / s for s in TABLE_SPINES]
            kbit = 1000 * int(f.size(16)[2]) / 16 / 1000
            pb = f.packet_bits if f.is_aer else "var."
            k = f.packets_per_flit if f.is_aer else f"{f.head_capacity}/{f.body_capacity} spikes"
            cells = " | ".join(f"{x:g}" for x in per)
            lines.append(f"| {proto} | {pb} | {fb} | {k} | {cells} | {kbit:g} |")
    return "\n".join(lines)


def test_docs_traffic_table_is_current():
    doc = (ROOT / "docs" / "model" / "noc.md").read_text()
    assert traffic_table() in doc, "regenerate: python -m tests.noc.test_noc_packet"


if __name__ == "__main__":
    print(traffic_table())
