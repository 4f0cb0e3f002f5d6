"""Options of gRPC's C core, which it reads from the environment once, when ``grpc`` is first imported.

A service's ``__main__`` imports this module before anything imports ``grpc``;
importing it afterwards changes nothing, which :data:`APPLIED` tells.

The one option set here: the classic TCP listener instead of the EventEngine
one (``GRPC_EXPERIMENTS=-event_engine_listener``).  With the EventEngine
listener, every read and write of a call is done by the engine's own threads
and handed to the completion queue that the asyncio server polls, two thread
hops per call; the classic listener reads and writes on the polling thread.
On a 2-core machine it took a bare asyncio server answering ModelInfer from
a mean of 391 us per call to 262 us at concurrency 1, with the same
throughput at concurrency 32 (``benchmarks/README.md``).  An operator's own
``GRPC_EXPERIMENTS`` wins.
"""

from __future__ import annotations

import os
import sys

EXPERIMENTS_VARIABLE = "GRPC_EXPERIMENTS"
CLASSIC_LISTENER = "-event_engine_listener"


def _apply() -> bool:
    if "grpc" in sys.modules:
        return False
    os.environ.setdefault(EXPERIMENTS_VARIABLE, CLASSIC_LISTENER)
    return True


APPLIED = _apply()
"""Whether this import came before ``grpc``'s, so that the core reads the options."""
