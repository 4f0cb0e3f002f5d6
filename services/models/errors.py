"""The errors of the model management service, with their stable reasons.

Reasons are part of the public contract (clients branch on them), so each
is spelled once here.  Errors about another tenant's resources are the same
NOT_FOUND as for resources that do not exist: a caller must not learn what
other tenants have.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable

from services.models import names
from services.runtime.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted

MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
VERSION_NOT_FOUND = "MODEL_VERSION_NOT_FOUND"
ALIAS_NOT_FOUND = "MODEL_ALIAS_NOT_FOUND"
OPERATION_NOT_FOUND = "OPERATION_NOT_FOUND"
DEPLOYMENT_NOT_FOUND = "DEPLOYMENT_NOT_FOUND"
MODEL_IN_USE = "MODEL_IN_USE"
VERSION_IN_USE = "MODEL_VERSION_IN_USE"
VERSION_NOT_READY = "MODEL_VERSION_NOT_READY"
VERSION_ALIASED = "MODEL_VERSION_ALIASED"
ETAG_MISMATCH = "ETAG_MISMATCH"
NO_PREVIOUS_TRAFFIC = "NO_PREVIOUS_TRAFFIC"
ROLLBACK_TARGET_UNAVAILABLE = "ROLLBACK_TARGET_UNAVAILABLE"
INVALID_STATE_CHANGE = "INVALID_STATE_CHANGE"
ADMIN_REQUIRED = "ADMIN_REQUIRED"
ARTIFACT_TOO_LARGE = "ARTIFACT_TOO_LARGE"
ARTIFACT_TRUNCATED = "ARTIFACT_TRUNCATED"
ARTIFACT_SIZE_MISMATCH = "ARTIFACT_SIZE_MISMATCH"
ARTIFACT_CHECKSUM_MISMATCH = "ARTIFACT_CHECKSUM_MISMATCH"
ARTIFACT_NOT_ONNX = "ARTIFACT_NOT_ONNX"
ARTIFACT_UNREADABLE = "ARTIFACT_UNREADABLE"
VERSION_DELETED = "MODEL_VERSION_DELETED"
STORAGE_FULL = "STORAGE_FULL"

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def storage_full(error: OSError) -> ResourceExhausted | None:
    """The error a caller gets when the server's disk or quota is full (nothing of the artifact is kept);
    None for any other OSError."""
    if error.errno not in _FULL:
        return None
    return ResourceExhausted(
        "the server has no space left to store the artifact; retry once an operator has freed some",
        reason=STORAGE_FULL,
        retry_after_seconds=60.0,
    )


def model_not_found(model_id: str) -> NotFound:
    name = names.model_name(model_id)
    return NotFound(f"{name} not found", reason=MODEL_NOT_FOUND, metadata={"resource": name})


def version_not_found(model_id: str, version: int | str) -> NotFound:
    name = f"{names.model_name(model_id)}/versions/{version}"
    return NotFound(f"{name} not found", reason=VERSION_NOT_FOUND, metadata={"resource": name})


def alias_not_found(model_id: str, alias: str) -> NotFound:
    name = names.alias_name(model_id, alias)
    return NotFound(f"{name} not found", reason=ALIAS_NOT_FOUND, metadata={"resource": name})


def operation_not_found(model_id: str, operation_id: str) -> NotFound:
    name = names.operation_name(model_id, operation_id)
    return NotFound(f"{name} not found", reason=OPERATION_NOT_FOUND, metadata={"resource": name})


def deployment_not_found(deployment_id: str) -> NotFound:
    name = names.deployment_name(deployment_id)
    return NotFound(f"{name} not found", reason=DEPLOYMENT_NOT_FOUND, metadata={"resource": name})


def etag_mismatch(resource: str) -> Aborted:
    # ABORTED rather than FAILED_PRECONDITION (AIP-154): the client should re-read and retry.
    return Aborted(
        f"{resource} has changed since it was read (etag mismatch); read it again and retry",
        reason=ETAG_MISMATCH,
        metadata={"resource": resource},
    )


def in_use(
    resource: str,
    deployment_ids: Iterable[str],
    reason: str,
    remedy: str = "change their traffic first or delete with force",
) -> FailedPrecondition:
    users = sorted(names.deployment_name(deployment_id) for deployment_id in deployment_ids)
    return FailedPrecondition(
        f"{resource} is used by {', '.join(users)}; {remedy}",
        reason=reason,
        metadata={"resource": resource, "deployments": ",".join(users)},
    )


def aliased(resource: str, alias_names: Iterable[str]) -> FailedPrecondition:
    """Archiving refused: aliases would point at a version that can no longer be served."""
    pointing = sorted(alias_names)
    return FailedPrecondition(
        f"{resource} is the target of {', '.join(pointing)}; point them elsewhere first",
        reason=VERSION_ALIASED,
        metadata={"resource": resource, "aliases": ",".join(pointing)},
    )


def artifact_error(reason: str, message: str, field: str = "") -> InvalidArgument:
    """An upload or import whose bytes are unacceptable (INVALID_ARGUMENT with a stable reason)."""
    if field:
        return InvalidArgument.for_field(field, message, reason=reason)
    return InvalidArgument(message, reason=reason)
