"""A stand-in model for the local AWS's transform jobs and batch runs: fast, and predictable."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from local_aws.moto_fixes import RoutedInvocation


@dataclass
class LineModel:
    """A model runner whose model answers each JSON line ``{"inputs": s}`` of a request with
    ``{"echo": s}`` on a line of its own, and rejects a request holding the sentence ``fail`` with a
    400. ``requests`` records each request: body, content type, accept."""

    answer_content_type: str = "application/jsonlines"
    requests: list[tuple[bytes, str | None, str | None]] = field(default_factory=list)

    def invoke(self, *args: Any, **kwargs: Any) -> RoutedInvocation | None:
        return None

    def run_model(
        self,
        account_id: str,
        region: str,
        model_name: str,
        body: bytes,
        *,
        content_type: str | None,
        accept: str | None,
        max_payload_bytes: int,
    ) -> RoutedInvocation | None:
        self.requests.append((body, content_type, accept))
        sentences = [json.loads(line)["inputs"] for line in body.decode().splitlines()]
        if "fail" in sentences:
            return RoutedInvocation("", 400, b"the stub model refuses 'fail'", "text/plain", "Bad Request")
        answer = "\n".join(json.dumps({"echo": sentence}) for sentence in sentences)
        return RoutedInvocation("", 200, answer.encode(), self.answer_content_type, None)


def json_lines(*sentences: str) -> bytes:
    """``{"inputs": sentence}`` per line."""
    return "".join(json.dumps({"inputs": sentence}) + "\n" for sentence in sentences).encode()
