"""Deployments: create, read, list, update, delete, roll back, and record reported status.

Every spec change is one transaction that bumps the generation, appends a
changed split to the history and audits it; the change is published to
watchers after it commits.  Etag mismatches are ABORTED (see
:func:`services.models.errors.etag_mismatch`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.orm import Session

from services.models import errors, filtering, names, paging
from services.models.clock import Clock, utcnow
from services.models.deployment_spec import SPEC_FIELDS, build_spec, check_references
from services.models.domain import Deployment, DeploymentDraft, Page, StatusReport, TrafficTarget
from services.models.enums import AuditAction, WatchEventType
from services.models.masks import resolve_mask
from services.models.status import REPORT_LIFETIME, next_status, without_expired_reports
from services.models.store import audit, deployments
from services.models.store import models as model_rows
from services.models.store.query import SortKey
from services.models.traffic import traffic_json, write_spec
from services.models.validation import Violations, check_count, check_text, is_label_key
from services.models.watch import WatchHub
from services.runtime.auth import Role, current_identity
from services.runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.runtime.store import Database

_IMMUTABLE = (
    "name",
    "model",
    "state",
    "conditions",
    "loaded_versions",
    "generation",
    "create_time",
    "update_time",
)
_IMMUTABLE_ETAG = ("etag",)
MAX_REPORTED_ITEMS = 256
MAX_REPORTED_PROVIDERS = 16
MAX_REPORTED_NAME = 256
"""Condition types and reasons, versions, devices, providers and the reporter."""
MAX_CONDITION_MESSAGE = 4096


class Deployments:
    """The deployment methods (except the watch stream and the audit log, see :mod:`.feeds`)."""

    def __init__(
        self,
        db: Database,
        hub: WatchHub,
        clock: Clock = utcnow,
        report_lifetime: timedelta = REPORT_LIFETIME,
    ) -> None:
        self._db = db
        self._hub = hub
        self._clock = clock
        self._report_lifetime = report_lifetime

    def __repr__(self) -> str:
        return f"Deployments({self._db!r})"

    async def create_deployment(self, deployment_id: str, draft: DeploymentDraft) -> Deployment:
        names.check_id(deployment_id, "deployment_id")
        spec = build_spec(draft)
        identity = current_identity()
        tenant = identity.tenant

        def work(session: Session) -> Deployment:
            model_rows.find_shared(session, tenant, spec.model_id)
            now = self._clock()
            check_references(session, tenant, spec, ("model", *SPEC_FIELDS))
            created = deployments.insert(session, tenant, deployment_id, spec, now)
            deployments.push_history(session, tenant, deployment_id, spec.traffic, now)
            audit.record(
                session,
                tenant,
                action=AuditAction.DEPLOYMENT_CREATED,
                resource=names.deployment_name(deployment_id),
                actor=identity.subject,
                time=now,
                before=None,
                after=traffic_json(spec.model_id, spec.traffic),
            )
            return created

        created = await self._db.write(work)
        self._hub.publish(tenant, WatchEventType.CREATED, created)
        return created

    async def get_deployment(self, name: str) -> Deployment:
        deployment_id = names.parse_deployment_name(name, "name")
        tenant = current_identity().tenant
        return await self._db.read(lambda session: deployments.get(session, tenant, deployment_id))

    async def list_deployments(self, page_size: int, page_token: str, filter_text: str) -> Page[Deployment]:
        condition = filtering.parse_filter(filter_text, deployments.FILTER_FIELDS)
        request = paging.page_request(page_size, page_token, "deployments", filter_text)
        tenant = current_identity().tenant

        def work(session: Session) -> tuple[list[Deployment], SortKey | None]:
            return deployments.page(session, tenant, condition, request.after, request.size)

        items, last = await self._db.read(work)
        return Page(tuple(items), request.next_token(last))

    async def update_deployment(
        self, name: str, draft: DeploymentDraft, update_mask: Sequence[str]
    ) -> Deployment:
        """Apply the masked fields of ``draft``; a change bumps the generation, a no-op does not."""
        deployment_id = names.parse_deployment_name(name, "deployment.name")
        mask = resolve_mask(
            update_mask,
            mutable=SPEC_FIELDS,
            immutable=_IMMUTABLE + _IMMUTABLE_ETAG,
            maps=("labels",),
            key_rules={"labels": is_label_key},
        )
        touched = [field for field in SPEC_FIELDS if mask.touches(field)]
        identity = current_identity()
        tenant = identity.tenant

        def work(session: Session) -> tuple[Deployment, bool]:
            current = _lock_with_model(session, tenant, deployment_id)
            now = self._clock()
            if draft.etag and draft.etag != current.etag:
                raise errors.etag_mismatch(names.deployment_name(deployment_id))
            merged = dataclasses.replace(
                draft, labels=mask.merge_map("labels", current.spec.labels, draft.labels)
            )
            spec = build_spec(merged, model_id=current.spec.model_id, base=current.spec, fields=touched)
            check_references(session, tenant, spec, touched)
            updated = write_spec(session, tenant, current, spec, actor=identity.subject, now=now)
            return (current, False) if updated is None else (updated, True)

        deployment, changed = await self._db.write(work)
        if changed:
            self._hub.publish(tenant, WatchEventType.UPDATED, deployment)
        return deployment

    async def delete_deployment(self, name: str, *, etag: str) -> None:
        deployment_id = names.parse_deployment_name(name, "name")
        identity = current_identity()
        tenant = identity.tenant

        def work(session: Session) -> Deployment:
            current = deployments.get(session, tenant, deployment_id, lock=True)
            now = self._clock()
            if etag and etag != current.etag:
                raise errors.etag_mismatch(names.deployment_name(deployment_id))
            deployments.delete(session, tenant, deployment_id)
            audit.record(
                session,
                tenant,
                action=AuditAction.DEPLOYMENT_DELETED,
                resource=names.deployment_name(deployment_id),
                actor=identity.subject,
                time=now,
                before=traffic_json(current.spec.model_id, current.spec.traffic),
                after=None,
            )
            return current

        deleted = await self._db.write(work)
        self._hub.publish(tenant, WatchEventType.DELETED, deleted)

    async def rollback_deployment(self, name: str, *, etag: str = "") -> Deployment:
        """Restore the split before the newest one; repeated rollbacks walk further back.

        ``etag``, when set, must be the deployment's current one.
        """
        deployment_id = names.parse_deployment_name(name, "name")
        identity = current_identity()
        tenant = identity.tenant

        def work(session: Session) -> tuple[Deployment, bool]:
            current = _lock_with_model(session, tenant, deployment_id)
            if etag and etag != current.etag:
                raise errors.etag_mismatch(names.deployment_name(deployment_id))
            now = self._clock()
            previous = deployments.pop_history(session, tenant, deployment_id)
            if previous is None:
                raise FailedPrecondition(
                    f"{names.deployment_name(deployment_id)} has no earlier traffic split to restore",
                    reason=errors.NO_PREVIOUS_TRAFFIC,
                )
            _check_restorable(deployment_id, previous)
            spec = dataclasses.replace(current.spec, traffic=previous)
            try:
                check_references(session, tenant, spec, ("traffic", "preprocessing"))
            except InvalidArgument as error:
                # The request is fine; the history points at versions that are gone or no longer READY.
                raise FailedPrecondition(
                    f"the previous split cannot be restored: {error.message}",
                    reason=errors.ROLLBACK_TARGET_UNAVAILABLE,
                ) from error
            updated = write_spec(
                session,
                tenant,
                current,
                spec,
                actor=identity.subject,
                now=now,
                action=AuditAction.ROLLED_BACK,
                record_history=False,
            )
            return (current, False) if updated is None else (updated, True)

        deployment, changed = await self._db.write(work)
        if changed:
            self._hub.publish(tenant, WatchEventType.UPDATED, deployment)
        return deployment

    async def report_status(self, name: str, tenant: str, report: StatusReport) -> Deployment:
        """Store what the inference service loaded for the current generation; reports of older generations,
        or of an earlier deployment of the same name, are ignored."""
        deployment_id = names.parse_deployment_name(name, "name")
        identity = current_identity()
        owner = tenant or identity.tenant
        if owner != identity.tenant and not identity.has_role(Role.ADMIN):
            raise PermissionDenied(
                "only admins report status for another tenant", reason=errors.ADMIN_REQUIRED
            )
        _check_report(report)

        def work(session: Session) -> Deployment:
            current = deployments.get(session, owner, deployment_id, lock=True)
            now = self._clock()
            if report.generation < current.generation or _of_earlier_incarnation(report, current):
                return current
            if report.generation > current.generation:
                raise InvalidArgument.for_field(
                    "generation", f"{report.generation} is newer than the deployment's {current.generation}"
                )
            status = next_status(current.spec, current.status, report, now, self._report_lifetime)
            return deployments.set_status(session, owner, deployment_id, status)

        return await self._db.write(work)

    async def expire_reports(self) -> int:
        """Drop every deployment's replica reports that outlived their lifetime; how many deployments
        changed.  A deployment left without any turns PENDING (see :mod:`services.models.status`)."""
        snapshot = await self._db.read(lambda session: deployments.everything(session, None))
        lifetime, now = self._report_lifetime, self._clock()
        expired = [
            (tenant, deployment.deployment_id)
            for tenant, deployment in snapshot
            if without_expired_reports(deployment.spec, deployment.status, now, lifetime) is not None
        ]
        changed = 0
        for tenant, deployment_id in expired:

            def work(session: Session, tenant: str = tenant, deployment_id: str = deployment_id) -> bool:
                # Read again under the lock: a replica may have reported since the snapshot.
                current = deployments.find(session, tenant, deployment_id, lock=True)
                if current is None:
                    return False
                status = without_expired_reports(current.spec, current.status, self._clock(), lifetime)
                if status is not None:
                    deployments.set_status(session, tenant, deployment_id, status)
                return status is not None

            changed += await self._db.write(work)
        return changed


def _of_earlier_incarnation(report: StatusReport, current: Deployment) -> bool:
    # Created again under the same name, a deployment restarts at generation 1: only the creation
    # time tells a late report about the deleted one (of the same generation) apart.
    created = report.deployment_create_time
    return created is not None and created != current.create_time


def _lock_with_model(session: Session, tenant: str, deployment_id: str) -> Deployment:
    """The deployment, row-locked, after a share lock on its model's row.

    Version deletes and archiving lock the model row before the deployments using the
    version: taking the model first keeps one lock order, so neither waits on the other forever.
    """
    # A deployment's model never changes, so the unlocked read names the right row.
    model_id = deployments.get(session, tenant, deployment_id).spec.model_id
    model_rows.find_shared(session, tenant, model_id)
    return deployments.get(session, tenant, deployment_id, lock=True)


def _check_restorable(deployment_id: str, previous: Sequence[TrafficTarget]) -> None:
    """Refuse a previous split that an update would refuse: forced deletes leave such splits behind.

    A forced version delete keeps the other targets' percentages (the split may fall short of 100,
    or be empty), and a forced model delete leaves an empty split as the only history.
    """
    name = names.deployment_name(deployment_id)
    if not previous:
        raise FailedPrecondition(
            f"{name} has no earlier traffic split to restore (the previous one served no version)",
            reason=errors.NO_PREVIOUS_TRAFFIC,
        )
    total = sum(target.percent for target in previous)
    if total != 100:
        raise FailedPrecondition(
            f"the previous split cannot be restored: its percentages sum to {total}, not 100 "
            "(a forced delete took versions out of it); set the traffic instead",
            reason=errors.ROLLBACK_TARGET_UNAVAILABLE,
        )


def _check_report(report: StatusReport) -> None:
    v = Violations()
    if report.generation < 1:
        v.add("generation", "must be the spec generation the report describes")
    _check_name(v, "reporter", report.reporter)
    if check_count(v, "conditions", report.conditions, MAX_REPORTED_ITEMS, "conditions"):
        for index, condition in enumerate(report.conditions):
            field = f"conditions[{index}]"
            for name in ("type", "reason", "version"):
                _check_name(v, f"{field}.{name}", getattr(condition, name))
            check_text(v, f"{field}.message", condition.message, MAX_CONDITION_MESSAGE)
    if check_count(v, "loaded_versions", report.loaded_versions, MAX_REPORTED_ITEMS, "loaded versions"):
        for index, loaded in enumerate(report.loaded_versions):
            field = f"loaded_versions[{index}]"
            _check_name(v, f"{field}.version", loaded.version)
            _check_name(v, f"{field}.device", loaded.device)
            providers = loaded.execution_providers
            if check_count(v, f"{field}.execution_providers", providers, MAX_REPORTED_PROVIDERS, "providers"):
                for position, provider in enumerate(providers):
                    _check_name(v, f"{field}.execution_providers[{position}]", provider)
    v.raise_if_any()


def _check_name(violations: Violations, field: str, value: str) -> None:
    check_text(violations, field, value, MAX_REPORTED_NAME, multiline=False)
