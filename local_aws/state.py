"""Where a running local AWS is and how to reach it: the launcher's state file, read without
importing moto, so clients (``endpoint_client``, ``local_aws.deploy``) start quickly."""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = Path(__file__).resolve().parents[1] / ".local-aws"
ARTIFACTS = "artifacts"
"""Folder of ``STATE_DIR`` where the model artifacts of deployed endpoints are unpacked, per run."""
DEFAULT_PORT = 4566
HOST = "127.0.0.1"
ACCOUNT_ID = "123456789012"
"""moto's default account; ``cdk bootstrap`` and ``cdk deploy`` target it."""
NEO_STAND_IN_TAG = "local-aws:neo-stand-in"
"""Tag of the compilation jobs the local AWS completed without Neo's compiler (its value says what
the output is); the deploy summary shows it."""


class LocalAwsError(Exception):
    """The local AWS cannot start, or is not running; ``str()`` says what to do."""


@dataclass(frozen=True)
class ServerState:
    """What a running launcher wrote about itself."""

    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def environment(self) -> dict[str, str]:
        """Variables that point the AWS SDKs and the cdk CLI at this server, with dummy keys."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            # CloudFormation fetches templates from S3 by virtual-host style URLs on localhost.
            "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": f"http://localhost:{self.port}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "AWS_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        }


def _state_file(state_dir: Path) -> Path:
    return state_dir / "server.json"


def read_state(state_dir: Path = STATE_DIR) -> ServerState | None:
    """The running launcher's state, or None (a stale file of a dead process is removed)."""
    path = _state_file(state_dir)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    state = ServerState(pid=int(data["pid"]), port=int(data["port"]))
    if not _alive(state.pid):
        path.unlink(missing_ok=True)
        return None
    return state


def require_running(state_dir: Path = STATE_DIR) -> ServerState:
    state = read_state(state_dir)
    if state is None or not _answers(state):
        raise LocalAwsError(
            "the local AWS is not running: start it with 'make local-aws' (or make deploy-local)"
        )
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(state: ServerState) -> bool:
    try:
        with urllib.request.urlopen(f"{state.url}/moto-api/", timeout=2):
            return True
    except OSError:
        return False
