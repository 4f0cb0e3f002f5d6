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
from services.runtime.errors import InvalidArgument

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


SortKey = tuple[Any, ...]
"""The values of a list's sort columns for one row: strings, integers and datetimes."""

SortColumn = tuple[sa.Column[Any], bool]
"""A column a list is sorted by, and whether descending."""


def page(
    session: Session,
    table: sa.Table,
    condition: sa.ColumnElement[bool],
    order: Sequence[SortColumn],
    after: SortKey | None,
    limit: int,
) -> tuple[list[sa.Row[Any]], SortKey | None]:
    """The rows of one page and the sort key of its last row when more rows follow (else None).

    ``order`` must end with columns that identify a row, so that every row has its own place;
    ``after`` is the sort key of the row the page starts after (None: the first page).
    """
    statement = sa.select(table).where(condition)
    if after is not None:
        statement = statement.where(_after(order, after))
    ordering = [column.desc() if descending else column for column, descending in order]
    rows = list(session.execute(statement.order_by(*ordering).limit(limit + 1)).all())
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], tuple(last._mapping[column] for column, _ in order)


def count(session: Session, table: sa.Table, condition: sa.ColumnElement[bool]) -> int:
    """The number of rows matching ``condition``."""
    return int(session.execute(sa.select(sa.func.count()).select_from(table).where(condition)).scalar_one())


def _after(order: Sequence[SortColumn], key: SortKey) -> sa.ColumnElement[bool]:
    """Rows sorting after ``key``: later in the first column, or equal there and later in the next..."""
    if len(key) != len(order) or any(
        not isinstance(value, column.type.python_type) for (column, _), value in zip(order, key, strict=False)
    ):
        raise InvalidArgument.for_field("page_token", "is not a token this service issued")
    alternatives = []
    for index, (column, descending) in enumerate(order):
        equal_before = [order[j][0] == key[j] for j in range(index)]
        beyond = column < key[index] if descending else column > key[index]
        alternatives.append(sa.and_(*equal_before, beyond))
    return sa.or_(*alternatives)
