"""Command output: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

# Getters take the concrete message type of their table.
Column = tuple[str, Callable[[Any], object]]


def as_json(messages: Sequence[Message] | Message) -> str:
    if isinstance(messages, Message):
        return json.dumps(MessageToDict(messages), indent=2)
    return json.dumps([MessageToDict(m) for m in messages], indent=2)


def as_json_with(message: Message, key: str, children: Sequence[Message]) -> str:
    """A message with a list of related messages under ``key``, which the message has no field for."""
    return json.dumps({**MessageToDict(message), key: [MessageToDict(c) for c in children]}, indent=2)


def as_table(messages: Sequence[Message], columns: Sequence[Column]) -> str:
    return as_rows([name for name, _ in columns], [[getter(m) for _, getter in columns] for m in messages])


def as_rows(headers: Sequence[str], cells: Sequence[Sequence[object]]) -> str:
    """Aligned columns under upper-case headers."""
    rows = [[str(cell) for cell in row] for row in cells]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def emit(messages: Sequence[Message] | Message, columns: Sequence[Column], output: str) -> None:
    if output == "json":
        print(as_json(messages))
    else:
        print(as_table([messages] if isinstance(messages, Message) else messages, columns))


def emit_deleted(name: str, output: str) -> None:
    """What a delete prints: the call answers nothing, so this names what is gone."""
    if output == "json":
        print(json.dumps({"name": name, "deleted": True}, indent=2))
    else:
        print(f"deleted {name}")
