"""The `when:` condition language compiles to the same logic for durable_rules and numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compliance import expressions as ex
from engine.compliance.durable_backend import DurableRuleset
from engine.state import NEVER

FACTS = ("a", "b", "c")


def test_parse_and_normalise() -> None:
    expr = ex.parse_condition("not (a or b >= 3) and 0 < c <= NEVER", FACTS)
    assert expr == ex.AllOf(
        (
            ex.Cmp("a", "==", 0),
            ex.Cmp("b", "<", 3),
            ex.Cmp("c", ">", 0),
            ex.Cmp("c", "<=", NEVER),
        )
    )
    assert ex.parse_condition("true", FACTS) == ex.TRUE
    assert ex.parse_condition("a and false", FACTS) == ex.FALSE
    assert ex.parse_condition("3 > b", FACTS) == ex.Cmp("b", "<", 3)


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("a and bb > 1", 7, "unknown fact 'bb'"),
        ("a > b", 1, "one fact with one number"),
        ("a + 1 > 2", 1, "one fact with one number"),
        ("a > 1.5", 5, "not a whole number"),
        ("a >", 0, "cannot read"),  # Python reports syntax error columns loosely
        ("a in (1, 2)", 1, "not allowed"),
        ("f(a)", 1, "is not a condition"),
    ],
)
def test_errors_point_at_the_column(text: str, column: int, message: str) -> None:
    with pytest.raises(ex.ExpressionError) as err:
        ex.parse_condition(text, FACTS)
    assert message in str(err.value) and err.value.fix
    assert err.value.column == column or (column == 0 and err.value.column >= 1)


_leaf = st.builds(
    ex.Cmp,
    st.sampled_from(FACTS),
    st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
    st.integers(-2, 3),
)
_exprs = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: ex.all_of(*xs)),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: ex.any_of(*xs)),
        inner.map(ex.negate),
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(_exprs, st.lists(st.tuples(*(st.integers(-3, 4),) * 3), min_size=1, max_size=8))
def test_durable_and_numpy_agree_on_any_condition(expr: ex.Expr, rows: list) -> None:  # type: ignore[type-arg]
    if isinstance(expr, ex.Const):
        return
    rules = DurableRuleset({"r": {"all": [{"m": ex.to_durable(expr)}]}})
    columns = {f: np.array([r[k] for r in rows]) for k, f in enumerate(FACTS)}
    expected = ex.evaluate_numpy(expr, columns, len(rows))
    for row, want in zip(rows, expected, strict=True):
        got = rules.matches(dict(zip(FACTS, row, strict=True))) == ["r"]
        assert got == bool(want), ex.describe(expr)
    # negation really is the complement
    assert np.array_equal(ex.evaluate_numpy(ex.negate(expr), columns, len(rows)), ~expected)
