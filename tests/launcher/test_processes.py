"""The launcher relays its children's output: whole lines, prefixed, service logs made readable."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from services.launcher import processes
from services.launcher.processes import Child


async def _relay(*chunks: bytes) -> list[str]:
    written: list[str] = []
    stream = asyncio.StreamReader()
    for chunk in chunks:
        stream.feed_data(chunk)
    stream.feed_eof()
    child = Child(name="gateway", process=cast(Any, None))
    await processes._pump(child, stream, written.append, width=8)
    return written


async def test_lines_split_across_reads_arrive_whole_and_in_order() -> None:
    access = json.dumps({"tenant": "acme", "status": 200})
    written = await _relay(access[:10].encode(), (access[10:] + "\n" + access + "\n").encode(), b"tail")

    lines = "\n".join(written).split("\n")
    assert lines == [f"gateway  | {access}", f"gateway  | {access}", "gateway  | tail"]


async def test_a_service_log_line_is_shortened_and_its_serving_port_noted() -> None:
    record = {"level": "INFO", "message": "serving", "event": "serving", "port": 50051, "time": "t"}
    stream = asyncio.StreamReader()
    stream.feed_data((json.dumps(record) + "\n").encode())
    stream.feed_eof()
    child = Child(name="models", process=cast(Any, None))
    written: list[str] = []

    await processes._pump(child, stream, written.append, width=6)

    assert written == ['models | INFO    serving {"event":"serving","port":50051}']
    assert child.serving_port.result() == 50051


async def test_a_line_without_an_end_is_passed_on_in_pieces() -> None:
    huge = b"x" * (processes._LONGEST_LINE_BYTES + 10)
    written = await _relay(huge + b"x" * processes._LONGEST_LINE_BYTES)
    pieces = [line.removeprefix("gateway  | ") for line in written]
    assert len(pieces) >= 2, "passed on before the end of the stream"
    assert "".join(pieces) == (huge + b"x" * processes._LONGEST_LINE_BYTES).decode()
