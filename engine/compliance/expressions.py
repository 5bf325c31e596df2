"""The ``when:`` condition language: a tiny, safe subset of Python expressions over facts.

``dispute or (days_past_due < 30 and not vulnerable)``

Allowed: fact names, integers, ``true``/``false`` (or ``True``/``False``), ``NEVER``,
comparisons ``== != < <= > >=`` between a fact and a number (chains such as
``0 < x <= 5`` too), ``and``, ``or``, ``not`` and parentheses. A bare fact means
"is not 0". Nothing is ever executed: the text is parsed with :mod:`ast` into a small
tree (:data:`Expr`) that compiles to a ``durable_rules`` condition *and* to a numpy
predicate, so both evaluation paths read the same parsed condition.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.state import NEVER

_CONSTANTS: dict[str, int] = {"NEVER": NEVER, "true": 1, "false": 0}

_OPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_MIRROR = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NEGATE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_DURABLE_OP = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
_NUMPY_OP: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True, slots=True)
class Cmp:
    """``fact op value``."""

    fact: str
    op: str
    value: int


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


Expr = Cmp | AllOf | AnyOf | Const
TRUE = Const(True)
FALSE = Const(False)


class ExpressionError(ValueError):
    """A ``when:`` condition is not valid; ``column`` is 1-based within the text."""

    def __init__(self, message: str, column: int, fix: str) -> None:
        self.column = column
        self.fix = fix
        super().__init__(message)


def all_of(*items: Expr) -> Expr:
    """Conjunction with constant folding and flattening."""
    flat: list[Expr] = []
    for item in items:
        if item == TRUE:
            continue
        if item == FALSE:
            return FALSE
        flat.extend(item.items if isinstance(item, AllOf) else (item,))
    if not flat:
        return TRUE
    return flat[0] if len(flat) == 1 else AllOf(tuple(flat))


def any_of(*items: Expr) -> Expr:
    """Disjunction with constant folding and flattening."""
    flat: list[Expr] = []
    for item in items:
        if item == FALSE:
            continue
        if item == TRUE:
            return TRUE
        flat.extend(item.items if isinstance(item, AnyOf) else (item,))
    if not flat:
        return FALSE
    return flat[0] if len(flat) == 1 else AnyOf(tuple(flat))


def negate(expr: Expr) -> Expr:
    """``not expr``, pushed down to the comparisons (De Morgan)."""
    if isinstance(expr, Const):
        return Const(not expr.value)
    if isinstance(expr, Cmp):
        return Cmp(expr.fact, _NEGATE[expr.op], expr.value)
    if isinstance(expr, AllOf):
        return any_of(*(negate(i) for i in expr.items))
    return all_of(*(negate(i) for i in expr.items))


def parse_condition(text: str, known_facts: Iterable[str]) -> Expr:
    """Parse a ``when:`` text; raises :class:`ExpressionError` with a column and a fix."""
    known = frozenset(known_facts)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(
            f"cannot read condition {text!r}: {exc.msg}",
            exc.offset or 1,
            "write comparisons joined by and / or / not, e.g. 'dispute or days_past_due < 30'",
        ) from None
    # ast column offsets are relative to the stripped text
    shift = len(text) - len(text.lstrip())
    return _convert(tree.body, known, shift)


def _convert(node: ast.expr, known: frozenset[str], shift: int) -> Expr:
    col = getattr(node, "col_offset", 0) + shift + 1
    if isinstance(node, ast.BoolOp):
        parts = [_convert(v, known, shift) for v in node.values]
        return all_of(*parts) if isinstance(node.op, ast.And) else any_of(*parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return negate(_convert(node.operand, known, shift))
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        out: list[Expr] = []
        for (left, right), op in zip(itertools.pairwise(operands), node.ops, strict=True):
            if type(op) not in _OPS:
                raise ExpressionError(
                    f"operator {type(op).__name__} is not allowed",
                    col,
                    "use one of == != < <= > >=",
                )
            out.append(_comparison(left, _OPS[type(op)], right, known, shift))
        return all_of(*out)
    if isinstance(node, ast.Name):
        if node.id in ("True", "true"):
            return TRUE
        if node.id in ("False", "false"):
            return FALSE
        return Cmp(_fact(node, known, shift), "!=", 0)
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return Const(node.value)
    raise ExpressionError(
        f"{ast.unparse(node)!r} is not a condition",
        col,
        "a condition is a fact (e.g. dispute), a comparison (e.g. days_past_due >= 30), "
        "or such conditions joined with and / or / not",
    )


def _comparison(
    left: ast.expr, op: str, right: ast.expr, known: frozenset[str], shift: int
) -> Expr:
    left_is_fact = isinstance(left, ast.Name) and left.id not in _NON_FACTS
    right_is_fact = isinstance(right, ast.Name) and right.id not in _NON_FACTS
    if left_is_fact == right_is_fact:
        raise ExpressionError(
            f"comparison {ast.unparse(left)} {op} {ast.unparse(right)} must compare one fact "
            "with one number",
            getattr(left, "col_offset", 0) + shift + 1,
            "write e.g. 'days_past_due >= 30'; facts cannot be compared with each other",
        )
    if left_is_fact:
        assert isinstance(left, ast.Name)
        return Cmp(_fact(left, known, shift), op, _number(right, shift))
    assert isinstance(right, ast.Name)
    return Cmp(_fact(right, known, shift), _MIRROR[op], _number(left, shift))


_BOOL_NAMES = {"True", "False"}
_NON_FACTS = frozenset(_CONSTANTS) | _BOOL_NAMES


def _fact(node: ast.Name, known: frozenset[str], shift: int) -> str:
    if node.id not in known:
        close = difflib.get_close_matches(node.id, sorted(known), n=3)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise ExpressionError(
            f"unknown fact {node.id!r}",
            node.col_offset + shift + 1,
            f"{hint}the facts are listed in docs/rules.md (section 'Facts')",
        )
    return node.id


def _number(node: ast.expr, shift: int) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, bool | int):
        return int(node.value)
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.Name) and node.id in _BOOL_NAMES:
        return int(node.id == "True")
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int)
    ):
        return -int(node.operand.value)
    raise ExpressionError(
        f"{ast.unparse(node)!r} is not a whole number",
        getattr(node, "col_offset", 0) + shift + 1,
        "compare facts with whole numbers, true/false or NEVER",
    )


# --- compilation targets -----------------------------------------------------------------


def to_durable(expr: Expr, fields: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``durable_rules`` JSON test for ``expr`` (not for constants: fold them first).

    ``fields`` renames facts to the short field names the ruleset is compiled with.
    """
    if isinstance(expr, Cmp):
        name = fields[expr.fact] if fields else expr.fact
        if expr.op == "==":
            return {name: expr.value}
        return {_DURABLE_OP[expr.op]: {name: expr.value}}
    if isinstance(expr, AllOf):
        return {"$and": [to_durable(i, fields) for i in expr.items]}
    if isinstance(expr, AnyOf):
        return {"$or": [to_durable(i, fields) for i in expr.items]}
    raise AssertionError(f"constant {expr} must be folded before compiling to durable_rules")


def evaluate_numpy(expr: Expr, facts: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """``expr`` over fact columns of length ``n`` → bool array."""
    if isinstance(expr, Const):
        return np.full(n, expr.value, dtype=bool)
    if isinstance(expr, Cmp):
        return np.asarray(_NUMPY_OP[expr.op](facts[expr.fact], expr.value), dtype=bool)
    parts = [evaluate_numpy(i, facts, n) for i in expr.items]
    if isinstance(expr, AllOf):
        return np.logical_and.reduce(parts)
    return np.logical_or.reduce(parts)


def facts_used(expr: Expr) -> set[str]:
    if isinstance(expr, Cmp):
        return {expr.fact}
    if isinstance(expr, AllOf | AnyOf):
        return set().union(*(facts_used(i) for i in expr.items))
    return set()


def describe(expr: Expr) -> str:
    """Readable text of ``expr`` (for explanations)."""
    if isinstance(expr, Const):
        return "always" if expr.value else "never"
    if isinstance(expr, Cmp):
        value = "NEVER" if expr.value == NEVER else str(expr.value)
        return f"{expr.fact} {expr.op} {value}"
    joiner = " and " if isinstance(expr, AllOf) else " or "
    return "(" + joiner.join(describe(i) for i in expr.items) + ")"
