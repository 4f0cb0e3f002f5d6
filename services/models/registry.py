"""Models: create, read, list, update and delete, scoped to the caller's tenant."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy.orm import Session

from services.models import errors, filtering, names, paging
from services.models.aliases import delete_alias_audited
from services.models.artifact_refs import ArtifactReferences
from services.models.clock import Clock, utcnow
from services.models.domain import Deployment, Model, Page
from services.models.enums import WatchEventType
from services.models.masks import resolve_mask
from services.models.store import deployments, operations, versions
from services.models.store import models as model_rows
from services.models.store.query import SortKey
from services.models.traffic import detach_versions
from services.models.validation import (
    MAX_DESCRIPTION,
    MAX_DISPLAY_NAME,
    Violations,
    check_labels,
    check_text,
    is_label_key,
)
from services.models.watch import WatchHub
from services.runtime.auth import current_identity
from services.runtime.errors import InvalidArgument
from services.runtime.store import Database

_MUTABLE = ("display_name", "description", "labels", "task")
_IMMUTABLE = ("name", "latest_version_id", "create_time", "update_time", "etag")


def _check_model_fields(violations: Violations, prefix: str, model: Model, fields: Sequence[str]) -> None:
    if "display_name" in fields:
        check_text(violations, f"{prefix}.display_name", model.display_name, MAX_DISPLAY_NAME)
    if "description" in fields:
        check_text(violations, f"{prefix}.description", model.description, MAX_DESCRIPTION)
    if "labels" in fields:
        check_labels(violations, f"{prefix}.labels", model.labels)


class Registry:
    """The model methods of the registry."""

    def __init__(
        self, db: Database, artifacts: ArtifactReferences, hub: WatchHub, clock: Clock = utcnow
    ) -> None:
        self._db = db
        self._artifacts = artifacts
        self._hub = hub
        self._clock = clock

    def __repr__(self) -> str:
        return f"Registry({self._db!r})"

    async def create_model(self, model_id: str, model: Model) -> Model:
        """Create ``models/{model_id}``; ALREADY_EXISTS when the tenant has it."""
        violations = Violations()
        try:
            names.check_id(model_id, "model_id")
        except InvalidArgument as error:
            for violation in error.violations:
                violations.add(violation.field, violation.description)
        _check_model_fields(violations, "model", model, _MUTABLE)
        violations.raise_if_any()
        tenant = current_identity().tenant
        now = self._clock()
        new = dataclasses.replace(model, model_id=model_id)
        return await self._db.write(lambda session: model_rows.insert(session, tenant, new, now))

    async def get_model(self, name: str) -> Model:
        model_id = names.parse_model_name(name, "name")
        tenant = current_identity().tenant
        return await self._db.read(lambda session: model_rows.get(session, tenant, model_id))

    async def list_models(
        self, page_size: int, page_token: str, filter_text: str, order_by: str
    ) -> Page[Model]:
        condition = filtering.parse_filter(filter_text, model_rows.FILTER_FIELDS)
        order = model_rows.parse_order(order_by)
        request = paging.page_request(page_size, page_token, "models", filter_text, order_by)
        tenant = current_identity().tenant

        def work(session: Session) -> tuple[list[Model], int, SortKey | None]:
            return model_rows.page(session, tenant, condition, order, request.after, request.size)

        items, total, last = await self._db.read(work)
        return Page(tuple(items), request.next_token(last), total)

    async def update_model(self, name: str, changes: Model, update_mask: Sequence[str]) -> Model:
        """Apply the masked fields of ``changes``; its ``etag``, when set, must be current."""
        model_id = names.parse_model_name(name, "model.name")
        mask = resolve_mask(
            update_mask,
            mutable=_MUTABLE,
            immutable=_IMMUTABLE,
            maps=("labels",),
            key_rules={"labels": is_label_key},
        )
        violations = Violations()
        _check_model_fields(
            violations, "model", changes, [field for field in _MUTABLE if mask.touches(field)]
        )
        violations.raise_if_any()
        tenant = current_identity().tenant

        def work(session: Session) -> Model:
            current = model_rows.get(session, tenant, model_id, lock=True)
            now = self._clock()
            if changes.etag and changes.etag != current.etag:
                raise errors.etag_mismatch(names.model_name(model_id))
            values: dict[str, object] = {
                field: getattr(changes, field)
                for field in ("display_name", "description", "task")
                if field in mask.fields
            }
            if mask.touches("labels"):
                labels = mask.merge_map("labels", current.labels, changes.labels)
                merged = Violations()
                check_labels(merged, "model.labels", labels)
                merged.raise_if_any()
                values["labels"] = labels
            return model_rows.update(session, tenant, model_id, values, now)

        return await self._db.write(work)

    async def delete_model(self, name: str, *, force: bool, etag: str) -> None:
        """Delete the model with its versions, aliases and imports; FAILED_PRECONDITION while deployed."""
        model_id = names.parse_model_name(name, "name")
        identity = current_identity()
        tenant = identity.tenant

        def work(session: Session) -> tuple[list[str], list[Deployment]]:
            current = model_rows.get(session, tenant, model_id, lock=True)
            now = self._clock()
            if etag and etag != current.etag:
                raise errors.etag_mismatch(names.model_name(model_id))
            users = deployments.using_model(session, tenant, model_id)
            if users and not force:
                raise errors.in_use(names.model_name(model_id), users, errors.MODEL_IN_USE)
            changed = detach_versions(session, tenant, model_id, None, actor=identity.subject, now=now)
            # The history names versions by number only, and a model re-created under this id numbers
            # its versions from 1 again: a rollback must not route traffic to those.
            for deployment_id in users:
                deployments.reset_history(session, tenant, deployment_id, (), now)
            for alias in versions.aliases(session, tenant, model_id):
                delete_alias_audited(session, tenant, alias, actor=identity.subject, now=now)
            checksums = [sha256 for _, sha256 in versions.all_of_model(session, tenant, model_id)]
            operations.delete_all_of_model(session, tenant, model_id)
            versions.delete_all_of_model(session, tenant, model_id)
            model_rows.delete(session, tenant, model_id)
            return checksums, changed

        checksums, changed = await self._db.write(work)
        for deployment in changed:
            self._hub.publish(tenant, WatchEventType.UPDATED, deployment)
        await self._artifacts.release(checksums)
