"""Bit-accurate packet formats: bundled AER (BAER) and per-spike AER (TrueNorth-style, MorphIC-style).

Field widths are constants below; flit capacities are derived from them, never tabulated. Flits are Python
ints, most significant field first; ``flits_to_bytes`` gives the big-endian byte image of a packet.

BAER (one packet per spine/token; every flit ends with a 15-bit CRC over its other bits):
  head flit: type(2) | dest(dest_bits: hop counts m,n) | spine id(12) | k x [position(12) sign(1)] | pad | crc(15)
  body flit: type(2) | k x [position(12) sign(1)] | pad | crc(15)
Types: 00 head+tail (single-flit packet), 01 head, 10 body, 11 tail. Spikes are sent in ascending position
(the reducer scans channels in order), so zero padding is self-delimiting: a slot is a spike iff it is the
first of the packet or its position exceeds the previous one.

TrueNorth-style AER (one spike per packet, one flit, zero-padded to flit_bits):
  dx(h, two's complement) | dy(h) | spine id(12) | position(12) | sign(1), h = ceil(dest_bits/2) + 1
  -> 33 bits for a 6x6 mesh (dest_bits 6); dx/dy are the remaining signed hop offsets, decremented en route.
MorphIC-style AER (one spike per packet, flat 32 bits): core(7) | spine id(12) | position(12) | sign(1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from elsa_tlm.errors import ConfigError
from elsa_tlm.noc.params import FLIT_BITS_MAX, FLIT_BITS_MIN, PROTOCOLS

TYPE_BITS, ID_BITS, POS_BITS, SIGN_BITS, CRC_BITS = 2, 12, 12, 1, 15
SPIKE_BITS = POS_BITS + SIGN_BITS
MORPHIC_CORE_BITS = 7
T_SINGLE, T_HEAD, T_BODY, T_TAIL = 0b00, 0b01, 0b10, 0b11
CRC15_POLY = 0x4599  # CAN-bus CRC-15 polynomial


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
    dest: int
    spine_id: int
    spikes: tuple[Spike, ...]


class PacketFormat:
    """Sizes of packets of one protocol at one flit width; vectorised for the chip model's hot paths."""

    def __init__(self, protocol: str, flit_bits: int, dest_bits: int = 6) -> None:
        if protocol not in PROTOCOLS:
            raise ConfigError("noc.protocol", protocol, f"must be one of {', '.join(PROTOCOLS)}")
        if isinstance(flit_bits, bool) or not isinstance(flit_bits, int | np.integer):
            raise ConfigError("noc.flit_bits", flit_bits, "must be an integer")
        if not FLIT_BITS_MIN <= flit_bits <= FLIT_BITS_MAX:
            raise ConfigError("noc.flit_bits", flit_bits, f"must be in {FLIT_BITS_MIN}..{FLIT_BITS_MAX} bits")
        if dest_bits < 1:
            raise ConfigError("noc.dest_bits", dest_bits, "must be >= 1")
        self.protocol, self.flit_bits, self.dest_bits = protocol, int(flit_bits), int(dest_bits)
        if protocol == "baer":
            self.head_header_bits = TYPE_BITS + dest_bits + ID_BITS + CRC_BITS
            self.body_header_bits = TYPE_BITS + CRC_BITS
            self.head_capacity = max(0, (self.flit_bits - self.head_header_bits) // SPIKE_BITS)
            self.body_capacity = (self.flit_bits - self.body_header_bits) // SPIKE_BITS
            if self.head_header_bits > self.flit_bits:
                raise ConfigError(
                    "noc.flit_bits", flit_bits, f"BAER head header needs {self.head_header_bits} bits"
                )
            self.packet_bits = 0
        else:
            if protocol == "aer_truenorth":
                self.offset_bits = math.ceil(dest_bits / 2) + 1
                self.packet_bits = 2 * self.offset_bits + ID_BITS + SPIKE_BITS
            else:
                self.packet_bits = MORPHIC_CORE_BITS + ID_BITS + SPIKE_BITS
            if self.packet_bits > self.flit_bits:
                raise ConfigError(
                    "noc.flit_bits", flit_bits, f"{protocol} packet needs {self.packet_bits} bits"
                )
            self.head_capacity, self.body_capacity = 1, 0

    def size(self, n_spikes: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(packets, flits, bits) per spine with ``n_spikes`` spikes; bits = flits*flit_bits (padding included)."""
        s = np.asarray(n_spikes, dtype=np.int64)
        if self.protocol == "baer":
            packets = (s > 0).astype(np.int64)
            extra = np.maximum(s - self.head_capacity, 0)
            flits = packets * (1 + (extra + self.body_capacity - 1) // self.body_capacity)
        else:
            packets = s.copy()
            flits = s.copy()
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

    # ---- bit-accurate codecs -------------------------------------------------------------------------

    def encode(self, spikes: list[Spike], spine_id: int, dest: int) -> list[list[int]]:
        """Encode one spine's spikes into packets (each a list of flit ints).

        BAER: one packet; AER: one single-flit packet per spike. For aer_truenorth ``dest`` is the pair
        (dx, dy) packed by :func:`pack_offsets`; for BAER the destination field value; for MorphIC the core id.
        """
        if not 0 <= spine_id < (1 << ID_BITS):
            raise ValueError(f"spine id {spine_id} does not fit {ID_BITS} bits")
        spikes = sorted(spikes, key=lambda sp: sp.position)
        pos = [sp.position for sp in spikes]
        if len(set(pos)) != len(pos) or any(not 0 <= p < (1 << POS_BITS) for p in pos):
            raise ValueError("spike positions must be unique and fit 12 bits")
        if not spikes:
            return []
        if self.protocol != "baer":
            return [[self._encode_aer(sp, spine_id, dest)] for sp in spikes]
        if not 0 <= dest < (1 << self.dest_bits):
            raise ValueError(f"destination {dest} does not fit {self.dest_bits} bits")
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

    def _encode_aer(self, sp: Spike, spine_id: int, dest: int) -> int:
        tail = (spine_id << SPIKE_BITS) | (sp.position << 1) | int(sp.negative)
        if self.protocol == "aer_truenorth":
            if not 0 <= dest < (1 << (2 * self.offset_bits)):
                raise ValueError("packed dx/dy offsets out of range")
            word = (dest << (ID_BITS + SPIKE_BITS)) | tail
        else:
            if not 0 <= dest < (1 << MORPHIC_CORE_BITS):
                raise ValueError(f"core id {dest} does not fit {MORPHIC_CORE_BITS} bits")
            word = (dest << (ID_BITS + SPIKE_BITS)) | tail
        return word << (self.flit_bits - self.packet_bits)

    def decode(self, packet: list[int]) -> DecodedPacket:
        """Decode one packet (list of flit ints) back to destination, spine id and spikes; checks CRCs."""
        if self.protocol != "baer":
            if len(packet) != 1:
                raise ValueError("an AER packet is one flit")
            word = packet[0] >> (self.flit_bits - self.packet_bits)
            sp = Spike(position=(word >> 1) & ((1 << POS_BITS) - 1), negative=bool(word & 1))
            spine_id = (word >> SPIKE_BITS) & ((1 << ID_BITS) - 1)
            return DecodedPacket(dest=word >> (ID_BITS + SPIKE_BITS), spine_id=spine_id, spikes=(sp,))
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

    def pack_offsets(self, dx: int, dy: int) -> int:
        """Pack signed hop offsets (dx, dy) into the TrueNorth-style destination bits (two's complement)."""
        h = self.offset_bits
        lim = 1 << (h - 1)
        if not (-lim <= dx < lim and -lim <= dy < lim):
            raise ValueError(f"offsets ({dx}, {dy}) do not fit {h} bits each")
        return ((dx & ((1 << h) - 1)) << h) | (dy & ((1 << h) - 1))

    def unpack_offsets(self, dest: int) -> tuple[int, int]:
        h = self.offset_bits

        def sx(v: int) -> int:
            return v - (1 << h) if v >> (h - 1) else v

        return sx(dest >> h), sx(dest & ((1 << h) - 1))


def flits_to_bytes(flits: list[int], flit_bits: int) -> bytes:
    """Big-endian byte image of a packet: each flit padded to whole bytes."""
    nb = (flit_bits + 7) // 8
    return b"".join(f.to_bytes(nb, "big") for f in flits)
