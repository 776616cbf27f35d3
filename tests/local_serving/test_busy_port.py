"""``make serve-local`` on a port something else holds: one line naming the port and ``PORT=``."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from local_serving.__main__ import main


def test_a_busy_port_names_the_port_and_make_serve_local_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an artifact, and a loopback port something else listens on
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # WHEN the artifact is served on it
        status = main(["--artifact", str(tmp_path), "--port", str(port)])
    # THEN one line, no traceback and no errno: the port, and how to choose another with make
    assert status == 1
    assert capsys.readouterr().err == (
        f"error: port {port} on 127.0.0.1 is in use: stop what holds it or choose another with "
        f"make serve-local PORT={port + 1} (python -m local_serving --port {port + 1})\n"
    )
