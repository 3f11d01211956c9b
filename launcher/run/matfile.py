"""A MAT-file (level 5) encoder for the structures Neo's MATLAB IO builds.

Why hand-written: ``NeoMatlabIO.write_block`` ends in ``scipy.io.savemat``, whose
pure-Python writer spends about 3 s on the default run's recording (56,000 small
elements, 14 per spike train), a sixth of a whole run and most of what a run adds
to the simulation itself. This encoder covers only what Neo's structures hold
(structs, cells of structs, strings, numeric arrays and scalars), writes the bytes
``savemat(..., oned_as="row")`` writes (tests/test_recording.py compares them byte
for byte and reads the file back with Neo) about ten times faster, and raises
:class:`NotEncodable` for anything else, which the caller then gives to scipy.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from collections.abc import Mapping as AnyMapping
from typing import Any, Mapping

import numpy as np


class NotEncodable(Exception):
    """A value beyond this encoder: write the file with scipy instead."""


_MI_INT8, _MI_INT32, _MI_UINT32, _MI_MATRIX, _MI_UTF8 = 1, 5, 6, 14, 16
_MX_CELL, _MX_STRUCT, _MX_CHAR = 1, 2, 4
#: numpy dtype (without byte order) -> (MAT data type, MAT array class); booleans are logical uint8
_MAT_NUMERIC = {
    "f8": (9, 6), "f4": (7, 7), "i8": (12, 14), "i4": (5, 12), "i2": (3, 10), "i1": (1, 8),
    "u8": (13, 15), "u4": (6, 13), "u2": (4, 11), "u1": (2, 9), "b1": (2, 9),
}


def mat5_file(variables: Mapping[str, Any]) -> bytes:
    """A whole MAT-file (level 5, uncompressed): the 128-byte header, then each variable."""
    if sys.byteorder != "little":
        raise NotEncodable("big-endian machine")
    text = f"MATLAB 5.0 MAT-file Platform: {os.name}, Created on: {time.asctime()}".encode("ascii")
    parts = [text[:116].ljust(116, b"\0"), bytes(8), struct.pack("<H", 0x0100), b"IM"]
    memo: dict = {}
    parts += [_mat5_value(value, name.encode("latin1"), memo) for name, value in variables.items()]
    return b"".join(parts)


def _mat5_element(mtype: int, data: bytes) -> bytes:
    n = len(data)
    if n <= 4:  # small data element: tag and data in 8 bytes
        return struct.pack("<I", n << 16 | mtype) + data.ljust(4, b"\0")
    return struct.pack("<II", mtype, n) + data + bytes(-n % 8)


def _mat5_matrix(mclass: int, shape: tuple[int, ...], body: list[bytes], name: bytes = b"", logical: bool = False) -> bytes:
    content = b"".join([
        struct.pack("<IIII", _MI_UINT32, 8, mclass | logical << 9, 0),  # array flags
        _mat5_element(_MI_INT32, struct.pack(f"<{len(shape)}i", *shape)),
        _mat5_element(_MI_INT8, name),
        *body,
    ])
    return struct.pack("<II", _MI_MATRIX, len(content)) + content


def _mat5_value(value: Any, name: bytes = b"", memo: dict | None = None) -> bytes:
    """One variable (``name``) or element of a struct or cell (no name).

    ``memo`` holds the encoding of strings, scalars and struct headers met
    before in the same file: the spike trains repeat them (units, t_start,
    t_stop, population, field names) and their encoding is most of the time.
    """
    memo = {} if memo is None else memo
    if isinstance(value, str):
        key: Any = ("str", value)
        if name or key not in memo:
            if "\0" in value:
                raise NotEncodable("NUL in a string")
            shape = (1, len(value)) if value else (0, 0)
            encoded = _mat5_matrix(_MX_CHAR, shape, [_mat5_element(_MI_UTF8, value.encode("utf-8"))], name)
            if name:
                return encoded
            memo[key] = encoded
        return memo[key]
    if isinstance(value, AnyMapping):
        fields = tuple(value)
        key = ("fields", fields)
        if key not in memo:
            memo[key] = _mat5_struct_head(fields)
        return _mat5_matrix(_MX_STRUCT, (1, 1), [memo[key], *(_mat5_value(value[f], memo=memo) for f in fields)], name)
    if isinstance(value, list) and value and all(isinstance(v, AnyMapping) for v in value):
        return _mat5_matrix(_MX_CELL, (1, len(value)), [_mat5_value(v, memo=memo) for v in value], name)
    if not isinstance(value, (np.ndarray, np.generic, int, float, list)):
        raise NotEncodable(f"type {type(value).__name__}")
    array = np.asanyarray(value)
    key = ("scalar", array.dtype.str, array.tobytes()) if array.ndim == 0 and not name else None
    if key in memo:
        return memo[key]
    dtype = array.dtype.str[1:]
    if dtype not in _MAT_NUMERIC:
        raise NotEncodable(f"dtype {array.dtype}")
    mtype, mclass = _MAT_NUMERIC[dtype]
    if array.ndim == 0:
        shape = (1, 1)
    elif array.ndim == 1:
        shape = (1, array.shape[0]) if array.shape[0] else (0, 0)
    else:
        shape = array.shape
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    encoded = _mat5_matrix(mclass, shape, [_mat5_element(mtype, array.tobytes(order="F"))], name, logical=dtype == "b1")
    if key is not None:
        memo[key] = encoded
    return encoded


def _mat5_struct_head(fields: tuple[Any, ...]) -> bytes:
    """What follows a 1x1 struct's header: the length and the names of its fields."""
    if not all(isinstance(f, str) and f.isascii() and f.isidentifier() and f[0] != "_" for f in fields):
        raise NotEncodable(f"field names {fields}")
    if not fields:  # an empty struct, as scipy writes it
        return _mat5_element(_MI_INT32, struct.pack("<i", 1)) + _mat5_element(_MI_INT8, b"")
    length = max(len(f) for f in fields) + 1
    if length > 32:
        raise NotEncodable("field name longer than 31 characters")
    names = b"".join(f.encode("ascii").ljust(length, b"\0") for f in fields)
    return _mat5_element(_MI_INT32, struct.pack("<i", length)) + _mat5_element(_MI_INT8, names)
