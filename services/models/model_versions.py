"""Model versions: read (by number or alias), list, update and delete.

New versions come from :mod:`.uploads` and :mod:`.imports`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from services.models import errors, filtering, names, paging
from services.models.aliases import delete_alias_audited
from services.models.artifact_refs import ArtifactReferences
from services.models.clock import Clock, utcnow
from services.models.domain import Deployment, ModelVersion, Page
from services.models.enums import VersionState, WatchEventType
from services.models.masks import resolve_mask
from services.models.store import deployments, operations, versions
from services.models.store import models as model_rows
from services.models.store.query import SortKey
from services.models.traffic import detach_versions
from services.models.validation import (
    MAX_DESCRIPTION,
    Violations,
    check_labels,
    check_metrics,
    check_text,
    is_label_key,
    is_metric_name,
)
from services.models.watch import WatchHub
from services.runtime.auth import Role, current_identity
from services.runtime.errors import FailedPrecondition, PermissionDenied
from services.runtime.store import Database

_MUTABLE = ("description", "labels", "metrics", "state")
_IMMUTABLE = (
    "name",
    "artifact_uri",
    "sha256",
    "size_bytes",
    "format",
    "onnx_opset",
    "inputs",
    "outputs",
    "source_training_job",
    "state_message",
    "aliases",
    "creator",
    "create_time",
    "update_time",
)
# Archiving is the only lifecycle change a client makes; PENDING/READY/FAILED follow the artifact checks.
_STATE_CHANGES = {
    (VersionState.READY, VersionState.ARCHIVED),
    (VersionState.ARCHIVED, VersionState.READY),
}


def resolve_version(session: Session, tenant: str, model_id: str, segment: str) -> ModelVersion:
    """The version a name's last segment designates: its number, or an alias pointing at it."""
    model_rows.get(session, tenant, model_id)
    number = names.version_number(segment)
    if number is None:
        alias = versions.find_alias(session, tenant, model_id, segment)
        if alias is None:
            raise errors.version_not_found(model_id, segment)
        number = alias.version
    return versions.get(session, tenant, model_id, number)


class ModelVersions:
    """The version methods of the registry."""

    def __init__(
        self, db: Database, artifacts: ArtifactReferences, hub: WatchHub, clock: Clock = utcnow
    ) -> None:
        self._db = db
        self._artifacts = artifacts
        self._hub = hub
        self._clock = clock

    def __repr__(self) -> str:
        return f"ModelVersions({self._db!r})"

    async def get_version(self, name: str, tenant: str = "") -> ModelVersion:
        """``models/{model}/versions/{version}``, where the version may be an alias name.

        ``tenant`` names another tenant's version; only admins (the inference service) may ask.
        """
        model_id, segment = names.parse_version_name(name, "name")
        identity = current_identity()
        if tenant and tenant != identity.tenant and not identity.has_role(Role.ADMIN):
            raise PermissionDenied("only admins read another tenant's versions", reason=errors.ADMIN_REQUIRED)
        tenant = tenant or identity.tenant
        return await self._db.read(lambda session: resolve_version(session, tenant, model_id, segment))

    async def list_versions(
        self, parent: str, page_size: int, page_token: str, filter_text: str
    ) -> Page[ModelVersion]:
        model_id = names.parse_model_name(parent, "parent")
        condition = filtering.parse_filter(filter_text, versions.FILTER_FIELDS)
        request = paging.page_request(page_size, page_token, "versions", parent, filter_text)
        tenant = current_identity().tenant

        def work(session: Session) -> tuple[list[ModelVersion], SortKey | None]:
            model_rows.get(session, tenant, model_id)
            return versions.page(session, tenant, model_id, condition, request.after, request.size)

        items, last = await self._db.read(work)
        return Page(tuple(items), request.next_token(last))

    async def update_version(
        self, name: str, changes: ModelVersion, update_mask: Sequence[str]
    ) -> ModelVersion:
        model_id, number = names.parse_numbered_version(name, "model_version.name")
        mask = resolve_mask(
            update_mask,
            mutable=_MUTABLE,
            immutable=_IMMUTABLE,
            maps=("labels", "metrics"),
            key_rules={"labels": is_label_key, "metrics": is_metric_name},
        )
        violations = Violations()
        if "description" in mask.fields:
            check_text(violations, "model_version.description", changes.description, MAX_DESCRIPTION)
        if "state" in mask.fields and changes.state not in (VersionState.READY, VersionState.ARCHIVED):
            violations.add("model_version.state", "may only be set to ARCHIVED, or back to READY")
        violations.raise_if_any()
        tenant = current_identity().tenant

        def work(session: Session) -> ModelVersion:
            model_rows.get(session, tenant, model_id, lock=True)
            current = versions.get(session, tenant, model_id, number, lock=True)
            now = self._clock()
            values: dict[str, object] = {}
            if "description" in mask.fields:
                values["description"] = changes.description
            if "state" in mask.fields and changes.state != current.state:
                if (current.state, changes.state) not in _STATE_CHANGES:
                    raise FailedPrecondition(
                        f"a {current.state.value} version cannot become {changes.state.value}",
                        reason=errors.INVALID_STATE_CHANGE,
                    )
                if changes.state == VersionState.ARCHIVED:
                    _check_unreferenced(session, tenant, model_id, number)
                values["state"] = changes.state
            merged = Violations()
            if mask.touches("labels"):
                values["labels"] = labels = mask.merge_map("labels", current.labels, changes.labels)
                check_labels(merged, "model_version.labels", labels)
            if mask.touches("metrics"):
                values["metrics"] = metrics = mask.merge_map("metrics", current.metrics, changes.metrics)
                check_metrics(merged, "model_version.metrics", metrics)
            merged.raise_if_any()
            return versions.update(session, tenant, model_id, number, values, now)

        return await self._db.write(work)

    async def delete_version(self, name: str, *, force: bool) -> None:
        """Delete the version and its aliases; its artifact goes when no other version shares it."""
        model_id, number = names.parse_numbered_version(name, "name")
        identity = current_identity()
        tenant = identity.tenant

        def work(session: Session) -> tuple[str, list[Deployment]]:
            model = model_rows.get(session, tenant, model_id, lock=True)
            now = self._clock()
            current = versions.get(session, tenant, model_id, number)
            users = deployments.using_model(session, tenant, model_id, number)
            if users and not force:
                raise errors.in_use(names.version_name(model_id, number), users, errors.VERSION_IN_USE)
            changed = detach_versions(session, tenant, model_id, {number}, actor=identity.subject, now=now)
            for alias in versions.aliases(session, tenant, model_id, number):
                delete_alias_audited(session, tenant, alias, actor=identity.subject, now=now)
            operations.delete_for_version(session, tenant, model_id, number)
            versions.delete(session, tenant, model_id, number)
            latest = versions.newest(session, tenant, model_id)
            if latest != model.latest_version:
                # The latest version is part of the model: a new revision, so that its etag changes
                # (and its update time), as when a version is added.
                model_rows.update(session, tenant, model_id, {"latest_version": latest}, now)
            return current.sha256, changed

        checksum, changed = await self._db.write(work)
        for deployment in changed:
            self._hub.publish(tenant, WatchEventType.UPDATED, deployment)
        await self._artifacts.release([checksum])


def _check_unreferenced(session: Session, tenant: str, model_id: str, number: int) -> None:
    """An archived version is never served: refuse while a deployment or an alias points at it."""
    # Deployment changes hold a share lock on the model row, which the caller holds exclusively:
    # a split that adds this version has committed (and is seen here) or waits and then sees ARCHIVED.
    resource = names.version_name(model_id, number)
    users = deployments.using_model(session, tenant, model_id, number)
    if users:
        raise errors.in_use(resource, users, errors.VERSION_IN_USE, remedy="change their traffic first")
    pointing = versions.aliases(session, tenant, model_id, number)
    if pointing:
        raise errors.aliased(resource, (names.alias_name(model_id, a.alias) for a in pointing))
