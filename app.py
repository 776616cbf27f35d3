#!/usr/bin/env python3
"""CDK entry point: ``cdk deploy -c env=prod -c endpoint_type=realtime``.

The only place that reads CDK context or environment variables. ``-c local_aws=true`` (set by
``python -m local_aws deploy``) synthesizes for the local AWS. A bad flag or config prints one
message naming file, field, value and what is allowed, exits non-zero, and synthesizes nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from endpoint_configs import (
    ConfigError,
    Problem,
    available_environments,
    load_environment_config,
    memory_problems,
    resolve_endpoint_type,
)
from model_packaging.errors import PackagingError
from stacks.environment import add_environment, locate_artifact

EXIT_CONFIG_ERROR = 2
PROJECT_ROOT = Path(__file__).resolve().parent
CDK_JSON = PROJECT_ROOT / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """The context the cdk CLI passes to this app (feature flags and defaults), for in-process
    synths in tests and benchmarks."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]
    return context


def build_app(app: cdk.App) -> None:
    """Add the stacks the context asks for; raise ``ConfigError`` for bad flags or config."""
    env_name = str(app.node.try_get_context("env") or "")
    choices = available_environments()
    if env_name not in choices:
        raise ConfigError(
            "-c env", [Problem("env", f"unknown environment; allowed: {', '.join(choices)}", env_name)]
        )
    config = load_environment_config(env_name)
    requested = app.node.try_get_context("endpoint_type")
    kind = resolve_endpoint_type(config, requested, source=f"-c endpoint_type (env {env_name})")
    source = f"endpoint_configs/{env_name}.yaml"
    try:
        artifact = locate_artifact(config.model.artifact, project_root=PROJECT_ROOT)
    except PackagingError as error:
        raise ConfigError(source, [Problem("model.artifact.build", str(error), has_value=False)]) from None
    if artifact.manifest is not None:
        needed = artifact.manifest.model.estimated_serving_memory_bytes
        problems = memory_problems(config, kind, needed)
        if problems:
            raise ConfigError(source, problems)
    local_aws = str(app.node.try_get_context("local_aws") or "false").lower() == "true"
    add_environment(app, config, kind, artifact=artifact, local_aws=local_aws)


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
