"""A small, safe filter language for List methods (a subset of AIP-160).

    filter     := or
    or         := and ("OR" and)*
    and        := unary (["AND"] unary)*         juxtaposition means AND
    unary      := ("NOT" | "-") unary | "(" or ")" | comparison
    comparison := field ("=" | "!=") value | "labels." key ":" "*"
    field      := name ["." key]                 only `labels` takes a key
    value      := "double-quoted" | 'single-quoted' | bare-word

The parser only builds a tree of :class:`Compare`/:class:`And`/:class:`Or`/
:class:`Not` over the fields a list method allows, with values already
checked and converted (enum names to members, model names to ids); the
store turns that tree into SQLAlchemy expressions with bound parameters.
No part of the filter text ever reaches SQL.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Literal

from services.models.validation import has_control_characters
from services.runtime.errors import InvalidArgument

MAX_FILTER_LENGTH = 1024
MAX_COMPARISONS = 32
MAX_DEPTH = 16

Kind = Literal["text", "enum", "labels", "model"]
Op = Literal["=", "!=", "has"]


@dataclass(frozen=True)
class FieldSpec:
    """How a filterable field is spelled and what its values are."""

    kind: Kind
    enum_type: type[enum.Enum] | None = None
    enum_prefix: str = ""
    """Prefix of the protobuf value names (``MODEL_TASK_``); also accepted without it."""


@dataclass(frozen=True)
class Compare:
    """``field op value``; ``key`` is the label key of ``labels.<key>``."""

    field: str
    op: Op
    value: str | enum.Enum | None
    key: str | None = None


@dataclass(frozen=True)
class And:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    term: Node


Node = Compare | And | Or | Not

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|=|:|\(|\)|\*|-)
      | (?P<word>[A-Za-z0-9_][A-Za-z0-9_./-]*)
    )""",
    re.VERBOSE,
)
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_MODEL_NAME = re.compile(r"models/([a-z][a-z0-9-]{0,62})")


def _error(description: str) -> InvalidArgument:
    return InvalidArgument.for_field("filter", description, reason="INVALID_FILTER")


_TokenKind = Literal["string", "op", "word"]
_TOKEN_KINDS: dict[str | None, _TokenKind] = {"string": "string", "op": "op", "word": "word"}


@dataclass(frozen=True)
class _Token:
    kind: _TokenKind
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _error(f"unexpected character at position {position}: {text[position : position + 10]!r}")
        kind = _TOKEN_KINDS[match.lastgroup]
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


class _Parser:
    def __init__(self, tokens: list[_Token], fields: dict[str, FieldSpec]) -> None:
        self._tokens = tokens
        self._index = 0
        self._fields = fields
        self._comparisons = 0

    def parse(self) -> Node:
        node = self._or(0)
        if self._index < len(self._tokens):
            token = self._tokens[self._index]
            raise _error(f"unexpected {token.text!r} at position {token.position}")
        return node

    def _peek(self) -> _Token | None:
        return self._tokens[self._index] if self._index < len(self._tokens) else None

    def _take(self) -> _Token:
        token = self._peek()
        if token is None:
            raise _error("unexpected end of the filter")
        self._index += 1
        return token

    def _is_keyword(self, word: str) -> bool:
        token = self._peek()
        return token is not None and token.kind == "word" and token.text == word

    def _or(self, depth: int) -> Node:
        terms = [self._and(depth)]
        while self._is_keyword("OR"):
            self._take()
            terms.append(self._and(depth))
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def _and(self, depth: int) -> Node:
        terms = [self._unary(depth)]
        while True:
            token = self._peek()
            if token is None or token.text == ")" or self._is_keyword("OR"):
                break
            if self._is_keyword("AND"):
                self._take()
            terms.append(self._unary(depth))
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def _unary(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise _error(f"nested deeper than {MAX_DEPTH} levels")
        token = self._take()
        if (token.kind == "word" and token.text == "NOT") or (token.kind == "op" and token.text == "-"):
            return Not(self._unary(depth + 1))
        if token.kind == "op" and token.text == "(":
            node = self._or(depth + 1)
            closing = self._peek()
            if closing is None or closing.text != ")":
                where = "at the end" if closing is None else f"at position {closing.position}"
                raise _error(f"expected ')' {where}")
            self._take()
            return node
        if token.kind != "word":
            raise _error(f"expected a field name at position {token.position}, got {token.text!r}")
        return self._comparison(token)

    def _comparison(self, field_token: _Token) -> Compare:
        self._comparisons += 1
        if self._comparisons > MAX_COMPARISONS:
            raise _error(f"at most {MAX_COMPARISONS} comparisons")
        name, _, key = field_token.text.partition(".")
        spec = self._fields.get(name)
        if spec is None:
            allowed = ", ".join(
                sorted(f"{field}.<key>" if s.kind == "labels" else field for field, s in self._fields.items())
            )
            raise _error(f"unknown field {field_token.text!r}; filterable fields: {allowed}")
        if spec.kind == "labels":
            if not _LABEL_KEY.fullmatch(key):
                raise _error(f"{field_token.text!r}: write labels.<key> with a valid label key")
        elif key:
            raise _error(f"{name!r} has no sub-fields")
        operator = self._take()
        if operator.kind != "op" or operator.text not in ("=", "!=", ":"):
            raise _error(
                f"expected '=', '!=' or ':' after {field_token.text!r} at position {operator.position}"
            )
        value = self._take()
        if operator.text == ":":
            if spec.kind != "labels" or value.text != "*":
                raise _error("':' is only supported as labels.<key>:* (the label is present)")
            return Compare(name, "has", None, key)
        if value.kind == "op":
            raise _error(f"expected a value at position {value.position}, got {value.text!r}")
        text = _unquote(value.text) if value.kind == "string" else value.text
        op: Op = "=" if operator.text == "=" else "!="
        return Compare(name, op, _convert(name, spec, text), key or None)


def _convert(name: str, spec: FieldSpec, text: str) -> str | enum.Enum:
    if spec.kind == "enum":
        assert spec.enum_type is not None
        member = spec.enum_type.__members__.get(text.removeprefix(spec.enum_prefix))
        if member is None:
            choices = ", ".join(spec.enum_prefix + member_name for member_name in spec.enum_type.__members__)
            raise _error(f"{name} must be one of {choices}, got {text!r}")
        return member
    if spec.kind == "model":
        match = _MODEL_NAME.fullmatch(text)
        if match is None:
            raise _error(f"{name} must be a model name models/{{model}}, got {text!r}")
        return match.group(1)
    return text


def parse_filter(text: str, fields: dict[str, FieldSpec]) -> Node | None:
    """The tree of ``text`` over ``fields``; None for an empty filter.  INVALID_ARGUMENT on errors."""
    if len(text) > MAX_FILTER_LENGTH:
        raise _error(f"at most {MAX_FILTER_LENGTH} characters")
    # Stored text has none (see validation.check_text), and PostgreSQL refuses NUL in any query.
    if has_control_characters(text, multiline=True):
        raise _error("must not contain control characters")
    tokens = _tokenize(text)
    if not tokens:
        return None
    return _Parser(tokens, fields).parse()
