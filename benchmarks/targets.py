"""The issues' performance targets, checked against the rows of one run.

Absolute targets hold for the 2-core machine the platform is developed on;
the relative ones (a share of ONNX Runtime in-process, a share of direct
gRPC) compare rows of the same run, so they hold on any machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.reference import in_process_target
from benchmarks.stats import Row, RowKey, by_key

IN_PROCESS_BATCH_32 = in_process_target(32)


@dataclass(frozen=True)
class TargetCheck:
    """One target and what the run reached."""

    target: str
    reached: str
    met: bool | None
    """None when the run lacks the rows the target needs."""


@dataclass(frozen=True)
class _Target:
    description: str
    check: Callable[[dict[RowKey, Row]], tuple[str, bool] | None]


def _row(rows: dict[RowKey, Row], model: str, target: str, concurrency: int) -> Row | None:
    return rows.get((model, target, concurrency))


def _throughput(model: str, target: str, floor: float, unit: str) -> _Target:
    def check(rows: dict[RowKey, Row]) -> tuple[str, bool] | None:
        row = _row(rows, model, target, 32)
        if row is None:
            return None
        value = row.inferences_per_second
        return f"{value:,.0f} {unit}", value >= floor

    return _Target(f"{model} c32, {target}: at least {floor:,.0f} {unit}", check)


def _share_of_in_process(model: str, target: str, share: float) -> _Target:
    def check(rows: dict[RowKey, Row]) -> tuple[str, bool] | None:
        row, reference = _row(rows, model, target, 32), _row(rows, model, IN_PROCESS_BATCH_32, 1)
        if row is None or reference is None or not reference.inferences_per_second:
            return None
        reached = row.inferences_per_second / reference.inferences_per_second
        return (
            f"{reached:.0%} ({reference.inferences_per_second:,.0f} inferences/s in-process)",
            reached >= share,
        )

    return _Target(f"{model} c32, {target}: at least {share:.0%} of in-process batch 32", check)


def _p50_under(model: str, target: str, limit_ms: float) -> _Target:
    def check(rows: dict[RowKey, Row]) -> tuple[str, bool] | None:
        row = _row(rows, model, target, 1)
        if row is None:
            return None
        return f"{row.p50_ms:.3f} ms", row.p50_ms < limit_ms

    return _Target(f"{model} c1, {target}: p50 under {limit_ms} ms", check)


def _share_of(model: str, concurrency: int, target: str, reference: str, share: float) -> _Target:
    def check(rows: dict[RowKey, Row]) -> tuple[str, bool] | None:
        row, base = _row(rows, model, target, concurrency), _row(rows, model, reference, concurrency)
        if row is None or base is None or not base.requests_per_second:
            return None
        reached = row.requests_per_second / base.requests_per_second
        return f"{reached:.0%}", reached >= share

    return _Target(f"{model} c{concurrency}, {target}: at least {share:.0%} of {reference}", check)


def targets(direct: str, gateway: str) -> list[_Target]:
    """Issue 3's targets for ``direct`` gRPC and issue 4's for gRPC through ``gateway``."""
    return [
        _throughput("heavy_mlp", direct, 4000, "inferences/s"),
        _share_of_in_process("heavy_mlp", direct, 0.20),
        _throughput("tiny_mlp", direct, 6000, "requests/s"),
        _p50_under("tiny_mlp", direct, 0.35),
        *(
            _share_of(model, concurrency, gateway, direct, 0.80)
            for model in ("tiny_mlp", "heavy_mlp")
            for concurrency in (1, 32)
        ),
    ]


def check_targets(rows: Sequence[Row], direct: str, gateway: str) -> list[TargetCheck]:
    """Every target against ``rows``: met, missed, or not measured."""
    keyed = by_key(rows)
    checks = []
    for target in targets(direct, gateway):
        outcome = target.check(keyed)
        if outcome is None:
            checks.append(TargetCheck(target.description, "not measured", None))
        else:
            checks.append(TargetCheck(target.description, *outcome))
    return checks


def targets_table(checks: Sequence[TargetCheck]) -> str:
    width = max(len(c.target) for c in checks)
    lines = [f"{'target':<{width}}  {'result':<8}  reached", "-" * (width + 30)]
    for check in checks:
        verdict = "-" if check.met is None else "met" if check.met else "MISSED"
        lines.append(f"{check.target:<{width}}  {verdict:<8}  {check.reached}")
    return "\n".join(lines)
