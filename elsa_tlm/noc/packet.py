"""Bit-accurate packet formats: bundled AER (BAER) and per-spike AER (TrueNorth-style, MorphIC-style).

Field widths are constants or derived from the topology (grid dimensions, node count, diameter), never
tabulated. Flits are Python ints, most significant field first; ``flits_to_bytes`` gives the big-endian byte
image of a packet. See docs/model/noc.md ("Packet formats") for the rules and their justification.

BAER (one packet per spine/token; every flit ends with a 15-bit CRC over its other bits):
  head flit: type(2) | dest(dest_bits: hop counts m,n) | spine id(12) | k x [position(12) sign(1)] | pad | crc(15)
  body flit: type(2) | k x [position(12) sign(1)] | pad | crc(15)
Types: 00 head+tail (single-flit packet), 01 head, 10 body, 11 tail. Spikes are sent in ascending position
(the reducer scans channels in order), so zero padding is self-delimiting: a slot is a spike iff it is the
first of the packet or its position exceeds the previous one.

Per-spike AER (one packet per spike, packed into flits: a flit carries ``packets_per_flit`` =
floor(flit_bits / packet_bits) whole packets of one spine train to one destination, at fixed slots from the
MSB, no packet straddling two flits, zero padding after the last packet of the train):
  TrueNorth-style: one 32-bit word, offsets | spine id | position(12) | sign(1): the spine id gets what the
    offsets leave (11 bits on the 6x6 mesh; a topology whose offsets leave none is refused). Offsets are the
    signed remaining hop counts (dx, dy) on a mesh/torus (two's complement, each wide enough for the largest
    offset of its dimension), one signed offset on a ring, one unsigned remaining-hop count on other graphs;
    every router rewrites them (:meth:`PacketFormat.hop`): 4+4+11+12+1 = 32 bits on the 6x6 mesh, two per
    64-bit flit.
  MorphIC-style: core(ceil(log2 N)) | spine id(12) | position(12) | sign(1), a flat absolute address looked
    up in a routing table at every router and never rewritten: 6+25 = 31 bits on 36 cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from elsa_tlm.errors import ConfigError
from elsa_tlm.noc.params import FLIT_BITS_MAX, FLIT_BITS_MIN, PROTOCOLS

TYPE_BITS, ID_BITS, POS_BITS, SIGN_BITS, CRC_BITS = 2, 12, 12, 1, 15
TRUENORTH_PACKET_BITS = 32  # TrueNorth-style packets are one 32-bit word, offsets included (ELSA_BRIEF §4)
SPIKE_BITS = POS_BITS + SIGN_BITS
T_SINGLE, T_HEAD, T_BODY, T_TAIL = 0b00, 0b01, 0b10, 0b11
CRC15_POLY = 0x4599  # CAN-bus CRC-15 polynomial
DEFAULT_TOPOLOGY = "mesh:6x6"  # the ELSA chip (ELSA_BRIEF §3), used when no topology is given

# output ports a hop can choose: along +/- x (columns), +/- y (rows), the routing engine's table, local eject
PORT_XP, PORT_XM, PORT_YP, PORT_YM, PORT_TABLE, PORT_LOCAL = "+x", "-x", "+y", "-y", "table", "local"


def crc15(value: int, nbits: int) -> int:
    """CRC-15 (poly 0x4599, init 0) of the ``nbits``-bit integer ``value``, MSB first."""
    crc = 0
    for i in range(nbits - 1, -1, -1):
        bit = ((value >> i) & 1) ^ ((crc >> 14) & 1)
        crc = (crc << 1) & 0x7FFF
        if bit:
            crc ^= CRC15_POLY
    return crc


def dest_bits_for(topo: object) -> int:
    """Width of the BAER destination field for a topology.

    Grids carry two unsigned hop counts (m along x, n along y) each wide enough for the largest hop count in
    that dimension (cols-1 on a mesh, floor(cols/2) on a torus): 3+3 = 6 bits for a 6x6 mesh. Other graphs
    carry one remaining-hop count wide enough for the diameter (the routing engine holds the static route).
    """
    if getattr(topo, "kind", None) in ("mesh", "torus"):
        if topo.kind == "mesh":
            mx, my = topo.cols - 1, topo.rows - 1
        else:
            mx, my = topo.cols // 2, topo.rows // 2
        return max(1, mx.bit_length()) + max(1, my.bit_length())
    return max(1, int(topo.diameter).bit_length())


def dest_field(topo: object, src: int, dst: int) -> int:
    """Value of the destination field for a packet src->dst (hop counts m,n packed as m << n_bits | n)."""
    bits = dest_bits_for(topo)
    if getattr(topo, "kind", None) in ("mesh", "torus"):
        (sr, sc), (dr, dc) = topo.rc(src), topo.rc(dst)
        m, n = abs(dc - sc), abs(dr - sr)
        if topo.kind == "torus":
            m, n = min(m, topo.cols - m), min(n, topo.rows - n)
        n_bits = max(1, (topo.rows // 2 if topo.kind == "torus" else topo.rows - 1).bit_length())
        return (m << n_bits) | n
    value = int(topo.hops[src, dst])
    assert value < (1 << bits)
    return value


@dataclass(frozen=True)
class Spike:
    position: int  # 0..4095 within the spine/token
    negative: bool  # sign bit: 1 = -1 spike, 0 = +1 spike


@dataclass(frozen=True)
class DecodedPacket:
    """A decoded BAER packet or AER train: destination field value, spine id, spikes in ascending order."""

    dest: int
    spine_id: int
    spikes: tuple[Spike, ...]


@lru_cache(maxsize=1)
def _default_topology() -> Any:
    from elsa_tlm.noc.topology import build_topology

    return build_topology(DEFAULT_TOPOLOGY)


def _signed_bits(max_abs: int) -> int:
    """Two's-complement width holding -max_abs..max_abs."""
    return int(max_abs).bit_length() + 1


def truenorth_offset_fields(topo: Any) -> tuple[tuple[int, ...], bool]:
    """Widths of the TrueNorth-style offset fields for a topology and whether they are signed.

    Mesh: (dx, dy) signed, each for the largest offset of its dimension (cols-1, rows-1); torus: the largest
    wrapped offset (floor(cols/2), floor(rows/2)); ring: one signed offset up to floor(N/2); any other graph
    has no coordinate system the router could count down, so the field is an unsigned remaining-hop count for
    the diameter and the direction comes from the routing engine's table.
    """
    kind = getattr(topo, "kind", None)
    if kind == "mesh":
        return (_signed_bits(topo.cols - 1), _signed_bits(topo.rows - 1)), True
    if kind == "torus":
        return (_signed_bits(topo.cols // 2), _signed_bits(topo.rows // 2)), True
    if kind == "ring":
        return (_signed_bits(topo.n_nodes // 2),), True
    return (max(1, int(topo.diameter).bit_length()),), False


def morphic_core_bits(topo: Any) -> int:
    """Width of the MorphIC-style flat core address: ceil(log2 N) for N routers (at least 1)."""
    return max(1, (int(topo.n_nodes) - 1).bit_length())


class PacketFormat:
    """One packet protocol at one flit width: vectorised sizes for the chip model, bit-accurate codecs.

    Facts for the energy/chip model (per packet, see docs/model/noc.md):

    * ``packet_bits``: bits of one AER packet (0 for BAER, whose packets are variable-length);
    * ``packets_per_flit``: whole AER packets one flit carries (1 for BAER);
    * ``address_bits``: routing header bits per packet (BAER dest, TrueNorth offsets, MorphIC core id);
    * ``route_lookups_per_router``: routing-table reads per packet at every router it visits (MorphIC 1:
      the flat address indexes the table; BAER 1: the routing engine holds the static route and port
      probabilities; TrueNorth 0 on grids and rings: the signs of the offsets pick the port, 1 on other graphs);
    * ``header_rewrites_per_hop``: header fields rewritten per packet per link hop (TrueNorth 1: one offset
      stepped towards 0; BAER 1: one hop count decremented; MorphIC 0).
    """

    def __init__(
        self, protocol: str, flit_bits: int, dest_bits: int | None = None, topology: Any | None = None
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ConfigError("noc.protocol", protocol, f"must be one of {', '.join(PROTOCOLS)}")
        if isinstance(flit_bits, bool) or not isinstance(flit_bits, int | np.integer):
            raise ConfigError("noc.flit_bits", flit_bits, "must be an integer")
        if not FLIT_BITS_MIN <= flit_bits <= FLIT_BITS_MAX:
            raise ConfigError("noc.flit_bits", flit_bits, f"must be in {FLIT_BITS_MIN}..{FLIT_BITS_MAX} bits")
        self.topology = topology if topology is not None else _default_topology()
        if dest_bits is None:
            dest_bits = dest_bits_for(self.topology)
        if dest_bits < 1:
            raise ConfigError("noc.dest_bits", dest_bits, "must be >= 1")
        self.protocol, self.flit_bits, self.dest_bits = protocol, int(flit_bits), int(dest_bits)
        self.offset_widths: tuple[int, ...] = ()
        self.offsets_signed = False
        if protocol == "baer":
            self.head_header_bits = TYPE_BITS + dest_bits + ID_BITS + CRC_BITS
            self.body_header_bits = TYPE_BITS + CRC_BITS
            if self.head_header_bits > self.flit_bits:
                raise ConfigError(
                    "noc.flit_bits", flit_bits, f"BAER head header needs {self.head_header_bits} bits"
                )
            self.head_capacity = (self.flit_bits - self.head_header_bits) // SPIKE_BITS
            self.body_capacity = (self.flit_bits - self.body_header_bits) // SPIKE_BITS
            self.address_bits, self.packet_bits, self.packets_per_flit = self.dest_bits, 0, 1
            self.route_lookups_per_router, self.header_rewrites_per_hop = 1, 1
            return
        if protocol == "aer_truenorth":
            self.offset_widths, self.offsets_signed = truenorth_offset_fields(self.topology)
            self.address_bits = sum(self.offset_widths)
            self.route_lookups_per_router = 0 if self.offsets_signed else 1
            self.header_rewrites_per_hop = 1
            # a fixed 32-bit word (ELSA_BRIEF §4, as TrueNorth's own packets): the spine id gets what the
            # offsets and the spike leave (11 bits on the 6x6 mesh: 4 + 4 + 11 + 12 + 1)
            self.id_bits = TRUENORTH_PACKET_BITS - self.address_bits - SPIKE_BITS
            if self.id_bits < 1:
                raise ConfigError(
                    "noc.protocol",
                    protocol,
                    f"a 32-bit TrueNorth-style packet has no room for a spine id on {getattr(self.topology, 'spec', self.topology)}: "
                    f"its hop offsets take {self.address_bits} bits",
                )
        else:
            self.address_bits = morphic_core_bits(self.topology)
            self.route_lookups_per_router, self.header_rewrites_per_hop = 1, 0
            self.id_bits = ID_BITS
        self.packet_bits = self.address_bits + self.id_bits + SPIKE_BITS
        if self.packet_bits > self.flit_bits:
            raise ConfigError("noc.flit_bits", flit_bits, f"{protocol} packet needs {self.packet_bits} bits")
        self.packets_per_flit = self.flit_bits // self.packet_bits
        self.head_capacity = self.body_capacity = self.packets_per_flit  # spikes per flit

    @property
    def is_aer(self) -> bool:
        return self.protocol != "baer"

    # ---- sizes (vectorised) --------------------------------------------------------------------------

    def size(self, n_spikes: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(packets, flits, bits) per spine with ``n_spikes`` spikes; bits = flits*flit_bits (padding included).

        BAER: one packet of 1 + ceil(max(0, s - k_h)/k_b) flits per non-empty spine. AER: s packets in
        ceil(s / packets_per_flit) flits (several packets per flit where the flit is wider than a packet).
        """
        s = np.asarray(n_spikes, dtype=np.int64)
        if self.protocol == "baer":
            packets = (s > 0).astype(np.int64)
            extra = np.maximum(s - self.head_capacity, 0)
            flits = packets * (1 + (extra + self.body_capacity - 1) // self.body_capacity)
        else:
            packets = s.copy()
            flits = (s + self.packets_per_flit - 1) // self.packets_per_flit
        return packets, flits, flits * self.flit_bits

    def payload_bits(self, n_spikes: np.ndarray | int) -> np.ndarray:
        """Meaningful bits per spine (headers, spikes, CRCs; padding excluded)."""
        s = np.asarray(n_spikes, dtype=np.int64)
        if self.protocol == "baer":
            packets, flits, _ = self.size(s)
            return (
                packets * self.head_header_bits + (flits - packets) * self.body_header_bits + s * SPIKE_BITS
            )
        return s * self.packet_bits

    # ---- addresses -----------------------------------------------------------------------------------

    def address(self, src: int, dst: int) -> int:
        """Value of the routing header for a packet from core ``src`` to core ``dst`` on this topology.

        BAER: :func:`dest_field` (hop counts); MorphIC: ``dst``; TrueNorth: the packed offsets of the X-Y route
        (grids: per dimension the shorter way round a torus, ties to increasing index, as in XY routing; ring:
        the shorter way, ties forward; other graphs: the hop count of the shortest route).
        """
        topo = self.topology
        if self.protocol == "baer":
            return dest_field(topo, src, dst)
        if self.protocol == "aer_morphic":
            return int(dst)
        if topo.kind in ("mesh", "torus"):
            (sr, sc), (dr, dc) = topo.rc(src), topo.rc(dst)
            if topo.kind == "mesh":
                return self.pack_offsets(dc - sc, dr - sr)
            return self.pack_offsets(_wrap(dc - sc, topo.cols), _wrap(dr - sr, topo.rows))
        if topo.kind == "ring":
            return self.pack_offsets(_wrap(dst - src, topo.n_nodes))
        return self.pack_offsets(int(topo.hops[src, dst]))

    def pack_offsets(self, dx: int, dy: int | None = None) -> int:
        """Pack TrueNorth-style offsets (dx, dy on grids; one offset on rings and other graphs)."""
        values = (dx,) if dy is None else (dx, dy)
        if self.protocol != "aer_truenorth" or len(values) != len(self.offset_widths):
            raise ValueError(f"{self.protocol} on this topology takes {len(self.offset_widths)} offset(s)")
        word = 0
        for v, w in zip(values, self.offset_widths, strict=True):
            lo, hi = (-(1 << (w - 1)), 1 << (w - 1)) if self.offsets_signed else (0, 1 << w)
            if not lo <= v < hi:
                raise ValueError(f"offset {v} does not fit {w} bits")
            word = (word << w) | (v & ((1 << w) - 1))
        return word

    def unpack_offsets(self, dest: int) -> tuple[int, ...]:
        """Inverse of :meth:`pack_offsets`: (dx, dy) on grids, (d,) otherwise."""
        out: list[int] = []
        shift = self.address_bits
        for w in self.offset_widths:
            shift -= w
            v = (dest >> shift) & ((1 << w) - 1)
            if self.offsets_signed and v >> (w - 1):
                v -= 1 << w
            out.append(v)
        return tuple(out)

    # ---- bit-accurate codecs -------------------------------------------------------------------------

    def encode(self, spikes: list[Spike], spine_id: int, dest: int) -> list[list[int]]:
        """Encode one spine's spikes for one destination: a list with one flit list (BAER: the packet;
        AER: the train of packed packets), or ``[]`` without spikes. ``dest``: :meth:`address`."""
        id_bits = self.id_bits if self.is_aer else ID_BITS
        if not 0 <= spine_id < (1 << id_bits):
            raise ValueError(f"spine id {spine_id} does not fit {id_bits} bits")
        spikes = sorted(spikes, key=lambda sp: sp.position)
        pos = [sp.position for sp in spikes]
        if len(set(pos)) != len(pos) or any(not 0 <= p < (1 << POS_BITS) for p in pos):
            raise ValueError("spike positions must be unique and fit 12 bits")
        if not 0 <= dest < (1 << self.address_bits):
            raise ValueError(f"destination {dest} does not fit {self.address_bits} bits")
        if not spikes:
            return []
        if self.is_aer:
            k = self.packets_per_flit
            words = [self.encode_aer_packet(sp, spine_id, dest) for sp in spikes]
            return [[self._pack_flit(words[i : i + k]) for i in range(0, len(words), k)]]
        n_flits = int(self.size(len(spikes))[1])
        flits: list[int] = []
        i = 0
        for f in range(n_flits):
            ftype = (
                T_SINGLE if n_flits == 1 else (T_HEAD if f == 0 else (T_TAIL if f == n_flits - 1 else T_BODY))
            )
            if f == 0:
                word, used = (ftype << self.dest_bits) | dest, TYPE_BITS + self.dest_bits
                word, used = (word << ID_BITS) | spine_id, used + ID_BITS
                cap = self.head_capacity
            else:
                word, used, cap = ftype, TYPE_BITS, self.body_capacity
            for sp in spikes[i : i + cap]:
                word = (word << SPIKE_BITS) | (sp.position << 1) | int(sp.negative)
            used += SPIKE_BITS * len(spikes[i : i + cap])
            i += cap
            body_bits = self.flit_bits - CRC_BITS
            word <<= body_bits - used  # zero padding
            flits.append((word << CRC_BITS) | crc15(word, body_bits))
        return [flits]

    def decode(self, packet: list[int]) -> DecodedPacket:
        """Decode one BAER packet (checks CRCs) or one AER train (checks one address and spine id)."""
        if self.is_aer:
            return self._decode_aer_train(packet)
        spikes: list[Spike] = []
        dest = spine_id = -1
        body_bits = self.flit_bits - CRC_BITS
        for f, flit in enumerate(packet):
            word = flit >> CRC_BITS
            if crc15(word, body_bits) != flit & ((1 << CRC_BITS) - 1):
                raise ValueError(f"CRC mismatch in flit {f}")
            ftype = word >> (body_bits - TYPE_BITS)
            expect = (T_SINGLE,) if len(packet) == 1 else ((T_HEAD,) if f == 0 else (T_BODY, T_TAIL))
            if ftype not in expect or (f == len(packet) - 1 and len(packet) > 1 and ftype != T_TAIL):
                raise ValueError(f"flit {f} has unexpected type {ftype:02b}")
            pos_bit = body_bits - TYPE_BITS
            if f == 0:
                pos_bit -= self.dest_bits
                dest = (word >> pos_bit) & ((1 << self.dest_bits) - 1)
                pos_bit -= ID_BITS
                spine_id = (word >> pos_bit) & ((1 << ID_BITS) - 1)
                cap = self.head_capacity
            else:
                cap = self.body_capacity
            for _ in range(cap):
                pos_bit -= SPIKE_BITS
                slot = (word >> pos_bit) & ((1 << SPIKE_BITS) - 1)
                p, neg = slot >> 1, bool(slot & 1)
                if spikes and (p <= spikes[-1].position):
                    continue  # zero padding
                spikes.append(Spike(position=p, negative=neg))
        return DecodedPacket(dest=dest, spine_id=spine_id, spikes=tuple(spikes))

    # ---- per-spike AER: packets, flits, hops ---------------------------------------------------------

    def encode_aer_packet(self, spike: Spike, spine_id: int, dest: int) -> int:
        """One AER packet as a ``packet_bits``-wide int: address | spine id | position | sign."""
        if not self.is_aer:
            raise ValueError("BAER has no per-spike packets")
        if not 0 <= dest < (1 << self.address_bits) or not 0 <= spine_id < (1 << self.id_bits):
            raise ValueError("address or spine id out of range")
        if not 0 <= spike.position < (1 << POS_BITS):
            raise ValueError("position does not fit 12 bits")
        return (
            (((dest << self.id_bits) | spine_id) << SPIKE_BITS) | (spike.position << 1) | int(spike.negative)
        )

    def decode_aer_packet(self, word: int) -> tuple[int, int, Spike]:
        """(address, spine id, spike) of one AER packet."""
        sp = Spike(position=(word >> 1) & ((1 << POS_BITS) - 1), negative=bool(word & 1))
        return word >> (self.id_bits + SPIKE_BITS), (word >> SPIKE_BITS) & ((1 << self.id_bits) - 1), sp

    def _pack_flit(self, words: list[int]) -> int:
        assert 1 <= len(words) <= self.packets_per_flit
        flit = 0
        for w in words:
            flit = (flit << self.packet_bits) | w
        return flit << (self.flit_bits - len(words) * self.packet_bits)  # zero padding after the last packet

    def unpack_flit(self, flit: int) -> list[int]:
        """The AER packets in one flit. Slot 0 is always a packet (no empty flits are sent); a later slot is a
        packet iff its position exceeds the previous packet's (a train is sent in ascending position), so the
        all-zero padding slots are recognised without a count field."""
        if not self.is_aer:
            raise ValueError("BAER flits carry no per-spike packets")
        if not 0 <= flit < (1 << self.flit_bits):
            raise ValueError(f"flit does not fit {self.flit_bits} bits")
        mask = (1 << self.packet_bits) - 1
        out: list[int] = []
        last_pos = -1
        for i in range(self.packets_per_flit):
            w = (flit >> (self.flit_bits - (i + 1) * self.packet_bits)) & mask
            pos = (w >> 1) & ((1 << POS_BITS) - 1)
            if i and pos <= last_pos:
                continue
            out.append(w)
            last_pos = pos
        return out

    def _decode_aer_train(self, flits: list[int]) -> DecodedPacket:
        decoded = [self.decode_aer_packet(w) for f in flits for w in self.unpack_flit(f)]
        if not decoded:
            raise ValueError("empty AER train")
        dest, sid = decoded[0][0], decoded[0][1]
        if any(d != dest or s != sid for d, s, _ in decoded):
            raise ValueError("packets of one train must share address and spine id")
        return DecodedPacket(dest=dest, spine_id=sid, spikes=tuple(sp for _, _, sp in decoded))

    def hop(self, word: int, here: int | None = None) -> tuple[str, int]:
        """One router's decision for one AER packet: (output port, packet as it leaves).

        TrueNorth-style: the router reads only the offsets. On grids, dx != 0 steps along x towards 0
        (port "+x" or "-x", dx decremented in magnitude), else dy likewise along y, else "local" (eject);
        on rings the one offset steps along the ring ("+x"/"-x"); on other graphs the remaining-hop count is
        decremented and the port comes from the routing table ("table"). MorphIC-style: the packet is not
        rewritten; its core id indexes the routing table ("table"), or it is ejected ("local") at ``here``.
        """
        if not self.is_aer:
            raise ValueError("hop() rewrites per-spike AER packets")
        if self.protocol == "aer_morphic":
            port = (
                PORT_LOCAL if here is not None and word >> (self.id_bits + SPIKE_BITS) == here else PORT_TABLE
            )
            return port, word
        low = word & ((1 << (self.id_bits + SPIKE_BITS)) - 1)
        offs = list(self.unpack_offsets(word >> (self.id_bits + SPIKE_BITS)))
        if not self.offsets_signed:
            if offs[0] == 0:
                return PORT_LOCAL, word
            offs[0] -= 1
            port = PORT_TABLE
        else:
            axis = next((i for i, v in enumerate(offs) if v != 0), None)
            if axis is None:
                return PORT_LOCAL, word
            step = 1 if offs[axis] > 0 else -1
            offs[axis] -= step
            port = ((PORT_XP, PORT_XM), (PORT_YP, PORT_YM))[axis][0 if step > 0 else 1]
        return port, (self.pack_offsets(*offs) << (self.id_bits + SPIKE_BITS)) | low

    def hop_flit(self, flit: int, here: int | None = None) -> tuple[str, int]:
        """Apply :meth:`hop` to every packet slot of a flit; the port is slot 0's (every packet of a flit
        shares its destination). All-zero padding slots stay zero (zero offsets are never rewritten)."""
        words = self.unpack_flit(flit)
        hopped = [self.hop(w, here) for w in words]
        ports = {p for p, _ in hopped}
        if len(ports) != 1:
            raise ValueError(f"packets of one flit disagree on the output port: {sorted(ports)}")
        return hopped[0][0], self._pack_flit([w for _, w in hopped])


def _wrap(delta: int, size: int) -> int:
    """Shorter signed way round a cycle of ``size`` nodes, ties forward (as XY routing on a torus)."""
    fwd = delta % size
    return fwd if fwd <= size - fwd else fwd - size


def flits_to_bytes(flits: list[int], flit_bits: int) -> bytes:
    """Big-endian byte image of a packet: each flit padded to whole bytes."""
    nb = (flit_bits + 7) // 8
    return b"".join(f.to_bytes(nb, "big") for f in flits)
