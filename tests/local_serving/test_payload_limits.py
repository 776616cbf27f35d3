"""local_serving's payload limits: one per endpoint kind, read from endpoint_configs.limits, and
chosen per invocation, since one artifact (one server) may serve endpoints of several kinds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from endpoint_configs import limits
from local_serving import MAX_PAYLOAD_BYTES, PAYLOAD_LIMITS_BYTES, LocalModelServer, payload_limit_bytes
from local_serving.__main__ import _parser

MB = 1024 * 1024
SIZE_HANDLER = """
import json

def model_fn(model_dir):
    return None

def input_fn(body, content_type):
    return body

def predict_fn(data, model):
    return {"bytes": len(data)}

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalModelServer]:
    """A directory artifact whose model answers with the size of the request."""
    artifact = tmp_path_factory.mktemp("size-model")
    (artifact / "code").mkdir()
    (artifact / "code" / "inference.py").write_text(SIZE_HANDLER)
    with LocalModelServer(Path(artifact)) as running:
        yield running


def body_of(size: int) -> bytes:
    return b"x" * size


def test_limits_per_kind_are_the_service_limits_in_bytes() -> None:
    assert dict(PAYLOAD_LIMITS_BYTES) == {
        "realtime": limits.REALTIME_MAX_PAYLOAD_MB * MB,
        "serverless": limits.SERVERLESS_MAX_PAYLOAD_MB * MB,
        "async": limits.ASYNC_MAX_PAYLOAD_MB * MB,
        "batch": limits.BATCH_PAYLOAD_BUDGET_MB * MB,
    }
    assert (payload_limit_bytes("serverless"), payload_limit_bytes("realtime")) == (4 * MB, 6 * MB)
    assert payload_limit_bytes("async") == 1024 * MB
    assert payload_limit_bytes("realtime") == MAX_PAYLOAD_BYTES


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match="unknown endpoint kind 'stream'; choose one of realtime, serverless, async, batch"
    ):
        payload_limit_bytes("stream")


def test_a_5_mb_body_is_rejected_at_the_serverless_limit_and_served_at_the_realtime_one(
    server: LocalModelServer,
) -> None:
    body = body_of(5 * MB)

    rejected = server.invoke(body, max_payload_bytes=payload_limit_bytes("serverless"))
    served = server.invoke(body, max_payload_bytes=payload_limit_bytes("realtime"))

    assert rejected.status == 413
    assert rejected.reason == f"Request body of {5 * MB} bytes exceeds the {4 * MB}-byte payload limit"
    assert served.status == 200
    assert served.json() == {"bytes": 5 * MB}


def test_a_7_mb_body_is_served_at_the_async_limit_and_the_server_keeps_its_own(
    server: LocalModelServer,
) -> None:
    body = body_of(7 * MB)

    served = server.invoke(body, max_payload_bytes=payload_limit_bytes("async"))
    default = server.invoke(body)

    assert served.status == 200
    assert served.json() == {"bytes": 7 * MB}
    assert default.status == 413
    assert server.max_payload_bytes == MAX_PAYLOAD_BYTES
    assert json.loads(server.invoke(b"{}").body) == {"bytes": 2}


def test_the_cli_takes_the_endpoint_kind_whose_limit_applies() -> None:
    assert _parser().parse_args(["--artifact", "a"]).endpoint_kind is None  # the real-time 6 MB
    assert _parser().parse_args(["--artifact", "a", "--endpoint-kind", "async"]).endpoint_kind == "async"
    with pytest.raises(SystemExit):
        _parser().parse_args(["--artifact", "a", "--endpoint-kind", "stream"])
