"""Resource names and ids: building them, and parsing what clients send.

Names are tenant-relative (``models/{model}``, ``deployments/{deployment}``);
the tenant comes from the caller's identity, never from the name.  Every
parse error is INVALID_ARGUMENT naming the request field it came from.
"""

from __future__ import annotations

import re

from services.models.validation import shown
from services.runtime.errors import InvalidArgument

ID_RULE = "1-63 characters of lower-case letters, digits and hyphens, starting with a letter"
_ID = re.compile(r"[a-z][a-z0-9-]{0,62}")
# Numbers are positive and never zero-padded, so that `versions/01` cannot alias `versions/1`.
_VERSION = re.compile(r"[1-9][0-9]{0,17}")
_OPERATION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def check_id(value: str, field: str) -> str:
    """``value`` when it is a valid model, deployment or alias id."""
    if not _ID.fullmatch(value):
        raise InvalidArgument.for_field(field, f"must be {ID_RULE}, got {shown(value)}", reason="INVALID_ID")
    return value


def model_name(model_id: str) -> str:
    return f"models/{model_id}"


def version_name(model_id: str, version: int) -> str:
    return f"models/{model_id}/versions/{version}"


def alias_name(model_id: str, alias: str) -> str:
    return f"models/{model_id}/aliases/{alias}"


def operation_name(model_id: str, operation_id: str) -> str:
    return f"models/{model_id}/operations/{operation_id}"


def deployment_name(deployment_id: str) -> str:
    return f"deployments/{deployment_id}"


def audit_event_name(event_id: int) -> str:
    return f"auditEvents/{event_id}"


def _segments(name: str, field: str, pattern: str, count: int) -> list[str]:
    parts = name.split("/")
    if len(parts) != count or any(not part for part in parts):
        raise InvalidArgument.for_field(
            field, f"must have the form {pattern}, got {shown(name)}", reason="INVALID_NAME"
        )
    return parts


def _expect(parts: list[str], index: int, literal: str, name: str, field: str, pattern: str) -> None:
    if parts[index] != literal:
        raise InvalidArgument.for_field(
            field, f"must have the form {pattern}, got {shown(name)}", reason="INVALID_NAME"
        )


def parse_model_name(name: str, field: str) -> str:
    """The model id of ``models/{model}``."""
    pattern = "models/{model}"
    parts = _segments(name, field, pattern, 2)
    _expect(parts, 0, "models", name, field, pattern)
    return check_id(parts[1], field)


def parse_version_name(name: str, field: str) -> tuple[str, str]:
    """Model id and version segment of ``models/{model}/versions/{version}``: a number or an alias."""
    pattern = "models/{model}/versions/{version}"
    parts = _segments(name, field, pattern, 4)
    _expect(parts, 0, "models", name, field, pattern)
    _expect(parts, 2, "versions", name, field, pattern)
    model_id = check_id(parts[1], field)
    if not (_VERSION.fullmatch(parts[3]) or _ID.fullmatch(parts[3])):
        raise InvalidArgument.for_field(
            field,
            f"the version must be a number or an alias name, got {shown(parts[3])}",
            reason="INVALID_NAME",
        )
    return model_id, parts[3]


def version_number(segment: str) -> int | None:
    """The number a version segment spells, or None when it is an alias name."""
    return int(segment) if _VERSION.fullmatch(segment) else None


def parse_numbered_version(name: str, field: str) -> tuple[str, int]:
    """Model id and number of ``models/{model}/versions/{version}``; aliases are not accepted."""
    model_id, segment = parse_version_name(name, field)
    number = version_number(segment)
    if number is None:
        raise InvalidArgument.for_field(
            field, f"must name a version by its number, got {shown(name)}", reason="INVALID_NAME"
        )
    return model_id, number


def parse_alias_name(name: str, field: str) -> tuple[str, str]:
    """Model id and alias of ``models/{model}/aliases/{alias}``."""
    pattern = "models/{model}/aliases/{alias}"
    parts = _segments(name, field, pattern, 4)
    _expect(parts, 0, "models", name, field, pattern)
    _expect(parts, 2, "aliases", name, field, pattern)
    return check_id(parts[1], field), check_id(parts[3], field)


def parse_operation_name(name: str, field: str) -> tuple[str, str]:
    """Model id and operation id of ``models/{model}/operations/{operation}``."""
    pattern = "models/{model}/operations/{operation}"
    parts = _segments(name, field, pattern, 4)
    _expect(parts, 0, "models", name, field, pattern)
    _expect(parts, 2, "operations", name, field, pattern)
    if not _OPERATION.fullmatch(parts[3]):
        raise InvalidArgument.for_field(
            field, f"unknown operation id {shown(parts[3])}", reason="INVALID_NAME"
        )
    return check_id(parts[1], field), parts[3]


def parse_deployment_name(name: str, field: str) -> str:
    """The deployment id of ``deployments/{deployment}``."""
    pattern = "deployments/{deployment}"
    parts = _segments(name, field, pattern, 2)
    _expect(parts, 0, "deployments", name, field, pattern)
    return check_id(parts[1], field)


def parse_resource_filter(name: str, field: str) -> str:
    """A deployment or alias name as used to filter audit events; returned as given when valid."""
    if name.startswith("deployments/"):
        parse_deployment_name(name, field)
    else:
        parse_alias_name(name, field)
    return name
