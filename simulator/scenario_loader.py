"""Load scenario YAML into :class:`simulator.scenario.Scenario`, with errors that name the
file, line and field and say how to fix them."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from simulator.errors import ScenarioError, ScenarioNotFoundError
from simulator.scenario import Scenario

SCENARIO_DIR = Path(__file__).parent / "scenarios"
DEFAULT_SCENARIO = "nordic-telecom"


def available_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``simulator/scenarios/``."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def scenario_path(name_or_path: str | Path) -> Path:
    """Resolve a shipped scenario name or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate
    shipped = SCENARIO_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    raise ScenarioNotFoundError(
        f"no scenario {str(name_or_path)!r}: give a path to a .yaml file or one of "
        f"{', '.join(available_scenarios())}"
    )


def load_scenario(name_or_path: str | Path = DEFAULT_SCENARIO) -> Scenario:
    """Load and validate a scenario by shipped name or file path."""
    path = scenario_path(name_or_path)
    return parse_scenario(path.read_text(encoding="utf-8"), source=str(path))


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate scenario YAML text; ``source`` names the file in error messages."""
    try:
        data = yaml.safe_load(text)
        lines = _line_numbers(yaml.compose(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ScenarioError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a YAML mapping of fields at the top level")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, source, lines)) from None


def _line_numbers(node: yaml.Node | None) -> dict[tuple[str | int, ...], int]:
    """Map each key path of the YAML document to the 1-based line where it starts."""
    out: dict[tuple[str | int, ...], int] = {}

    def walk(n: yaml.Node, path: tuple[str | int, ...]) -> None:
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                child = (*path, str(key.value))
                out[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                out[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    if node is not None:
        walk(node, ())
    return out


def _describe(exc: ValidationError, source: str, lines: dict[tuple[str | int, ...], int]) -> str:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        line = next((lines[loc[:k]] for k in range(len(loc), 0, -1) if loc[:k] in lines), None)
        where = f"{source}:{line}" if line else source
        field = ".".join(str(p) for p in loc) or "<top level>"
        problems.append(f"{where}: {field}: {_hint(error, loc)}")
    count = len(problems)
    head = f"scenario {source} has {count} problem{'s' if count > 1 else ''}:\n  "
    return head + "\n  ".join(problems)


def _hint(error: Any, loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing; add it (see simulator/scenarios/nordic-telecom.yaml)"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = ", ".join(model.model_fields) if model else "see simulator/scenario.py"
        return f"unknown field; allowed here: {allowed}"
    if kind == "string_type" and isinstance(error.get("input"), bool):
        return (
            "YAML read this as a boolean (NO, yes, off ... are booleans in YAML 1.1); "
            'quote it, e.g. country: "NO"'
        )
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{message} (got {error.get('input')!r})" if kind != "value_error" else message


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping found at ``loc`` in a scenario."""
    annotation: Any = Scenario
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) in (list, tuple):
            annotation = get_args(annotation)[0]
        else:
            return None
    annotation = _unwrap(annotation)
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def _unwrap(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation
