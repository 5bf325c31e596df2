"""YAML loading that keeps line/column marks, and pydantic validation whose errors point
at the offending place in the file.

Two YAML 1.1 traps are closed here: ``NO`` (Norway) must stay a string, not ``False``,
and dates/times stay strings until pydantic parses them, so the only booleans are
``true``/``false`` and nothing is converted behind the officer's back.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from engine.compliance.errors import RuleIssue

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class RulesYamlLoader(_Base):  # type: ignore[misc, valid-type]
    """SafeLoader with YAML 1.2 booleans only and no implicit timestamps."""


RulesYamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RulesYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass(frozen=True, slots=True)
class Located:
    """A parsed YAML document with the 1-based (line, column) of every node by path."""

    path: Path
    data: Any
    marks: dict[Path_, tuple[int, int]]
    """Where each value starts."""
    key_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    """Where each mapping key starts (for "unknown key" errors)."""

    def mark_of(self, loc: Path_, *, key: bool = False) -> tuple[int, int]:
        """Mark of ``loc`` (its key with ``key=True``) or, if absent (e.g. a missing
        key), of its closest parent."""
        if key and tuple(loc) in self.key_marks:
            return self.key_marks[tuple(loc)]
        probe = tuple(loc)
        while probe and probe not in self.marks:
            probe = probe[:-1]
        return self.marks.get(probe, (1, 1))


def _walk(
    node: yaml.Node,
    path: Path_,
    marks: dict[Path_, tuple[int, int]],
    key_marks: dict[Path_, tuple[int, int]],
) -> None:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            key_marks[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(value_node, (*path, key), marks, key_marks)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), marks, key_marks)


def load_located(path: Path, text: str | None = None) -> Located:
    """Parse ``path`` (or ``text`` as its content); raises a one-issue RulesError-ready
    :class:`RuleIssue` list via :class:`YamlSyntaxError` on bad YAML."""
    if text is None:
        text = path.read_text(encoding="utf-8")
    loader = RulesYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Located(path, None, {(): (1, 1)})
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise YamlSyntaxError(
            RuleIssue(
                path,
                line,
                col,
                "",
                f"not valid YAML: {exc.problem or exc}",
                "check indentation (spaces, not tabs) and quote values that contain ': ' or '#'",
            )
        ) from None
    finally:
        loader.dispose()
    marks: dict[Path_, tuple[int, int]] = {}
    key_marks: dict[Path_, tuple[int, int]] = {}
    _walk(node, (), marks, key_marks)
    return Located(path, data, marks, key_marks)


class YamlSyntaxError(Exception):
    """A file is not YAML at all; carries the located issue."""

    def __init__(self, issue: RuleIssue) -> None:
        self.issue = issue
        super().__init__(str(issue))


def rule_id_at(data: Any, loc: Path_) -> str:
    """The ``id`` of the rule that ``loc`` points into, if it points into ``rules[i]``."""
    if len(loc) >= 2 and loc[0] in ("rules", "cases") and isinstance(loc[1], int):
        try:
            item = data[loc[0]][loc[1]]
        except (KeyError, IndexError, TypeError):
            return ""
        if isinstance(item, dict):
            return str(item.get("id") or item.get("name") or "")
    return ""


def _allowed_keys(model: type[BaseModel], loc: Path_) -> list[str]:
    """Field names allowed at ``loc``'s parent, for 'did you mean' hints."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        annotation = fields[part].annotation
        current = _model_in(annotation)
        if current is None:
            return []
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _fix_for(error: Any, model: type[BaseModel], loc: Path_) -> str:
    kind = error["type"]
    field = str(loc[-1]) if loc else ""
    if kind == "missing":
        return f"add `{field}` here (see docs/rules.md for its meaning)"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc)
        close = difflib.get_close_matches(field, allowed, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        listing = f"allowed keys here: {', '.join(allowed)}" if allowed else "remove it"
        return f"{hint}{listing}"
    if kind in ("enum", "literal_error"):
        expected = error.get("ctx", {}).get("expected", "")
        return f"use one of {expected}" if expected else "use one of the listed values"
    if kind == "string_pattern_mismatch":
        return f"the value must match {error.get('ctx', {}).get('pattern', '')}"
    if kind == "value_error":
        cause = error.get("ctx", {}).get("error")
        fix = getattr(cause, "fix", None)
        return str(fix) if fix else "see docs/rules.md for the format of this value"
    if kind.startswith(("int", "bool", "string", "list", "dict", "model")):
        return f"give `{field}` the right type ({kind.replace('_', ' ')})"
    return "see docs/rules.md for the format"


def validate_located(located: Located, model: type[M]) -> tuple[M | None, list[RuleIssue]]:
    """Validate ``located.data`` as ``model``; every pydantic error becomes a located issue."""
    try:
        return model.model_validate(located.data), []
    except ValidationError as exc:
        errors = [(error, _clean_loc(error["loc"])) for error in exc.errors()]
        renames = _misspelt_required(errors, model)
        issues: list[RuleIssue] = []
        for error, loc in errors:
            if error["type"] == "missing" and loc in renames.values():
                continue  # reported once, at the misspelt key
            line, col = located.mark_of(loc, key=error["type"] == "extra_forbidden")
            message = error["msg"].removeprefix("Value error, ")
            fix = _fix_for(error, model, loc)
            if loc in renames:
                message = f"`{loc[-1]}` is not a field here, and `{renames[loc][-1]}` is missing"
                fix = f"rename `{loc[-1]}` to `{renames[loc][-1]}`"
            where = ".".join(str(p) for p in loc) or "(file)"
            issues.append(
                RuleIssue(
                    located.path,
                    line,
                    col,
                    rule_id_at(located.data, loc),
                    f"{where}: {message}",
                    fix,
                )
            )
        return None, issues


def _clean_loc(loc: Any) -> Path_:
    """pydantic adds the union member / validator name to ``loc`` for some errors."""
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def _misspelt_required(
    errors: list[tuple[Any, Path_]], model: type[BaseModel]
) -> dict[Path_, Path_]:
    """Misspelt key → the required field it stands for (both at one place): a typo in a
    required key is one problem, not "field required" plus "extra input"."""
    missing = {loc for error, loc in errors if error["type"] == "missing"}
    renames: dict[Path_, Path_] = {}
    for error, loc in errors:
        if error["type"] != "extra_forbidden" or not loc:
            continue
        allowed = _allowed_keys(model, loc)
        for close in difflib.get_close_matches(str(loc[-1]), allowed, n=1):
            if (*loc[:-1], close) in missing:
                renames[loc] = (*loc[:-1], close)
    return renames
