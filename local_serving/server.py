"""A loopback HTTP server speaking the SageMaker inference container contract for one model artifact.

- ``GET /ping``: 200 ``{"status": "Healthy"}`` once ``model_fn`` has returned, 503 before (or if it failed).
- ``POST /invocations``: the body goes, with its ``Content-Type`` and ``Accept`` headers, through the
  SageMaker inference toolkit's own handler service and ``Transformer`` (see :mod:`local_serving.toolkit`);
  the answer keeps the toolkit's status (e.g. 400/415 from ``GenericInferenceToolkitError``, 500 for
  other exceptions), reason phrase, Content-Type and body. Bodies over the server's payload limit
  (by default 6 MB, the SageMaker real-time limit; checked on ``Content-Length`` before reading) get
  413; a missing length gets 411.

Payload limits differ by endpoint kind (real-time 6 MB, serverless 4 MB, asynchronous 1 GB; see
``endpoint_configs.limits``): :func:`payload_limit_bytes` gives the limit of a kind, and
:meth:`LocalModelServer.invoke` takes a limit per invocation, since one artifact may serve
endpoints of several kinds.

Standard library only (``http.server.ThreadingHTTPServer``), bound to 127.0.0.1. Requests reach the
model one at a time, like a single model-server worker.

Example::

    with LocalModelServer("build/model.tar.gz") as server:
        result = server.invoke(b'{"inputs": "hello"}', content_type="application/json")
        print(server.url, result.status, result.json())
"""

from __future__ import annotations

import http
import json
import logging
import os
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType, TracebackType
from urllib.parse import urlsplit

from endpoint_configs import WORKLOAD_BLOCKS
from endpoint_configs.limits import REALTIME_MAX_PAYLOAD_MB
from local_serving.artifact import PreparedArtifact, prepare_artifact
from local_serving.toolkit import InvocationResult, ToolkitInferenceService

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
_MB = 1024 * 1024
PAYLOAD_LIMITS_BYTES: Mapping[str, int] = MappingProxyType(
    {block.kind(): block.MAX_PAYLOAD_MB * _MB for block in WORKLOAD_BLOCKS}
)
"""SageMaker's request payload limit in bytes, by workload kind (each config block's limit)."""
MAX_PAYLOAD_BYTES = REALTIME_MAX_PAYLOAD_MB * _MB
"""SageMaker real-time inference's request payload limit (6 MB): the server's default."""
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
"""A rejected body up to this size is read and discarded, so the client can read the 413 cleanly."""
_COPY_CHUNK = 1024 * 1024
_TEXT = "text/plain; charset=utf-8"


def payload_limit_bytes(endpoint_kind: str) -> int:
    """The request payload limit of a workload kind's endpoints, in bytes."""
    try:
        return PAYLOAD_LIMITS_BYTES[endpoint_kind]
    except KeyError:
        choices = ", ".join(PAYLOAD_LIMITS_BYTES)
        raise ValueError(f"unknown endpoint kind {endpoint_kind!r}; choose one of {choices}") from None


class LocalModelServer:
    """Serve one SageMaker model artifact (directory or ``model.tar.gz``) on ``http://127.0.0.1:<port>``.

    ``port=0`` picks a free port (see :attr:`url`). ``environment`` is the model's container
    environment (e.g. ``{"MAX_BATCH_SIZE": "16"}``), applied while the model loads.
    ``max_payload_bytes`` is the default request limit (HTTP requests, and :meth:`invoke` unless it
    is given one). Use as a context
    manager, or :meth:`start` / :meth:`stop`. :meth:`invoke` runs a request in-process through the same
    path as ``POST /invocations``, without HTTP.
    """

    def __init__(
        self,
        artifact: str | os.PathLike[str],
        *,
        port: int = 0,
        environment: Mapping[str, str] | None = None,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self.artifact = Path(artifact)
        self.requested_port = port
        self.environment = dict(environment or {})
        self.max_payload_bytes = max_payload_bytes
        self._prepared: PreparedArtifact | None = None
        self._service: ToolkitInferenceService | None = None
        self._httpd: _LocalHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._load_thread: threading.Thread | None = None
        self._load_done = threading.Event()
        self._load_error: BaseException | None = None
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, *, wait: bool = True, timeout: float | None = None) -> LocalModelServer:
        """Prepare the artifact, bind the port, start serving and load the model in the background.

        With ``wait`` (the default) return once the model is loaded (:meth:`wait_ready`); on failure
        the server is stopped and the error raised. Without it, ``/ping`` answers 503 until loaded.
        """
        if self._httpd is not None or self._stopped:
            raise RuntimeError("a LocalModelServer starts once")
        try:
            self._prepared = prepare_artifact(self.artifact)
            self._service = ToolkitInferenceService(self._prepared.model_dir, self.environment)
            self._httpd = _LocalHTTPServer((HOST, self.requested_port), self)
            self._serve_thread = threading.Thread(
                target=self._httpd.serve_forever, name=f"local-serving-{self.port}", daemon=True
            )
            self._serve_thread.start()
            logger.info("serving %s at %s", self.artifact, self.url)
            self._load_thread = threading.Thread(target=self._load, name="local-serving-load", daemon=True)
            self._load_thread.start()
            if wait:
                self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _load(self) -> None:
        assert self._service is not None
        try:
            self._service.load()
        except BaseException as exc:
            self._load_error = exc
            logger.exception("loading the model from %s failed", self.artifact)
        else:
            logger.info("ready: %s/invocations", self.url)
        finally:
            self._load_done.set()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the model is loaded; raise ``TimeoutError`` or the load's error as ``RuntimeError``."""
        if not self._load_done.wait(timeout):
            raise TimeoutError(f"model from {self.artifact} not loaded after {timeout} s")
        if self._load_error is not None:
            raise RuntimeError(f"loading the model from {self.artifact} failed: {self._load_error}") from (
                self._load_error
            )

    def stop(self) -> None:
        """Stop serving, release the port, and remove a temporary extraction. Safe to call twice."""
        self._stopped = True
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join()
        if self._load_thread is not None and self._load_thread.is_alive():
            logger.warning("stopping while the model is still loading")
        if self._service is not None:
            self._service.close()
        if self._prepared is not None:
            self._prepared.cleanup()

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when constructed with ``port=0``)."""
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; POST to ``<url>/invocations``, GET ``<url>/ping``."""
        return f"http://{HOST}:{self.port}"

    @property
    def model_dir(self) -> Path:
        """The directory served: the artifact itself, or its temporary extraction."""
        if self._prepared is None:
            raise RuntimeError("the server is not started")
        return self._prepared.model_dir

    @property
    def ready(self) -> bool:
        """True once the model is loaded (what ``/ping`` reports)."""
        return self._load_done.is_set() and self._load_error is None and not self._stopped

    @property
    def load_error(self) -> BaseException | None:
        """Why the model failed to load, if it did."""
        return self._load_error

    # -- requests --------------------------------------------------------------------------------

    def invoke(
        self,
        body: bytes,
        *,
        content_type: str | None = "application/json",
        accept: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_payload_bytes: int | None = None,
    ) -> InvocationResult:
        """One invocation in-process, through the same toolkit path as HTTP.

        ``max_payload_bytes`` is this invocation's payload limit (e.g.
        ``payload_limit_bytes("serverless")``); by default the server's. A larger body gets 413.
        """
        merged = dict(headers or {})
        if content_type is not None:
            merged["Content-Type"] = content_type
        if accept is not None:
            merged["Accept"] = accept
        limit = self.max_payload_bytes if max_payload_bytes is None else max_payload_bytes
        if len(body) > limit:
            return self.payload_too_large(len(body), limit)
        return self._invoke(body, merged)

    def _invoke(self, body: bytes, headers: Mapping[str, str]) -> InvocationResult:
        if self._service is None or not self.ready:
            state = "failed to load" if self._load_error is not None else "is not loaded yet"
            return _text_result(503, f"model {state}")
        return self._service.invoke(body, headers)

    def payload_too_large(self, size: int, limit: int | None = None) -> InvocationResult:
        """The 413 answer for a body of ``size`` bytes over ``limit`` (by default the server's)."""
        limit = self.max_payload_bytes if limit is None else limit
        return _text_result(413, f"Request body of {size} bytes exceeds the {limit}-byte payload limit")


def _text_result(status: int, message: str) -> InvocationResult:
    return InvocationResult(status, message.encode("utf-8"), _TEXT, message)


class _LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: LocalModelServer) -> None:
        self.owner = owner
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    """``/ping`` and ``/invocations`` for the owning :class:`LocalModelServer`."""

    server: _LocalHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "local_serving"
    timeout = 120  # seconds an idle keep-alive connection stays open

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/ping":
            healthy = self.server.owner.ready
            status = {"status": "Healthy" if healthy else "Unhealthy"}
            self._send(200 if healthy else 503, json.dumps(status).encode(), "application/json", None)
        elif path == "/invocations":
            self._send_text(405, "use POST /invocations")
        else:
            self._send_text(404, f"no route for GET {path}")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path != "/invocations":
            self.close_connection = True
            self._send_text(404, f"no route for POST {path}")
            return
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self._send_text(411, "Content-Length is required (chunked bodies are not supported)")
            return
        raw_length = self.headers.get("Content-Length")
        try:
            length = int(raw_length) if raw_length is not None else -1
        except ValueError:
            length = -2
        if length == -1:
            self.close_connection = True
            self._send_text(411, "Content-Length is required")
            return
        if length < 0:
            self.close_connection = True
            self._send_text(400, f"invalid Content-Length {raw_length!r}")
            return
        owner = self.server.owner
        if length > owner.max_payload_bytes:
            self._discard(length)
            self._send_result(owner.payload_too_large(length))
            return
        body = self.rfile.read(length)
        self._send_result(owner._invoke(body, dict(self.headers.items())))

    def _discard(self, length: int) -> None:
        if length > DRAIN_LIMIT_BYTES:
            self.close_connection = True
            return
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(_COPY_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
        self.close_connection = True

    def _send_result(self, result: InvocationResult) -> None:
        content_type = result.content_type or (None if result.ok else _TEXT)
        self._send(result.status, result.body, content_type, result.reason)

    def _send_text(self, status: int, message: str) -> None:
        self._send(status, message.encode("utf-8"), _TEXT, message)

    def _send(self, status: int, body: bytes, content_type: str | None, reason: str | None) -> None:
        self.send_response(status, _reason_phrase(status, reason))
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def _reason_phrase(status: int, reason: str | None) -> str:
    """A status-line-safe reason: the handler's phrase (one latin-1 line, <= 512 chars) or the standard."""
    if reason:
        cleaned = "".join(ch if ch.isprintable() else " " for ch in reason).strip()
        cleaned = cleaned.encode("latin-1", errors="replace").decode("latin-1")[:512]
        if cleaned:
            return cleaned
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""
