"""Drive the SageMaker inference toolkit in-process, as the model server's Python worker does.

In the SageMaker PyTorch container, TorchServe's worker builds a ``ts.context.Context`` and calls the
toolkit's handler service: ``initialize(context)`` once (which runs ``Transformer.validate_and_initialize``:
import ``code/inference.py``, ``model_fn``), then ``handle(data, context)`` per request with
``data = [{"body": bytearray}]`` (the toolkit config sets ``decode_input_request=false``). The toolkit's
``Transformer.transform`` decodes UTF-8 bodies (``application/json``, ``text/csv``), runs
``input_fn -> predict_fn -> output_fn``, and on an exception calls ``context.set_response_status``
with the ``BaseInferenceToolkitError``'s ``status_code`` (500 for any other exception) and returns
``message + "\\n" + traceback`` as the body.

This module reproduces the worker side faithfully enough to run the toolkit's own classes
(``sagemaker_inference.default_handler_service.DefaultHandlerService`` around
``sagemaker_inference.transformer.Transformer``): :class:`Context` and :class:`RequestProcessor` mirror
TorchServe's, and :meth:`ToolkitInferenceService.invoke` turns the worker's answer into a status,
reason phrase, content type and body the way TorchServe's ``create_predict_response`` does. One lock
serializes requests, like a single worker.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagemaker_inference.default_handler_service import (
    DefaultHandlerService,
)
from sagemaker_inference.transformer import Transformer

logger = logging.getLogger(__name__)

MODEL_NAME = "model"
SERVER_NAME = "local_serving"
PROGRAM_ENV = "SAGEMAKER_PROGRAM"
DEFAULT_PROGRAM = "inference.py"
OFFLINE_ENVIRONMENT: Mapping[str, str] = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
"""Applied (unless overridden) while the model loads: the artifact carries the model."""

# sys.path, sys.modules and os.environ are process-wide: one model load at a time.
_LOAD_LOCK = threading.Lock()


class RequestProcessor:
    """Per-request headers in, status and response headers out (mirrors ``ts.context.RequestProcessor``)."""

    def __init__(self, request_header: Mapping[str, str]) -> None:
        self._status_code = 200
        self._reason_phrase: str | None = None
        self._response_header: dict[str, str] = {}
        self._request_header = dict(request_header)

    def get_request_property(self, key: str) -> str | None:
        """One request header, by its exact name."""
        return self._request_header.get(key)

    def get_request_properties(self) -> dict[str, str]:
        """All request headers (the toolkit looks up Content-Type and Accept here)."""
        return self._request_header

    def report_status(self, code: int, reason_phrase: str | None = None) -> None:
        """Set the response status (the toolkit's ``handle_error`` ends up here)."""
        self._status_code = code
        self._reason_phrase = reason_phrase

    def get_response_status_code(self) -> int:
        """The response status, 200 unless the handler reported another."""
        return self._status_code

    def get_response_status_phrase(self) -> str | None:
        """The reason phrase the handler reported, if any."""
        return self._reason_phrase

    def add_response_property(self, key: str, value: str) -> None:
        """Set one response header."""
        self._response_header[key] = value

    def get_response_headers(self) -> dict[str, str]:
        """All response headers set by the handler."""
        return self._response_header

    def get_response_header(self, key: str) -> str | None:
        """One response header set by the handler."""
        return self._response_header.get(key)


class Context:
    """The worker context handed to the handler service (mirrors ``ts.context.Context``)."""

    def __init__(
        self,
        model_dir: str,
        request_processor: list[RequestProcessor] | None = None,
        request_ids: dict[int, str] | None = None,
    ) -> None:
        self.model_name = MODEL_NAME
        self.manifest: dict[str, Any] = {
            "model": {"modelName": MODEL_NAME, "handler": "sagemaker_inference.default_handler_service"}
        }
        self._system_properties: dict[str, Any] = {
            "model_dir": model_dir,
            "gpu_id": None,
            "batch_size": 1,
            "server_name": SERVER_NAME,
            "server_version": "0",
            "limit_max_image_pixels": True,
        }
        self.request_ids = request_ids
        self._request_processor = request_processor
        self.metrics: Any = None

    @property
    def system_properties(self) -> dict[str, Any]:
        """``model_dir``, ``gpu_id``, ``batch_size``, ``server_name``, ``server_version``."""
        return self._system_properties

    @property
    def request_processor(self) -> list[RequestProcessor] | None:
        """One :class:`RequestProcessor` per request of the batch (None while initializing)."""
        return self._request_processor

    def _processor(self, idx: int) -> RequestProcessor:
        if self._request_processor is None:
            raise RuntimeError("no request in this context (model initialization)")
        return self._request_processor[idx]

    def get_request_id(self, idx: int = 0) -> str | None:
        """The id of request ``idx`` of the batch."""
        return None if self.request_ids is None else self.request_ids.get(idx)

    def get_request_header(self, idx: int, key: str) -> str | None:
        """One header of request ``idx``."""
        return self._processor(idx).get_request_property(key)

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        """All headers of request ``idx``."""
        return self._processor(idx).get_request_properties()

    def set_response_content_type(self, idx: int, value: str) -> None:
        """Content-Type of response ``idx``."""
        self.set_response_header(idx, "content-type", value)

    def get_response_content_type(self, idx: int) -> str | None:
        """Content-Type set for response ``idx``, if any."""
        return self.get_response_headers(idx).get("content-type")

    def get_response_status(self, idx: int) -> tuple[int, str | None]:
        """Status code and reason phrase of response ``idx``."""
        processor = self._processor(idx)
        return processor.get_response_status_code(), processor.get_response_status_phrase()

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        """Status of response ``idx`` (what ``Transformer.handle_error`` calls)."""
        if self._request_processor is not None and self._request_processor[idx] is not None:
            self._request_processor[idx].report_status(code, reason_phrase=phrase)

    def set_all_response_status(self, code: int = 200, phrase: str = "") -> None:
        """Status of every response of the batch."""
        for processor in self._request_processor or []:
            processor.report_status(code, reason_phrase=phrase)

    def get_response_headers(self, idx: int) -> dict[str, str]:
        """Response headers of response ``idx``."""
        return self._processor(idx).get_response_headers()

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        """One response header of response ``idx``."""
        self._processor(idx).add_response_property(key, value)


@dataclass(frozen=True)
class InvocationResult:
    """One ``/invocations`` answer: HTTP status, reason phrase, Content-Type (None if unset), body."""

    status: int
    body: bytes
    content_type: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The body as UTF-8 text (error bodies are the message, then the handler's traceback)."""
        return self.body.decode("utf-8", errors="replace")


class ToolkitInferenceService:
    """The toolkit's ``DefaultHandlerService(Transformer())`` for one model directory.

    :meth:`load` is the worker start-up (``initialize``: import the handler module, ``model_fn``);
    :meth:`invoke` is one request through ``handle``. ``environment`` is applied to ``os.environ``
    while the model loads, which is when the toolkit (``SAGEMAKER_PROGRAM``,
    ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``) and handlers that read settings at import or in
    ``model_fn`` see it; the previous values are restored afterwards.
    """

    def __init__(
        self, model_dir: str | os.PathLike[str], environment: Mapping[str, str] | None = None
    ) -> None:
        self.model_dir = Path(model_dir)
        self.environment = {**OFFLINE_ENVIRONMENT, **(environment or {})}
        self._handler_service = DefaultHandlerService(transformer=Transformer())
        self._request_lock = threading.Lock()
        self._loaded = False
        self._code_dir_on_path: str | None = None

    @property
    def program(self) -> str:
        """The handler file the toolkit imports from ``code/``."""
        return self.environment.get(PROGRAM_ENV) or os.environ.get(PROGRAM_ENV) or DEFAULT_PROGRAM

    @property
    def loaded(self) -> bool:
        """True once ``model_fn`` has returned."""
        return self._loaded

    def load(self) -> None:
        """Run the handler service's ``initialize``: import ``code/<program>``, then ``model_fn``.

        The code directory goes first on ``sys.path`` (the container puts it on ``PYTHONPATH``) and
        stays there until :meth:`close`; the handler module is imported fresh from this artifact and
        then dropped from ``sys.modules``, so servers for different artifacts do not share it.
        """
        module_name = self.program.removesuffix(".py")
        code_dir = str(self.model_dir / "code")
        with _LOAD_LOCK, _patched_environ(self.environment):
            saved_module = sys.modules.pop(module_name, None)
            if code_dir not in sys.path:
                sys.path.insert(0, code_dir)
                self._code_dir_on_path = code_dir
            importlib.invalidate_caches()
            try:
                self._handler_service.initialize(Context(str(self.model_dir)))
            finally:
                sys.modules.pop(module_name, None)
                if saved_module is not None:
                    sys.modules[module_name] = saved_module
        self._loaded = True
        logger.info("model loaded from %s", self.model_dir)

    def invoke(self, body: bytes, headers: Mapping[str, str]) -> InvocationResult:
        """One request through the toolkit's ``handle(data, context)``; never raises for bad input.

        ``headers`` are the request headers as sent (the toolkit reads ``Content-Type``/``content-type``
        and ``Accept``/``accept``).
        """
        if not self._loaded:
            return InvocationResult(503, b"model is not loaded", "text/plain; charset=utf-8", "not loaded")
        processor = RequestProcessor(headers)
        context = Context(str(self.model_dir), [processor], {0: str(uuid.uuid4())})
        data = [{"body": bytearray(body)}]
        try:
            with self._request_lock:
                ret = self._handler_service.handle(data, context)
        except Exception:  # what TorchServe's service.predict does with an escaping exception
            logger.warning("invoking the handler service failed", exc_info=True)
            return InvocationResult(503, b"Prediction failed", None, "Prediction failed")
        if not isinstance(ret, list) or len(ret) != len(data):
            logger.warning("handler service returned %r, not one response per request", type(ret).__name__)
            return InvocationResult(503, b"number of batch response mismatched", None, "Prediction failed")
        try:
            payload = _encode_body(ret[0])
        except TypeError:
            logger.warning("unable to serialize model output", exc_info=True)
            return InvocationResult(503, b"Unsupported model output data type.", None, "Prediction failed")
        status, phrase = context.get_response_status(0)
        return InvocationResult(status, payload, context.get_response_content_type(0), phrase)

    def close(self) -> None:
        """Take the code directory off ``sys.path`` (the loaded model is released with this object)."""
        if self._code_dir_on_path is not None:
            with _LOAD_LOCK:
                if self._code_dir_on_path in sys.path:
                    sys.path.remove(self._code_dir_on_path)
            self._code_dir_on_path = None


def _encode_body(value: Any) -> bytes:
    """Response bytes as TorchServe's ``create_predict_response`` makes them."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, indent=2).encode("utf-8")


@contextmanager
def _patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ``; restore them and ``PYTHONPATH`` (``initialize`` edits it) after."""
    keys = [*values, "PYTHONPATH"]
    saved = {key: os.environ.get(key) for key in keys}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
