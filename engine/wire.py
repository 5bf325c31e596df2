"""Request bytes that protobuf cannot parse: which field is at fault, and why.

The protobuf runtime (upb) only says "Wire format was corrupt" or "String field had bad
UTF-8". To tell a caller *which* field to fix, :func:`locate_wire_problem` walks the
bytes with the message's descriptor: tags, lengths, nested messages and the UTF-8 of
``string`` fields (proto3 requires it). The runtime alone decides whether bytes parse;
this walk only names the place, and when it finds nothing (a problem it does not model)
the caller reports the message as a whole.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

_VARINT, _FIXED64, _LENGTH, _GROUP_START, _GROUP_END, _FIXED32 = range(6)
_MAX_FIELD_NUMBER = 2**29 - 1
_MAX_DEPTH = 100
"""protobuf's default recursion limit: deeper nesting is refused."""


class _WireProblem(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(problem)
        self.path, self.problem = path, problem


def locate_wire_problem(descriptor: Descriptor, data: bytes) -> tuple[str, str] | None:
    """``(field path, problem)`` of the first thing that makes ``data`` an invalid
    ``descriptor`` message (path ``""``: the message itself), or None if none is found."""
    try:
        _walk(descriptor, data, 0, len(data), "", 0)
    except _WireProblem as found:
        return found.path, found.problem
    return None


def _varint(data: bytes, pos: int, end: int, path: str) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end:
            raise _WireProblem(path, "ends inside a number (truncated)")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise _WireProblem(path, "has a number longer than 10 bytes")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _walk(
    descriptor: Descriptor | None,
    data: bytes,
    pos: int,
    end: int,
    path: str,
    depth: int,
    group: int | None = None,
) -> int:
    """Check the fields in ``data[pos:end]``; return where they end. ``descriptor`` None:
    fields of an unknown group; ``group``: the number of the group being read (its end
    marker ends the walk)."""
    if depth > _MAX_DEPTH:
        raise _WireProblem(path, f"is nested more than {_MAX_DEPTH} levels deep")
    seen: dict[int, int] = {}
    while pos < end:
        key, pos = _varint(data, pos, end, path)
        number, wire_type = key >> 3, key & 7
        if not 0 < number <= _MAX_FIELD_NUMBER:
            raise _WireProblem(path, f"has an invalid field number {number} (corrupt bytes)")
        field = descriptor.fields_by_number.get(number) if descriptor else None
        where = path
        if field is not None:
            where = _join(path, field.name)
            if field.is_repeated:
                index = seen[number] = seen.get(number, -1) + 1
                where = f"{where}[{index}]"
        if wire_type == _VARINT:
            _, pos = _varint(data, pos, end, where)
        elif wire_type in (_FIXED64, _FIXED32):
            pos += 8 if wire_type == _FIXED64 else 4
            if pos > end:
                raise _WireProblem(where, "ends inside a fixed-size number (truncated)")
        elif wire_type == _LENGTH:
            length, pos = _varint(data, pos, end, where)
            if pos + length > end:
                raise _WireProblem(where, "is longer than the bytes that hold it (truncated)")
            if field is not None:
                _check_value(field, data, pos, pos + length, where, depth)
            pos += length
        elif wire_type == _GROUP_START:
            pos = _walk(None, data, pos, end, where, depth + 1, group=number)
        elif wire_type == _GROUP_END:
            if number != group:
                raise _WireProblem(path, "has a group end without its start (corrupt bytes)")
            return pos
        else:
            raise _WireProblem(where, f"has an invalid wire type {wire_type} (corrupt bytes)")
    if group is not None:
        raise _WireProblem(path, "has a group without its end (truncated)")
    return pos


def _check_value(
    field: FieldDescriptor, data: bytes, pos: int, end: int, path: str, depth: int
) -> None:
    """A length-delimited value of a known field: a message to walk, or a string to check."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        _walk(field.message_type, data, pos, end, path, depth + 1)
    elif field.type == FieldDescriptor.TYPE_STRING:
        try:
            data[pos:end].decode("utf-8")
        except UnicodeDecodeError:
            raise _WireProblem(path, "is not valid UTF-8 (a string field must be)") from None


__all__ = ["locate_wire_problem"]
