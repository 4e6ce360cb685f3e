"""The WebSocket fast path: the common, unambiguous frames read and written without a parser.

What it skips and why: for every message, websockets' sans-io protocol runs a
generator-based parser (a few generator resumptions and ``Frame`` objects per
frame) and builds outgoing frames through ``Frame.serialize``. That is most
of the CPU an echo costs. The frames handled here are the ones where nothing
can be wrong or negotiated:

* incoming: a *complete* frame in the received bytes, ``FIN`` set, no
  reserved bits, opcode text or binary, masked exactly when the peer is a
  client, a 7- or 16-bit length within the message size limit;
* outgoing: one whole text or binary message.

Everything else (control frames, fragments, 64-bit lengths, partial frames,
reserved bits, compression, any state but OPEN) goes to the websockets
protocol, which applies every check. The session only uses these functions
while no extension is negotiated, no fragmented message is in progress and
the protocol holds no partial frame, so the two paths never interleave within
a frame. ``tests/test_websocket_strict.py`` runs the same traffic through
both (whole packets and byte by byte) and checks they agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = ["frame_header", "masked_frame", "split_frames"]

_FIN_TEXT: Final = 0x81
_FIN_BINARY: Final = 0x82
_MASKED: Final = 0x80

_apply_mask: Final[Callable[[bytes, bytes], bytes]] = apply_mask


def split_frames(
    data: bytes, masked: bool, max_size: int | None
) -> tuple[list[tuple[bytes, bool]], int]:
    """Take the leading simple data frames off ``data``.

    Returns ``(messages, consumed)``: each message is ``(payload, is_text)``
    (unmasked, not yet UTF-8 checked), and ``consumed`` is how many bytes of
    ``data`` they used; the rest belongs to the general parser.
    """
    messages: list[tuple[bytes, bool]] = []
    pos = 0
    end_of_data = len(data)
    mask_len = 4 if masked else 0
    while end_of_data - pos >= 2 + mask_len:
        first = data[pos]
        if first != _FIN_TEXT and first != _FIN_BINARY:
            break
        second = data[pos + 1]
        if bool(second & _MASKED) != masked:
            break
        length = second & 0x7F
        start = pos + 2
        if length == 126:
            if end_of_data - pos < 4 + mask_len:
                break
            length = (data[start] << 8) | data[start + 1]
            start += 2
        elif length == 127:
            break
        if max_size is not None and length > max_size:
            break
        end = start + mask_len + length
        if end > end_of_data:
            break
        if masked:
            payload = _apply_mask(data[start + 4 : end], data[start : start + 4])
        else:
            payload = data[start:end]
        messages.append((payload, first == _FIN_TEXT))
        pos = end
    return messages, pos


def frame_header(length: int, text: bool, masked: bool) -> bytes:
    """The header of an unfragmented data frame carrying ``length`` bytes (without a mask key)."""
    first = _FIN_TEXT if text else _FIN_BINARY
    mask_bit = _MASKED if masked else 0
    if length < 126:
        return bytes((first, mask_bit | length))
    if length < 65536:
        return bytes((first, mask_bit | 126, length >> 8, length & 0xFF))
    return bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")


def masked_frame(data: bytes, text: bool) -> bytes:
    """A whole client (masked) data frame for ``data``."""
    key = os.urandom(4)
    return frame_header(len(data), text, True) + key + _apply_mask(data, key)
