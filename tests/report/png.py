"""A minimal PNG reader for screenshots: 8-bit RGB or RGBA, not interlaced (what Chromium
writes). Enough to count pixels of a colour; anything else is refused with a clear error."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {2: 3, 6: 4}


def _paeth_row(row: bytearray, previous: bytes, stride: int) -> None:
    for index in range(len(row)):
        left = row[index - stride] if index >= stride else 0
        up = previous[index]
        up_left = previous[index - stride] if index >= stride else 0
        estimate = left + up - up_left
        to_left, to_up, to_up_left = (
            abs(estimate - left),
            abs(estimate - up),
            abs(estimate - up_left),
        )
        if to_left <= to_up and to_left <= to_up_left:
            predictor = left
        elif to_up <= to_up_left:
            predictor = up
        else:
            predictor = up_left
        row[index] = (row[index] + predictor) & 0xFF


def _average_row(row: bytearray, previous: bytes, stride: int) -> None:
    for index in range(len(row)):
        left = row[index - stride] if index >= stride else 0
        row[index] = (row[index] + (left + previous[index]) // 2) & 0xFF


def _unfilter(
    kind: int, line: bytes, previous: npt.NDArray[np.uint8], stride: int
) -> npt.NDArray[np.uint8]:
    current = np.frombuffer(line, dtype=np.uint8)
    if kind == 0:
        return current.copy()
    if kind == 1:
        # Each byte adds the byte one pixel to its left: a running sum per channel, modulo 256.
        sums = np.cumsum(current.reshape(-1, stride).astype(np.uint64), axis=0)
        return (sums % 256).astype(np.uint8).reshape(-1)
    if kind == 2:
        return (current.astype(np.uint16) + previous).astype(np.uint8)
    row = bytearray(line)
    if kind == 3:
        _average_row(row, previous.tobytes(), stride)
    elif kind == 4:
        _paeth_row(row, previous.tobytes(), stride)
    else:
        raise ValueError(f"unknown PNG filter type {kind}")
    return np.frombuffer(bytes(row), dtype=np.uint8)


def decode_rgb(data: bytes) -> npt.NDArray[np.uint8]:
    """The image as a (height, width, 3) array of RGB bytes; alpha is dropped."""
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG file")
    position, header, compressed = len(_SIGNATURE), b"", bytearray()
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            compressed.extend(body)
        position += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour_type not in _CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}")
    stride = _CHANNELS[colour_type]
    raw = zlib.decompress(bytes(compressed))
    row_bytes = width * stride
    previous = np.zeros(row_bytes, dtype=np.uint8)
    rows = []
    for line in range(height):
        start = line * (row_bytes + 1)
        previous = _unfilter(raw[start], raw[start + 1 : start + 1 + row_bytes], previous, stride)
        rows.append(previous)
    return np.stack(rows).reshape(height, width, stride)[:, :, :3]


def count_colour(image: npt.NDArray[np.uint8], colour: str) -> int:
    """Pixels of exactly `colour` ("#rrggbb")."""
    wanted = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)
    return int(np.count_nonzero(np.all(image == wanted, axis=2)))
