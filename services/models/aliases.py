"""Aliases: named, movable pointers to versions, with every move in the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.models import errors, names, paging
from services.models.clock import Clock, utcnow
from services.models.domain import ModelAlias, Page
from services.models.enums import AuditAction, VersionState
from services.models.store import audit, versions
from services.models.store import models as model_rows
from services.models.store.query import SortKey
from services.runtime.auth import current_identity
from services.runtime.errors import FailedPrecondition, InvalidArgument
from services.runtime.store import Database


def _state_json(model_id: str, version: int | None) -> dict[str, str] | None:
    return None if version is None else {"version": names.version_name(model_id, version)}


def delete_alias_audited(
    session: Session, tenant: str, alias: ModelAlias, *, actor: str, now: datetime
) -> None:
    """Remove ``alias`` and record it, inside the caller's transaction."""
    audit.record(
        session,
        tenant,
        action=AuditAction.ALIAS_DELETED,
        resource=names.alias_name(alias.model_id, alias.alias),
        actor=actor,
        time=now,
        before=_state_json(alias.model_id, alias.version),
        after=None,
    )
    versions.delete_alias(session, tenant, alias.model_id, alias.alias)


class Aliases:
    """The alias methods of the registry."""

    def __init__(self, db: Database, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    def __repr__(self) -> str:
        return f"Aliases({self._db!r})"

    async def set_alias(self, name: str, version: str) -> ModelAlias:
        """Point ``name`` at ``version`` (a number, or another alias of the same model)."""
        model_id, alias_id = names.parse_alias_name(name, "alias.name")
        version_model, segment = names.parse_version_name(version, "alias.version")
        if version_model != model_id:
            raise InvalidArgument.for_field(
                "alias.version", f"must be a version of {names.model_name(model_id)}"
            )
        identity = current_identity()
        tenant = identity.tenant

        def work(session: Session) -> ModelAlias:
            # The model row lock orders alias moves and version deletes of one model.
            model_rows.get(session, tenant, model_id, lock=True)
            now = self._clock()
            number = names.version_number(segment)
            if number is None:
                target = versions.find_alias(session, tenant, model_id, segment)
                if target is None:
                    raise errors.version_not_found(model_id, segment)
                number = target.version
            target_version = versions.get(session, tenant, model_id, number)
            if target_version.state != VersionState.READY:
                raise FailedPrecondition(
                    f"{names.version_name(model_id, number)} is {target_version.state.value}; "
                    "aliases point at READY versions only",
                    reason=errors.VERSION_NOT_READY,
                )
            previous = versions.find_alias(session, tenant, model_id, alias_id)
            alias = ModelAlias(model_id, alias_id, number, now, identity.subject)
            if previous is not None and previous.version == number:
                return previous
            versions.put_alias(session, tenant, alias)
            audit.record(
                session,
                tenant,
                action=AuditAction.ALIAS_SET,
                resource=names.alias_name(model_id, alias_id),
                actor=identity.subject,
                time=now,
                before=_state_json(model_id, None if previous is None else previous.version),
                after=_state_json(model_id, number),
            )
            return alias

        return await self._db.write(work)

    async def get_alias(self, name: str) -> ModelAlias:
        model_id, alias_id = names.parse_alias_name(name, "name")
        tenant = current_identity().tenant

        def work(session: Session) -> ModelAlias:
            model_rows.get(session, tenant, model_id)
            alias = versions.find_alias(session, tenant, model_id, alias_id)
            if alias is None:
                raise errors.alias_not_found(model_id, alias_id)
            return alias

        return await self._db.read(work)

    async def list_aliases(self, parent: str, page_size: int, page_token: str) -> Page[ModelAlias]:
        model_id = names.parse_model_name(parent, "parent")
        request = paging.page_request(page_size, page_token, "aliases", parent)
        tenant = current_identity().tenant

        def work(session: Session) -> tuple[list[ModelAlias], SortKey | None]:
            model_rows.get(session, tenant, model_id)
            return versions.page_aliases(session, tenant, model_id, request.after, request.size)

        items, last = await self._db.read(work)
        return Page(tuple(items), request.next_token(last))

    async def delete_alias(self, name: str) -> None:
        model_id, alias_id = names.parse_alias_name(name, "name")
        identity = current_identity()
        tenant = identity.tenant

        def work(session: Session) -> None:
            model_rows.get(session, tenant, model_id, lock=True)
            now = self._clock()
            alias = versions.find_alias(session, tenant, model_id, alias_id)
            if alias is None:
                raise errors.alias_not_found(model_id, alias_id)
            delete_alias_audited(session, tenant, alias, actor=identity.subject, now=now)

        await self._db.write(work)
