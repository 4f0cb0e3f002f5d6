"""Changing a deployment's spec inside a write transaction, with its history and audit trail.

Shared by the deployment methods and by forced deletes of models and
versions, which take the deleted versions out of every split that serves
them.  Each function runs inside the caller's transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.models import names
from services.models.domain import Deployment, DeploymentSpec, TrafficTarget
from services.models.enums import AuditAction
from services.models.store import audit, deployments


def traffic_json(model_id: str, traffic: Sequence[TrafficTarget]) -> dict[str, Any]:
    """A split as the audit log records it, with full version names."""
    return {
        "traffic": [
            {"version": names.version_name(model_id, target.version), "percent": target.percent}
            for target in traffic
        ]
    }


def write_spec(
    session: Session,
    tenant: str,
    current: Deployment,
    spec: DeploymentSpec,
    *,
    actor: str,
    now: datetime,
    action: AuditAction = AuditAction.TRAFFIC_CHANGED,
    record_history: bool = True,
) -> Deployment | None:
    """Store ``spec`` as the next generation; None when it equals the current spec (nothing changes).

    A change of the split is appended to the history (unless it is a
    rollback, which removed the newest entry itself) and audited.
    """
    if _in_version_order(spec.traffic) == _in_version_order(current.spec.traffic):
        # The order of a split's targets means nothing: listed in another order, it is the same split.
        spec = dataclasses.replace(spec, traffic=current.spec.traffic)
    if spec == current.spec:
        return None
    updated = deployments.update_spec(
        session, tenant, current.deployment_id, spec, current.generation + 1, now
    )
    if spec.traffic != current.spec.traffic:
        if record_history:
            deployments.push_history(session, tenant, current.deployment_id, spec.traffic, now)
        audit.record(
            session,
            tenant,
            action=action,
            resource=names.deployment_name(current.deployment_id),
            actor=actor,
            time=now,
            before=traffic_json(current.spec.model_id, current.spec.traffic),
            after=traffic_json(spec.model_id, spec.traffic),
        )
    return updated


def detach_versions(
    session: Session,
    tenant: str,
    model_id: str,
    versions: Collection[int] | None,
    *,
    actor: str,
    now: datetime,
) -> list[Deployment]:
    """Take ``versions`` (every version when None) of the model out of all splits; the changed deployments.

    Used by forced deletes: the remaining targets keep their percentages, so
    a split may no longer sum to 100 until someone updates it.
    """
    changed: list[Deployment] = []
    for deployment_id in deployments.using_model(session, tenant, model_id):
        current = deployments.get(session, tenant, deployment_id, lock=True)
        remaining = tuple(
            target
            for target in current.spec.traffic
            if versions is not None and target.version not in versions
        )
        updated = write_spec(
            session,
            tenant,
            current,
            dataclasses.replace(current.spec, traffic=remaining),
            actor=actor,
            now=now,
        )
        if updated is not None:
            changed.append(updated)
    return changed


def _in_version_order(traffic: Sequence[TrafficTarget]) -> list[tuple[int, int]]:
    return sorted((target.version, target.percent) for target in traffic)
