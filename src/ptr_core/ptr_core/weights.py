"""Policy weights on `ptr/policy_weights`: signed packets (ptr_core.packets) of kind 'weights'.

The trainer may run on another machine, so a packet carries everything the policy needs to decide
whether to run it: the weights version (the packet's serial), the architecture fingerprint (its
label: a policy never loads weights of another network), the payload's sha256 and the HMAC.
"""
from __future__ import annotations

from ptr_core import packets
from ptr_core.packets import DEV_KEY, KEY_ENV, Packet, PacketError, resolve_key

KIND = 'weights'
__all__ = ['DEV_KEY', 'KEY_ENV', 'KIND', 'WeightsError', 'ChunkAssembler', 'decode', 'encode',
           'resolve_key', 'Packet']


class WeightsError(PacketError):
    """Weights that must not be loaded; the message says why in one line."""


def encode(payload: bytes, version: int, fingerprint: str, key: bytes,
           chunk_size: int = 0) -> list[bytes]:
    """Sign `payload` into one packet, or several of at most `chunk_size` payload bytes each."""
    return packets.encode(payload, key, KIND, version, fingerprint, chunk_size)


def decode(packet: bytes, key: bytes, expected_fingerprint: str | None = None,
           max_bytes: int | None = None) -> Packet:
    """Verify one packet (serial = version, label = fingerprint); raises WeightsError.

    `max_bytes` bounds the packet and the payload it declares: an oversized one is refused
    before its HMAC is computed (a flood of huge packets costs no hashing) and before any
    chunk of it is kept."""
    if max_bytes is not None and len(packet) > max_bytes:
        raise WeightsError(f'weights packet: {len(packet)} bytes, over the limit of {max_bytes}')
    try:
        part = packets.decode(packet, key, KIND)
    except PacketError as e:
        raise WeightsError(str(e)) from None
    if max_bytes is not None and part.size > max_bytes:
        raise WeightsError(f'weights v{part.serial}: declares {part.size} bytes, over the limit '
                           f'of {max_bytes}')
    if expected_fingerprint is not None and part.label != expected_fingerprint:
        raise WeightsError(f'weights v{part.serial}: architecture fingerprint mismatch, expected '
                           f'{expected_fingerprint}, got {part.label}')
    return part


class ChunkAssembler(packets.Assembler):
    """Only the newest version is assembled: the trainer has moved on from older ones."""

    def __init__(self) -> None:
        super().__init__(max_pending=1, newest_only=True)

    def add(self, part: Packet) -> Packet | None:
        try:
            return super().add(part)
        except PacketError as e:
            raise WeightsError(str(e)) from None
