"""Load ``endpoint_configs/<env>.yaml``, validate it, and report every problem in one message."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from endpoint_configs.compilation import compilation_problems
from endpoint_configs.environment import WORKLOAD_KINDS, EnvironmentConfig
from endpoint_configs.errors import ConfigError, Problem
from endpoint_configs.images import image_problems
from endpoint_configs.optimization import optimization_problems
from endpoint_configs.workload import WorkloadBlock

CONFIG_DIR = Path(__file__).resolve().parent


class _DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: Any, first_line: int, line: int) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.where = f"line {line}"
        self.message = (
            f"key {key!r} is given twice (first on line {first_line}); YAML would keep only the last: "
            "give it once"
        )


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _DuplicateKeyError(key, seen[key], line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


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
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKeyError as error:
        raise ConfigError(source, [Problem(error.where, error.message, has_value=False)]) from None
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
    compiling = compilation_problems(config)
    problems.extend(compiling or image_problems(config))
    problems.extend(optimization_problems(config))
    if problems:
        raise ConfigError(source, problems)
    return config


def resolve_endpoint_type(config: EnvironmentConfig, requested: str | None, *, source: str) -> str:
    """``requested`` or the environment's default; an error lists the types it offers."""
    if requested in (None, "", "default"):
        return config.default_endpoint_type
    if requested not in WORKLOAD_KINDS:
        raise ConfigError(
            source,
            [
                Problem(
                    "endpoint_type", f"unknown endpoint type; allowed: {', '.join(WORKLOAD_KINDS)}", requested
                )
            ],
        )
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
    tagged = tuple(error["loc"])
    location = _strip_union_tags(tagged)
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(tagged[:-1])
        message = "unknown key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        return Problem(_format_location(location), message, has_value=False)
    if kind == "missing":
        return Problem(_format_location(location), "required key is missing", has_value=False)
    if kind == "union_tag_invalid":
        message = f"unknown endpoint type; allowed: {error['ctx']['expected_tags']}"
        return Problem(_format_location((*location, "type")), message, error["ctx"]["tag"])
    value = error.get("input")
    hint = _type_hint(kind, value)
    if hint is not None:
        return Problem(_format_location(location), hint, value)
    if isinstance(value, dict):
        return Problem(_format_location(location), message, has_value=False)
    return Problem(_format_location(location), message, value)


def _type_hint(kind: str, value: Any) -> str | None:
    """Say how to write a value YAML read as the wrong type (quoted numbers, unquoted versions)."""
    if kind in ("int_type", "float_type") and isinstance(value, str):
        return "is text, not a number; write it without quotes"
    if kind == "bool_type":
        return "allowed: true or false, without quotes"
    if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        return f'is a number, not text; put it in quotes, e.g. "{value}"'
    return None


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
    return parent[:1] == ("endpoints",) and len(parent) == 2 and part in WORKLOAD_KINDS


def _allowed_keys(location: tuple[int | str, ...]) -> list[str]:
    """Field names of the model at pydantic's ``location`` (for 'unknown key' messages). A union
    member is chosen by the tag pydantic puts after the list index (``endpoints.1.serverless``)."""
    candidates: Sequence[type[BaseModel]] = [EnvironmentConfig]
    for part in location:
        if isinstance(part, int):
            continue
        tagged = [m for m in candidates if issubclass(m, WorkloadBlock) and m.kind() == part]
        if tagged:
            candidates = tagged
            continue
        if len(candidates) != 1 or part not in candidates[0].model_fields:
            return []
        candidates = _models_in(candidates[0].model_fields[part].annotation)
    return list(candidates[0].model_fields) if len(candidates) == 1 else []


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside Optional[...], list[...], Annotated[...] or a union."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (list, dict, typing.Union, types.UnionType):
        return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]
    return []
