"""The benchmark's CPU accounting: per role, over a process tree, per request."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from benchmarks.process_cpu import CpuSnapshot, cpu_by_role, cpu_seconds

_BUSY = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def test_a_child_is_counted_under_the_role_its_command_line_names() -> None:
    before = CpuSnapshot.take(os.getpid())
    # The marker in the command line gives the child its role, as `-m services.inference` does.
    code = _BUSY.format(seconds=0.3) + "# services.inference\ntime.sleep(5)\n"
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 10
        while cpu_seconds(child.pid) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        after = CpuSnapshot.take(os.getpid())
    finally:
        child.kill()
        child.wait()

    spent = after.seconds["inference"] - before.seconds.get("inference", 0.0)
    assert 0.25 <= spent < 2.0
    per_request = before.per_request_us(after, requests=1000)
    assert per_request["inference"] == spent / 1000 * 1e6


def test_finished_load_generators_count_as_the_load_generator() -> None:
    before = CpuSnapshot.take(os.getpid())
    subprocess.run([sys.executable, "-c", _BUSY.format(seconds=0.2)], check=True)
    after = CpuSnapshot.take(os.getpid())
    assert after.seconds["load generator"] - before.seconds["load generator"] >= 0.15


def test_a_gone_process_counts_nothing() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert cpu_seconds(child.pid) == 0.0
    assert cpu_by_role(child.pid) == {"launcher": 0.0}
