"""Filters and pages as SQLAlchemy expressions.

A parsed filter (:mod:`services.models.filtering`) becomes an expression
tree with bound parameters; label keys become JSON path parameters, never
identifiers, so nothing a client writes is spliced into SQL.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.models.filtering import And, Compare, Node, Or

Columns = Mapping[str, sa.ColumnElement[Any]]


def _label(labels: sa.ColumnElement[Any], key: str) -> sa.ColumnElement[str]:
    value: sa.ColumnElement[str] = labels[key].as_string()
    return value


def _compare(node: Compare, columns: Columns) -> sa.ColumnElement[bool]:
    column = columns[node.field]
    if node.key is not None:
        label = _label(column, node.key)
        if node.op == "has":
            return label.is_not(None)
        # A missing label compares as the empty string, so that NOT and != stay two-valued.
        present = sa.func.coalesce(label, "")
        return present == node.value if node.op == "=" else present != node.value
    value = node.value.value if isinstance(node.value, enum.Enum) else node.value
    return column == value if node.op == "=" else column != value


def where(node: Node | None, columns: Columns) -> sa.ColumnElement[bool]:
    """The SQL condition of a parsed filter over ``columns`` (field name to column)."""
    if node is None:
        return sa.true()
    if isinstance(node, Compare):
        return _compare(node, columns)
    if isinstance(node, And):
        return sa.and_(*(where(term, columns) for term in node.terms))
    if isinstance(node, Or):
        return sa.or_(*(where(term, columns) for term in node.terms))
    return sa.not_(where(node.term, columns))


def page(
    session: Session,
    table: sa.Table,
    condition: sa.ColumnElement[bool],
    order: Sequence[sa.ColumnElement[Any]],
    offset: int,
    limit: int,
) -> tuple[list[sa.Row[Any]], int]:
    """The rows of one page and the number of rows matching ``condition`` over all pages."""
    total = session.execute(sa.select(sa.func.count()).select_from(table).where(condition)).scalar_one()
    rows = session.execute(
        sa.select(table).where(condition).order_by(*order).offset(offset).limit(limit)
    ).all()
    return list(rows), int(total)
