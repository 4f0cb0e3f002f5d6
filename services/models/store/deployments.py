"""Rows of the ``deployments``, ``deployment_traffic`` and ``traffic_history`` tables."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.models import errors, filtering, names
from services.models.domain import Deployment, DeploymentSpec, DeploymentStatus, TrafficTarget
from services.models.enums import DeploymentState
from services.models.store import query
from services.models.store.codec import spec_from_json, spec_to_json, status_from_json, status_to_json
from services.models.store.notifications import announce_change
from services.models.store.tables import deployment_traffic, deployments, traffic_history
from services.runtime.errors import AlreadyExists

FILTER_FIELDS = {
    "model": filtering.FieldSpec("model"),
    "state": filtering.FieldSpec("enum", DeploymentState, "DEPLOYMENT_STATE_"),
    "labels": filtering.FieldSpec("labels"),
}
_FILTER_COLUMNS = {
    "model": deployments.c.model_id,
    "state": deployments.c.state,
    "labels": deployments.c.labels,
}


def _etag(deployment_id: str, generation: int, create_time: datetime) -> str:
    seed = f"{deployment_id}\x1f{generation}\x1f{create_time.isoformat()}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def _key(tenant: str, deployment_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(deployments.c.tenant == tenant, deployments.c.deployment_id == deployment_id)


def _traffic(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[TrafficTarget]]:
    found: dict[tuple[str, str], list[TrafficTarget]] = {key: [] for key in keys}
    if not keys:
        return found
    rows = session.execute(
        sa.select(deployment_traffic)
        .where(sa.tuple_(deployment_traffic.c.tenant, deployment_traffic.c.deployment_id).in_(list(keys)))
        .order_by(deployment_traffic.c.position)
    )
    for row in rows:
        found[(row.tenant, row.deployment_id)].append(TrafficTarget(int(row.version), int(row.percent)))
    return found


def _deployments(session: Session, rows: Sequence[sa.Row[Any]]) -> list[Deployment]:
    traffic = _traffic(session, [(row.tenant, row.deployment_id) for row in rows])
    return [
        Deployment(
            deployment_id=row.deployment_id,
            spec=spec_from_json(
                row.spec,
                model_id=row.model_id,
                display_name=row.display_name,
                labels=row.labels,
                traffic=traffic[(row.tenant, row.deployment_id)],
            ),
            status=status_from_json(row.status, DeploymentState(row.state)),
            generation=int(row.generation),
            create_time=row.create_time,
            update_time=row.update_time,
            etag=_etag(row.deployment_id, int(row.generation), row.create_time),
        )
        for row in rows
    ]


def find(session: Session, tenant: str, deployment_id: str, *, lock: bool = False) -> Deployment | None:
    statement = sa.select(deployments).where(_key(tenant, deployment_id))
    if lock:
        statement = statement.with_for_update()
    row = session.execute(statement).one_or_none()
    return None if row is None else _deployments(session, [row])[0]


def get(session: Session, tenant: str, deployment_id: str, *, lock: bool = False) -> Deployment:
    deployment = find(session, tenant, deployment_id, lock=lock)
    if deployment is None:
        raise errors.deployment_not_found(deployment_id)
    return deployment


def _write_traffic(session: Session, tenant: str, deployment_id: str, spec: DeploymentSpec) -> None:
    session.execute(
        sa.delete(deployment_traffic).where(
            deployment_traffic.c.tenant == tenant, deployment_traffic.c.deployment_id == deployment_id
        )
    )
    if spec.traffic:
        session.execute(
            sa.insert(deployment_traffic),
            [
                {
                    "tenant": tenant,
                    "deployment_id": deployment_id,
                    "position": position,
                    "model_id": spec.model_id,
                    "version": target.version,
                    "percent": target.percent,
                }
                for position, target in enumerate(spec.traffic)
            ],
        )


def _spec_columns(spec: DeploymentSpec) -> dict[str, Any]:
    return {
        "model_id": spec.model_id,
        "display_name": spec.display_name,
        "labels": dict(spec.labels),
        "spec": spec_to_json(spec),
    }


def insert(
    session: Session, tenant: str, deployment_id: str, spec: DeploymentSpec, now: datetime
) -> Deployment:
    """Store a new deployment at generation 1; ALREADY_EXISTS when the id is taken in the tenant."""
    name = names.deployment_name(deployment_id)
    exists = AlreadyExists(
        f"{name} already exists", reason="DEPLOYMENT_ALREADY_EXISTS", metadata={"resource": name}
    )
    if find(session, tenant, deployment_id) is not None:
        raise exists
    try:
        session.execute(
            sa.insert(deployments).values(
                tenant=tenant,
                deployment_id=deployment_id,
                generation=1,
                state=DeploymentState.PENDING.value,
                status=status_to_json(DeploymentStatus()),
                create_time=now,
                update_time=now,
                **_spec_columns(spec),
            )
        )
    except IntegrityError as error:
        raise exists from error
    _write_traffic(session, tenant, deployment_id, spec)
    announce_change(session)
    return get(session, tenant, deployment_id)


def update_spec(
    session: Session, tenant: str, deployment_id: str, spec: DeploymentSpec, generation: int, now: datetime
) -> Deployment:
    session.execute(
        sa.update(deployments)
        .where(_key(tenant, deployment_id))
        # The last report describes the previous spec: pending until the inference service reports on it.
        .values(
            generation=generation, update_time=now, state=DeploymentState.PENDING.value, **_spec_columns(spec)
        )
    )
    _write_traffic(session, tenant, deployment_id, spec)
    announce_change(session)
    return get(session, tenant, deployment_id)


def set_status(session: Session, tenant: str, deployment_id: str, status: DeploymentStatus) -> Deployment:
    session.execute(
        sa.update(deployments)
        .where(_key(tenant, deployment_id))
        .values(state=status.state.value, status=status_to_json(status))
    )
    return get(session, tenant, deployment_id)


def delete(session: Session, tenant: str, deployment_id: str) -> None:
    for table in (traffic_history, deployment_traffic):
        session.execute(
            sa.delete(table).where(table.c.tenant == tenant, table.c.deployment_id == deployment_id)
        )
    session.execute(sa.delete(deployments).where(_key(tenant, deployment_id)))
    announce_change(session)


def page(
    session: Session,
    tenant: str,
    condition: filtering.Node | None,
    after: query.SortKey | None,
    limit: int,
) -> tuple[list[Deployment], query.SortKey | None]:
    """One page of the tenant's deployments matching the filter, by id."""
    rows, last = query.page(
        session,
        deployments,
        sa.and_(deployments.c.tenant == tenant, query.where(condition, _FILTER_COLUMNS)),
        [(deployments.c.deployment_id, False)],
        after,
        limit,
    )
    return _deployments(session, rows), last


def everything(session: Session, tenant: str | None) -> list[tuple[str, Deployment]]:
    """``(tenant, deployment)`` of every deployment of ``tenant``, or of all tenants when None."""
    statement = sa.select(deployments).order_by(deployments.c.tenant, deployments.c.deployment_id)
    if tenant is not None:
        statement = statement.where(deployments.c.tenant == tenant)
    rows = session.execute(statement).all()
    return [
        (row.tenant, deployment) for row, deployment in zip(rows, _deployments(session, rows), strict=True)
    ]


def markers(session: Session) -> dict[tuple[str, str], tuple[datetime, int]]:
    """``(tenant, deployment_id) -> (create_time, generation)`` of every deployment of every tenant.

    Cheap enough to read every fraction of a second: a spec change bumps the
    generation and a re-created deployment has a new create time.
    """
    rows = session.execute(
        sa.select(
            deployments.c.tenant,
            deployments.c.deployment_id,
            deployments.c.create_time,
            deployments.c.generation,
        )
    )
    return {(row.tenant, row.deployment_id): (row.create_time, int(row.generation)) for row in rows}


_KEYS_PER_QUERY = 500


def find_many(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Deployment]:
    """The deployments of ``(tenant, deployment_id)`` keys; a key that does not exist is left out."""
    found: dict[tuple[str, str], Deployment] = {}
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = list(keys[start : start + _KEYS_PER_QUERY])
        rows = session.execute(
            sa.select(deployments).where(
                sa.tuple_(deployments.c.tenant, deployments.c.deployment_id).in_(chunk)
            )
        ).all()
        for row, deployment in zip(rows, _deployments(session, rows), strict=True):
            found[(row.tenant, row.deployment_id)] = deployment
    return found


def using_model(session: Session, tenant: str, model_id: str, version: int | None = None) -> list[str]:
    """Ids of the deployments serving the model (or one version of it), locked until commit."""
    if version is None:
        statement = sa.select(deployments.c.deployment_id).where(
            deployments.c.tenant == tenant, deployments.c.model_id == model_id
        )
    else:
        statement = (
            sa.select(deployments.c.deployment_id)
            .join(
                deployment_traffic,
                sa.and_(
                    deployment_traffic.c.tenant == deployments.c.tenant,
                    deployment_traffic.c.deployment_id == deployments.c.deployment_id,
                ),
            )
            .where(
                deployment_traffic.c.tenant == tenant,
                deployment_traffic.c.model_id == model_id,
                deployment_traffic.c.version == version,
            )
        )
    return sorted(set(session.execute(statement.with_for_update(of=deployments)).scalars()))


def push_history(
    session: Session, tenant: str, deployment_id: str, traffic: Sequence[TrafficTarget], now: datetime
) -> None:
    """Append ``traffic`` as the deployment's newest split."""
    newest = session.execute(
        sa.select(sa.func.max(traffic_history.c.seq)).where(
            traffic_history.c.tenant == tenant, traffic_history.c.deployment_id == deployment_id
        )
    ).scalar_one()
    session.execute(
        sa.insert(traffic_history).values(
            tenant=tenant,
            deployment_id=deployment_id,
            seq=(newest or 0) + 1,
            traffic=[{"version": t.version, "percent": t.percent} for t in traffic],
            create_time=now,
        )
    )


def reset_history(
    session: Session, tenant: str, deployment_id: str, traffic: Sequence[TrafficTarget], now: datetime
) -> None:
    """Forget the deployment's earlier splits: ``traffic`` becomes its only one."""
    session.execute(
        sa.delete(traffic_history).where(
            traffic_history.c.tenant == tenant, traffic_history.c.deployment_id == deployment_id
        )
    )
    push_history(session, tenant, deployment_id, traffic, now)


def pop_history(session: Session, tenant: str, deployment_id: str) -> tuple[TrafficTarget, ...] | None:
    """Drop the newest split and return the one before it; None (nothing dropped) when there is none."""
    rows = session.execute(
        sa.select(traffic_history.c.seq, traffic_history.c.traffic)
        .where(traffic_history.c.tenant == tenant, traffic_history.c.deployment_id == deployment_id)
        .order_by(traffic_history.c.seq.desc())
        .limit(2)
    ).all()
    if len(rows) < 2:
        return None
    session.execute(
        sa.delete(traffic_history).where(
            traffic_history.c.tenant == tenant,
            traffic_history.c.deployment_id == deployment_id,
            traffic_history.c.seq == rows[0].seq,
        )
    )
    return tuple(TrafficTarget(int(item["version"]), int(item["percent"])) for item in rows[1].traffic)
