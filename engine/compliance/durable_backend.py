"""The only module that talks to ``durable_rules``; its quirks stay in here.

Why the low-level ``durable_rules_engine`` calls rather than ``durable.lang``/``Host``:

* ``Host`` starts two timer threads per host that dispatch actions in the background,
  concurrently with ``post`` — and the engine is not thread-safe (jruizgit/rules#291).
  Here there are no background threads; every call on a ruleset happens under its lock.
* ``Host`` runs a Python closure per fired rule (≈30 µs each); here a fired rule costs
  ≈1 µs: we only need *which* rules matched, the effects are applied by the caller.
* Rulesets cannot be updated (#136, #319) and leak memory (#371). Measured on 2.0.28:
  ``delete_ruleset`` alone leaks ≈0.85 MB per 60-rule ruleset that has seen a fact,
  because the per-session state survives it; ``delete_state`` first, then
  ``delete_ruleset``, brings 200 create/evaluate/delete cycles down to ≈3 MB in total
  (bench/bench_rules_reload.py). We therefore compile each ruleset version once, never
  change it, and free it (state, then ruleset) only when no engine can reach it any
  more (``weakref.finalize``), so a delete never races an evaluation.

Facts are asserted (not posted as events) because an event is consumed by the first
rule that fires, and a verdict needs *every* matching rule. A catch-all sentinel rule
matches every fact, so ``MessageNotHandledException`` (#286) cannot happen, and its
absence from the results means the evaluation did not complete (→ fail closed).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import durable_rules_engine as _dre

from engine.compliance.errors import EvaluationError

SENTINEL = "tact_sentinel"
EVAL_FIELD = "_eval"
_SID = "0"
# Each ruleset version gets a process-unique name: the C engine keys internal state by it.
_names = itertools.count()
_HANDLED, _NOT_HANDLED, _OBSERVED = 0, 1, 2


def _free(handle: int, lock: threading.Lock) -> None:
    """Release a ruleset's memory: its session state first (that is what leaks), then it."""
    with lock:
        # The session state may not exist if nothing was ever evaluated.
        with contextlib.suppress(Exception):
            _dre.delete_state(handle, _SID)
        _dre.delete_ruleset(handle)


class DurableRuleset:
    """One immutable ``durable_rules`` ruleset that reports which named rules match a fact.

    Thread-safe: a lock serialises all calls into the engine. Each evaluation asserts one
    fact with a unique id, drains every fired rule, then retracts the fact; a fired rule
    whose message is not our fact (which would mean facts mixing between cases) raises.
    """

    def __init__(
        self,
        rules: Mapping[str, dict[str, Any]],
        label: str = "tact",
        fields: Sequence[str] = (),
    ) -> None:
        """``rules``: rule name → durable_rules definition. ``fields``: the fact fields, in
        the order :meth:`matches_values` receives them (a pre-built JSON template then
        replaces ``json.dumps`` on the hot path)."""
        if SENTINEL in rules:
            raise ValueError(f"rule name {SENTINEL!r} is reserved")
        definition = dict(rules)
        definition[SENTINEL] = {"all": [{"m": {"$ex": {EVAL_FIELD: 1}}}]}
        self.name = f"{label}_{next(_names)}"
        self.rule_names = frozenset(rules)
        self._lock = threading.Lock()
        self._handle: int = _dre.create_ruleset(self.name, json.dumps(definition))
        self._counter = itertools.count(1)
        self.posts = 0
        """Evaluations run in durable_rules (counted under the lock: exact)."""
        self._finalizer = weakref.finalize(self, _free, self._handle, self._lock)
        self.fields = tuple(fields)
        # Same spacing as json.dumps, so both entry points send identical text.
        self._template = (
            f'{{"sid": "{_SID}", "id": "e%d", "{EVAL_FIELD}": %d'
            + "".join(f', "{name}": %d' for name in self.fields)
            + "}"
        )

    def matches(self, fact: Mapping[str, int]) -> list[str]:
        """Names of the rules whose condition holds for ``fact`` (sentinel excluded)."""
        with self._lock:
            if not self._finalizer.alive:
                raise EvaluationError("the ruleset was released; reload the compliance engine")
            eval_id = next(self._counter)
            self.posts += 1
            payload = {"sid": _SID, "id": f"e{eval_id}", EVAL_FIELD: eval_id, **fact}
            return self._guarded(json.dumps(payload), eval_id)

    def matches_values(self, values: Sequence[int]) -> list[str]:
        """:meth:`matches` for integer values of :attr:`fields`, in that order."""
        if len(values) != len(self.fields):
            raise EvaluationError(f"expected {len(self.fields)} fact values, got {len(values)}")
        with self._lock:
            if not self._finalizer.alive:
                raise EvaluationError("the ruleset was released; reload the compliance engine")
            eval_id = next(self._counter)
            self.posts += 1
            return self._guarded(self._template % (eval_id, eval_id, *values), eval_id)

    def _guarded(self, text: str, eval_id: int) -> list[str]:
        """Run one evaluation (lock held); on any failure reset the session, fail closed."""
        try:
            return self._run(text, eval_id)
        except EvaluationError:
            self._reset()
            raise
        except Exception as exc:
            self._reset()
            raise EvaluationError(f"durable_rules failed: {exc!r}") from exc

    def _run(self, text: str, eval_id: int) -> list[str]:
        result = _dre.assert_fact(self._handle, text)
        code, state_handle = result[0], result[1]
        if code == _NOT_HANDLED:  # cannot happen with the sentinel; keep it fail closed
            raise EvaluationError("durable_rules: no rule matched, not even the sentinel")
        if code == _OBSERVED:
            raise EvaluationError("durable_rules: fact id already asserted (stale state)")
        fired: list[str] = []
        seen_sentinel = False
        marker = f'"id": "e{eval_id}"'
        try:
            started = _dre.start_action_for_state(self._handle, state_handle)
            message = started[1] if started else None
            while message:
                name = self._check(message, marker)
                if name == SENTINEL:
                    seen_sentinel = True
                elif name not in fired:  # an `$or` with two true branches fires twice
                    fired.append(name)
                message = _dre.complete_and_start_action(self._handle, state_handle)
        finally:
            _dre.retract_fact(self._handle, text)
        if not seen_sentinel:
            raise EvaluationError("durable_rules: evaluation did not complete (no sentinel)")
        return fired

    @staticmethod
    def _check(message: str, marker: str) -> str:
        # message = '{"<rule>":{"m":{"sid": "0", "id": "e<eval_id>", ...}}}' — we parse just
        # enough to get the rule name and to prove (``marker`` = '"id": "e<eval_id>"') that
        # the fact is this evaluation's.
        end = message.index('"', 2)
        name = message[2:end]
        if marker not in message[end : end + 64]:
            raise EvaluationError(
                f"durable_rules returned a fact of another evaluation for rule {name}"
            )
        return name

    def _reset(self) -> None:
        # After a failure the session may hold a half-processed fact: drop the session so
        # that the next evaluation starts clean (it is recreated on the next assert).
        with contextlib.suppress(Exception):
            _dre.delete_state(self._handle, _SID)

    def close(self) -> None:
        """Free the engine memory now (normally done when the object becomes unreachable)."""
        self._finalizer()
