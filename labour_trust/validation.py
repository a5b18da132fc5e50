"""Pydantic validation errors as messages a person can act on (a plain module: no Dagster).

One line per problem, naming the file, where in it, the field and the rule broken, e.g.
``evaluations.yaml: evaluation 'x', field horizons.1: Input should be greater than 0`` or
``policy.yaml: field threshold must be an integer >= 1, got 0``.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]


def _anywhere(loc: Loc) -> tuple[str, Loc]:
    return "", loc


def describe_validation_error(
    error: ValidationError,
    source: str,
    *,
    locate: Callable[[Loc], tuple[str, Loc]] = _anywhere,
    model: type[BaseModel] | None = None,
) -> str:
    """``error`` as one line per problem: ``{source}: {where}, field {field}: {message}``.

    - ``locate(loc)`` splits an error's location into a place a person recognises (e.g.
      ``evaluation 'x'``; ``""`` for none) and the field path within it;
    - ``model``: the top-level model. Its fields' ``description`` is their rule, so that a
      problem reads ``field threshold must be an integer >= 1, got 0`` (whichever
      constraint of the rule failed), and an unknown key is listed with the valid ones.
    """
    rules = {n: f.description for n, f in (model.model_fields if model else {}).items()}
    lines: list[str] = []
    for problem in error.errors(include_url=False):
        where, loc = locate(tuple(problem["loc"]))
        field = ".".join(str(p) for p in loc)
        given = problem.get("input")
        rule = rules.get(field)
        if problem["type"] == "extra_forbidden" and model is not None and len(loc) == 1:
            line = f"unknown key {field!r}; valid keys are {', '.join(sorted(rules))}"
            head = where
        elif rule:
            line = f"{', '.join(p for p in (where, f'field {field}') if p)} must be {rule}"
            line += f", got {given!r}"
            head = ""
        else:
            line = problem["msg"].removeprefix("Value error, ")
            if problem["type"] == "literal_error" and not isinstance(given, dict | list):
                line += f", got {given!r}"
            head = ", ".join(p for p in (where, f"field {field}" if field else "") if p)
        text = f"{source}: {head}: {line}" if head else f"{source}: {line}"
        if text not in lines:  # a union reports one value once per member
            lines.append(text)
    return "\n".join(lines)
