"""Load ``endpoint_configs/<env>.yaml``, validate it, and report every problem in one message."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from endpoint_configs.errors import ConfigError, Problem
from endpoint_configs.images import image_problems
from endpoint_configs.models import ENDPOINT_TYPES, EnvironmentConfig

CONFIG_DIR = Path(__file__).resolve().parent


def available_environments(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in config_dir.glob("*.yaml"))


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_environment_config(environment: str, config_dir: Path = CONFIG_DIR) -> EnvironmentConfig:
    """Read and validate ``<config_dir>/<environment>.yaml``; raise ``ConfigError`` on any problem."""
    path = config_dir / f"{environment}.yaml"
    if not path.is_file():
        choices = ", ".join(available_environments(config_dir)) or "none"
        raise ConfigError(
            _display_path(path),
            [Problem("env", f"no such environment file; allowed: {choices}", environment)],
        )
    return parse_config(
        path.read_text(encoding="utf-8"), source=_display_path(path), expected_env=environment
    )


def parse_config(text: str, *, source: str, expected_env: str | None = None) -> EnvironmentConfig:
    """Validate YAML text; ``source`` names it in messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(unknown position)"
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(source, [Problem(where, f"not valid YAML: {problem}", has_value=False)]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, [Problem("", "the file must hold a mapping of keys", data)])
    try:
        config = EnvironmentConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(source, [_problem_from(e) for e in error.errors()]) from None
    problems: list[Problem] = []
    if expected_env is not None and config.environment != expected_env:
        problems.append(
            Problem("environment", f"must match the file name '{expected_env}'", config.environment)
        )
    problems.extend(image_problems(config))
    if problems:
        raise ConfigError(source, problems)
    return config


def resolve_endpoint_type(config: EnvironmentConfig, requested: str | None, *, source: str) -> str:
    """``requested`` or the environment's default; an error lists the types it offers."""
    if requested in (None, "", "default"):
        return config.default_endpoint_type
    if requested not in config.offered_endpoint_types:
        choices = ", ".join(config.offered_endpoint_types)
        raise ConfigError(
            source,
            [
                Problem(
                    "endpoint_type", f"not offered by '{config.environment}'; allowed: {choices}", requested
                )
            ],
        )
    return requested


def _format_location(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problem_from(error: Any) -> Problem:
    location = _strip_union_tags(tuple(error["loc"]))
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(location[:-1])
        message = "unknown key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        return Problem(_format_location(location), message, has_value=False)
    if kind == "missing":
        return Problem(_format_location(location), "required key is missing", has_value=False)
    if kind == "union_tag_invalid":
        message = f"unknown endpoint type; allowed: {error['ctx']['expected_tags']}"
        return Problem(_format_location((*location, "type")), message, error["ctx"]["tag"])
    value = error.get("input")
    if isinstance(value, dict):
        return Problem(_format_location(location), message, has_value=False)
    return Problem(_format_location(location), message, value)


def _strip_union_tags(location: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Pydantic puts the discriminator value after a list index: endpoints.0.realtime.x."""
    stripped: list[int | str] = []
    for index, part in enumerate(location):
        previous = location[index - 1] if index else None
        if isinstance(previous, int) and isinstance(part, str) and _is_union_tag(location[:index], part):
            continue
        stripped.append(part)
    return tuple(stripped)


def _is_union_tag(parent: tuple[int | str, ...], part: str) -> bool:
    return parent[:1] == ("endpoints",) and len(parent) == 2 and part in ENDPOINT_TYPES


def _allowed_keys(location: tuple[int | str, ...]) -> list[str]:
    """Field names of the model at ``location`` (for 'unknown key' messages)."""
    model: Any = EnvironmentConfig
    for part in location:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _model_in(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside Optional[...], list[...] or Annotated[...]."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
