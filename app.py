#!/usr/bin/env python3
"""CDK entry point: ``cdk deploy -c env=prod -c endpoint_type=realtime``.

The only place that reads CDK context or environment variables. ``-c local_aws=true`` (set by
``python -m local_aws deploy``) synthesizes for the local AWS. A bad flag or config prints one
message naming file, field, value and what is allowed, exits non-zero, and synthesizes nothing.
The deployed option's monthly cost at the environment's ``traffic:`` profile is printed to stderr;
over the ``budget:`` without an acknowledgment it is such an error too.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from cost_advisor.guard import check_deployed_cost, served_model
from cost_advisor.llm_check import check_llm_serving, llm_model_size
from endpoint_configs import (
    ConfigError,
    Problem,
    available_environments,
    load_environment_config,
    resolve_endpoint_type,
)
from model_packaging.environment import prepare_artifact
from stacks.environment import add_environment, locate_artifact

EXIT_CONFIG_ERROR = 2
PROJECT_ROOT = Path(__file__).resolve().parent
CDK_JSON = PROJECT_ROOT / "cdk.json"
FLAG_HINT = "cdk -c env=... -c endpoint_type=..., or make ENV=... ENDPOINT_TYPE=..."


def cdk_json_context() -> dict[str, Any]:
    """The context the cdk CLI passes to this app (feature flags and defaults), for in-process
    synths in tests and benchmarks."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    return context


CONTEXT_FLAGS = ("env", "endpoint_type", "local_aws")
"""The context keys this app reads. CDK's own keys all contain a colon (``aws:cdk:...``,
``@aws-cdk/...:...``); any other key is a mistyped flag."""


def context_problems(context: dict[str, Any]) -> list[Problem]:
    """Context keys that are neither ours nor CDK's, e.g. ``-c endpoint-type=async``, which would
    otherwise be ignored while the default endpoint type is deployed."""
    problems = []
    for key in sorted(k for k in context if ":" not in k and k not in CONTEXT_FLAGS):
        close = difflib.get_close_matches(key.replace("-", "_"), CONTEXT_FLAGS, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        problems.append(
            Problem(key, f"unknown context key; {hint}allowed: {', '.join(CONTEXT_FLAGS)}", context[key])
        )
    return problems


def build_app(app: cdk.App) -> None:
    """Add the stacks the context asks for; raise ``ConfigError`` for bad flags or config."""
    problems = context_problems(app.node.get_all_context())
    if problems:
        raise ConfigError(f"context flags ({FLAG_HINT})", problems)
    env_name = str(app.node.try_get_context("env") or "")
    choices = available_environments()
    if env_name not in choices:
        raise ConfigError(
            f"environment ({FLAG_HINT})",
            [Problem("env", f"unknown environment; allowed: {', '.join(choices)}", env_name)],
        )
    config = load_environment_config(env_name)
    requested = app.node.try_get_context("endpoint_type")
    kind = resolve_endpoint_type(config, requested, source=f"endpoint type of '{env_name}' ({FLAG_HINT})")
    source = f"endpoint_configs/{env_name}.yaml"
    built = prepare_artifact(config, [kind], project_root=PROJECT_ROOT, source=source)
    for line in check_llm_serving(config, [kind], project_root=PROJECT_ROOT, source=source):
        print(f"GPU sizing: {line}", file=sys.stderr)
    model = served_model(built) or llm_model_size(config, project_root=PROJECT_ROOT)
    cost = check_deployed_cost(config, kind, model=model, source=source)
    print(cost.describe(), file=sys.stderr)
    local_aws = str(app.node.try_get_context("local_aws") or "false").lower() == "true"
    add_environment(
        app, config, kind, artifact=locate_artifact(config.model.artifact, built), local_aws=local_aws
    )


def main() -> int:
    app = cdk.App()
    try:
        build_app(app)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG_ERROR
    try:
        app.synth()
    except RuntimeError as error:
        # jsii surfaces a failed policy validation (cdk-nag) as RuntimeError after CDK has
        # printed the findings; the report path is in the message.
        if "ValidationFailed" not in str(error):
            raise
        print(f"synth stopped: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
