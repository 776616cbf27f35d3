"""Serve a SageMaker model artifact locally, through the SageMaker inference toolkit, on 127.0.0.1.

``python -m local_serving --artifact build/model.tar.gz --port 8080`` (port 0: a free one), or::

    from local_serving import LocalModelServer

    with LocalModelServer("build/model.tar.gz") as server:  # starts, waits for model_fn
        server.url                                           # http://127.0.0.1:<port>
        server.invoke(b'{"inputs": ["a", "b"]}', content_type="application/json")
        server.invoke(body, max_payload_bytes=payload_limit_bytes("serverless"))  # 4 MB, not 6

The artifact is a directory or a ``model.tar.gz`` with the model files at the root and
``code/inference.py`` (+ ``code/requirements.txt``), the layout the SageMaker PyTorch and Hugging Face
containers expect.
"""

from local_serving.artifact import ArtifactError, PreparedArtifact, extract_archive, prepare_artifact
from local_serving.server import (
    MAX_PAYLOAD_BYTES,
    PAYLOAD_LIMITS_BYTES,
    LocalModelServer,
    payload_limit_bytes,
)
from local_serving.toolkit import InvocationResult, ToolkitInferenceService

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "PAYLOAD_LIMITS_BYTES",
    "ArtifactError",
    "InvocationResult",
    "LocalModelServer",
    "PreparedArtifact",
    "ToolkitInferenceService",
    "extract_archive",
    "payload_limit_bytes",
    "prepare_artifact",
]
