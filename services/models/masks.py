"""Update masks (AIP-134): which fields an Update call changes.

``*`` means every mutable field.  A map field may also be named per key
(``labels.team``, or quoted as AIP-161 writes a key that is not an
identifier: ``labels.`cost-center` ``): that key is set from the request, or
removed when the request does not have it.  Naming an unknown, immutable or
output-only field, or a key its map cannot hold, is INVALID_ARGUMENT naming
the offending path.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from services.models.validation import Violations, shown

V = TypeVar("V")


@dataclass(frozen=True)
class Mask:
    """The resolved mask: whole fields to replace, and single map keys to set or remove."""

    fields: frozenset[str]
    map_keys: Mapping[str, frozenset[str]]

    def touches(self, field: str) -> bool:
        return field in self.fields or field in self.map_keys

    def merge_map(self, field: str, current: Mapping[str, V], requested: Mapping[str, V]) -> dict[str, V]:
        """The map after the update: replaced whole, or changed only at the named keys."""
        if field in self.fields:
            return dict(requested)
        merged = dict(current)
        for key in self.map_keys.get(field, frozenset()):
            if key in requested:
                merged[key] = requested[key]
            else:
                merged.pop(key, None)
        return merged


def _unquote_key(key: str) -> str:
    """A map key without the backticks AIP-161 puts around one that is not an identifier."""
    if len(key) >= 2 and key[0] == key[-1] == "`":
        return key[1:-1]
    return key


def resolve_mask(
    paths: Sequence[str],
    *,
    mutable: Collection[str],
    immutable: Collection[str],
    maps: Collection[str] = (),
    key_rules: Mapping[str, Callable[[str], bool]] | None = None,
) -> Mask:
    """Check ``paths`` against the resource's fields; ``maps`` are the mutable map fields, and
    ``key_rules`` tell, per map, which keys it can hold."""
    rules = key_rules or {}
    violations = Violations()
    if not paths:
        violations.add("update_mask", "name at least one field to change, or '*' for every mutable field")
    fields: set[str] = set()
    map_keys: dict[str, set[str]] = {}
    for index, path in enumerate(paths):
        field = f"update_mask.paths[{index}]"
        head, _, key = path.partition(".")
        if path == "*":
            fields.update(mutable)
        elif path in mutable:
            fields.add(path)
        elif head in maps and key:
            key = _unquote_key(key)
            valid = rules.get(head)
            if key and (valid is None or valid(key)):
                map_keys.setdefault(head, set()).add(key)
            else:
                # Without this the key is removed if present, which it never is: a silent no-op.
                violations.add(field, f"{shown(path)} does not name a key that {head} can hold")
        elif path in immutable or head in immutable:
            violations.add(field, f"{shown(path)} cannot be changed (immutable or output only)")
        else:
            violations.add(
                field, f"{shown(path)} is not a field that can be updated; use {', '.join(sorted(mutable))}"
            )
    violations.raise_if_any()
    return Mask(frozenset(fields), {field: frozenset(keys) for field, keys in map_keys.items()})
