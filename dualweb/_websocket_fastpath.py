"""The WebSocket fast path: the common, unambiguous frames read and written without a parser.

What it skips and why: for every message, websockets' sans-io protocol runs a
generator-based parser (a few generator resumptions and ``Frame`` objects per
frame) and builds outgoing frames through ``Frame.serialize``. That is most
of the CPU an echo costs. The frames handled here are the ones where nothing
can be wrong or negotiated:

* incoming: a *complete* frame in the received bytes, ``FIN`` set, no
  reserved bits, opcode text or binary, masked exactly when the peer is a
  client, a length within the message size limit (the session finds frame
  boundaries with :func:`frame_size`, which reads only the length fields,
  and gives the general parser every other frame whole);
* outgoing: one whole text or binary message.

Everything else (control frames, fragments, reserved bits, compression,
any state but OPEN) goes to the websockets protocol, which
applies every check. Because the session tracks where each frame ends, the
two paths never interleave within a frame. ``tests/test_websocket_strict.py``
runs the same traffic through both (whole packets, random splits, splits
right after a header) and checks they agree.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Final

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = [
    "frame_header",
    "frame_size",
    "masked_frame",
    "simple_header",
    "simple_payload",
]

_FIN_TEXT: Final = 0x81
_FIN_BINARY: Final = 0x82
_MASKED: Final = 0x80
# Header size (before the mask key) by the 7-bit length field: 126 and 127
# announce a 16- and a 64-bit length.
_HEADER_SIZE: Final = (2,) * 126 + (4, 10)
# Below this size, slicing a payload out (a copy) is cheaper than making a view.
_COPY_LIMIT: Final = 2048
_pack_short: Final = struct.Struct("!BB").pack
_pack_medium: Final = struct.Struct("!BBH").pack
_pack_long: Final = struct.Struct("!BBQ").pack

# The data may be a memoryview slice, which avoids copying the payload first.
_apply_mask: Final[Callable[[bytes | bytearray | memoryview, bytes | bytearray], bytes]] = (
    apply_mask
)


def frame_size(data: bytes | bytearray, pos: int) -> int:
    """Total size (header, mask key, payload) of any frame starting at ``pos``; -1 if unknown yet.

    Only the length fields are read, so this works for every frame, valid
    or not: the session uses it to hand the general parser whole frames.
    """
    available = len(data) - pos
    if available < 2:
        return -1
    second = data[pos + 1]
    length = second & 0x7F
    head = 2
    if length == 126:
        if available < 4:
            return -1
        length = (data[pos + 2] << 8) | data[pos + 3]
        head = 4
    elif length == 127:
        if available < 10:
            return -1
        length = int.from_bytes(data[pos + 2 : pos + 10], "big")
        head = 10
    if second & _MASKED:
        head += 4
    return head + length


def simple_header(data: bytes | bytearray, pos: int, masked: bool) -> bool:
    """Whether the frame header at ``pos`` (two bytes available) is one the fast path takes."""
    first = data[pos]
    if first != _FIN_TEXT and first != _FIN_BINARY:
        return False
    return bool(data[pos + 1] & _MASKED) == masked


def simple_payload(
    data: bytes | bytearray, pos: int, size: int, masked: bool, max_size: int | None
) -> tuple[bytes, bool] | None:
    """``(payload, is_text)`` of the complete ``size``-byte frame at ``pos``, if it is simple.

    ``None`` when the frame is anything but an unfragmented text or binary
    frame without reserved bits, masked exactly when ``masked``, with a
    length within ``max_size``: the general parser must judge it.
    """
    # simple_header(), inlined: this runs for every message.
    first = data[pos]
    if first != _FIN_TEXT and first != _FIN_BINARY:
        return None
    second = data[pos + 1]
    if bool(second & _MASKED) != masked:
        return None
    start = pos + _HEADER_SIZE[second & 0x7F]
    end = pos + size
    if masked:
        length = end - start - 4
        if max_size is not None and length > max_size:
            return None
        payload: bytes | bytearray | memoryview
        if length < _COPY_LIMIT:
            payload = data[start + 4 : end]
        else:  # a view: no copy of a large payload before unmasking it
            payload = memoryview(data)[start + 4 : end]
        return _apply_mask(payload, data[start : start + 4]), first == _FIN_TEXT
    if max_size is not None and end - start > max_size:
        return None
    return bytes(data[start:end]), first == _FIN_TEXT


def frame_header(length: int, text: bool, masked: bool) -> bytes:
    """The header of an unfragmented data frame carrying ``length`` bytes (without a mask key)."""
    first = _FIN_TEXT if text else _FIN_BINARY
    mask_bit = _MASKED if masked else 0
    if length < 126:
        return _pack_short(first, mask_bit | length)
    if length < 65536:
        return _pack_medium(first, mask_bit | 126, length)
    return _pack_long(first, mask_bit | 127, length)


def masked_frame(data: bytes, text: bool) -> bytes:
    """A whole client (masked) data frame for ``data``."""
    key = os.urandom(4)
    return frame_header(len(data), text, True) + key + _apply_mask(data, key)
