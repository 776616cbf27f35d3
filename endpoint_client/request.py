"""The request a person gives on the command line, and how an answer is shown. Imports no CDK, so the
command line can check its input before it pays for the registry's import."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from endpoint_client.errors import RequestError

DEFAULT_CONTENT_TYPE = "application/json"
DEFAULT_TIMEOUT_SECONDS = 900.0
"""How long to wait for an asynchronous result by default (the endpoint may allow up to 3600 s)."""
DEFAULT_BATCH_TIMEOUT_SECONDS = 4 * 3600.0
"""How long ``batch-run --wait`` waits for a batch run to end by default (the run goes on after it)."""


def is_json(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type, whatever its parameters (``; charset=utf-8``)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def read_request(body: str | None, file: str | None, content_type: str) -> bytes:
    """The request bytes: ``body`` as UTF-8 (checked to be JSON when ``content_type`` is), or the
    contents of ``file`` (``-``: standard input), sent as they are."""
    if file is not None:
        if file == "-":
            return sys.stdin.buffer.read()
        try:
            return Path(file).read_bytes()
        except OSError as error:
            reason = error.strerror or str(error)
            raise RequestError(f"cannot read --file {file}: {reason}") from None
    text = body or ""
    if not text.strip():
        raise RequestError(
            'the request is empty: give it with --body \'{"inputs": ["hello"]}\' or --file request.json '
            "(make invoke BODY=... or FILE=...)"
        )
    if is_json(content_type):
        try:
            json.loads(text)
        except ValueError as error:
            raise RequestError(
                f"--body is not valid JSON ({error}), but the content type is {content_type}: "
                'quote it for the shell, e.g. --body \'{"inputs": ["hello"]}\', or give --content-type'
            ) from None
    return text.encode()


def render_body(body: bytes, content_type: str | None) -> str | bytes:
    """JSON indented, other text as it is, anything else as raw bytes."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return body
    if is_json(content_type) or text.lstrip()[:1] in ("{", "["):
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return text
