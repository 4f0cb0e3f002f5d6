"""The benchmark's verdict on the issues' performance targets, from the rows of one run."""

from __future__ import annotations

from benchmarks.reference import in_process_target
from benchmarks.stats import Row
from benchmarks.targets import check_targets, targets_table

DIRECT, GATEWAY = "direct", "gateway"


def _row(
    model: str, target: str, concurrency: int, per_second: float, p50_ms: float = 1.0, batch: int = 1
) -> Row:
    return Row(
        model=model,
        target=target,
        concurrency=concurrency,
        requests=round(per_second * 10 / batch),
        seconds=10.0,
        p50_ms=p50_ms,
        p99_ms=p50_ms * 3,
        inferences_per_request=batch,
    )


def _verdicts(rows: list[Row]) -> dict[str, bool | None]:
    return {check.target: check.met for check in check_targets(rows, DIRECT, GATEWAY)}


def test_each_target_is_met_missed_or_not_measured_from_the_rows_of_the_run() -> None:
    rows = [
        _row("heavy_mlp", in_process_target(32), 1, 40_000, batch=32),
        _row("heavy_mlp", DIRECT, 32, 4_100),
        _row("tiny_mlp", DIRECT, 32, 6_700),
        _row("tiny_mlp", DIRECT, 1, 2_700, p50_ms=0.34),
        _row("tiny_mlp", GATEWAY, 1, 1_100),
        _row("tiny_mlp", GATEWAY, 32, 5_400),
        _row("heavy_mlp", DIRECT, 1, 1_300),
    ]
    assert _verdicts(rows) == {
        "heavy_mlp c32, direct: at least 4,000 inferences/s": True,
        "heavy_mlp c32, direct: at least 20% of in-process batch 32": False,  # 10 %
        "tiny_mlp c32, direct: at least 6,000 requests/s": True,
        "tiny_mlp c1, direct: p50 under 0.35 ms": True,
        "tiny_mlp c1, gateway: at least 80% of direct": False,  # 41 %
        "tiny_mlp c32, gateway: at least 80% of direct": True,  # 81 %
        "heavy_mlp c1, gateway: at least 80% of direct": None,  # no gateway row
        "heavy_mlp c32, gateway: at least 80% of direct": None,
    }


def test_the_table_says_what_each_target_reached() -> None:
    rows = [
        _row("heavy_mlp", in_process_target(32), 1, 40_000, batch=32),
        _row("heavy_mlp", DIRECT, 32, 4_100),
    ]
    lines = targets_table(check_targets(rows, DIRECT, GATEWAY)).splitlines()
    share = next(line for line in lines if "20% of in-process" in line)
    assert "MISSED" in share
    assert "10% (40,000 inferences/s in-process)" in share
    p50 = next(line for line in lines if "p50 under" in line)
    assert p50.split()[-2:] == ["not", "measured"]
