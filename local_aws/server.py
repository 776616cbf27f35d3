"""The local AWS: moto's server on loopback, taught our resource types and serving our models.

One launcher per project folder: its process id and port are kept in ``.local-aws/server.json``
(ignored by git), guarded by an exclusive lock, and removed when it stops. Nothing is written
outside ``.local-aws/``; moto keeps its state in memory, and the model artifacts unpacked for
invocations (``.local-aws/artifacts/``) are removed when the server stops (also when
:func:`stop_running` has to kill it), so stopping the server forgets everything. The log
(``server.log``) stays, for reading after the fact.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from moto.server import ThreadedMotoServer

from local_aws.custom_resources import run_custom_resources_locally
from local_aws.model_routing import LocalModels, route_invocations
from local_aws.moto_fixes import execute_state_machines, install
from local_aws.state import (
    ARTIFACTS,
    DEFAULT_PORT,
    HOST,
    STATE_DIR,
    LocalAwsError,
    _alive,
    _state_file,
    read_state,
)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as the server itself will: a port left in TIME_WAIT by a stopped server is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def check_port_free(port: int) -> None:
    """Raise :class:`LocalAwsError` naming the port and the make variable that changes it, with a
    free port to try, when ``port`` is in use on loopback."""
    if _port_is_free(port):
        return
    other = next((p for p in range(port + 1, min(port + 50, 65536)) if _port_is_free(p)), port + 1)
    raise LocalAwsError(
        f"port {port} on {HOST} is in use: stop what holds it or choose another with "
        f"make deploy-local LOCAL_AWS_PORT={other} (python -m local_aws start --port {other})"
    )


def forget_run(state_dir: Path = STATE_DIR) -> None:
    """Remove what a run of the server leaves in ``state_dir``: its state file and unpacked artifacts."""
    _state_file(state_dir).unlink(missing_ok=True)
    shutil.rmtree(state_dir / ARTIFACTS, ignore_errors=True)


@contextlib.contextmanager
def _exclusive_lock(state_dir: Path) -> Iterator[IO[str]]:
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = (state_dir / "server.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        running = read_state(state_dir)
        where = f" (pid {running.pid}, {running.url})" if running else ""
        raise LocalAwsError(f"a local AWS is already running for this project{where}") from None
    try:
        yield handle
    finally:
        handle.close()


def serve(
    port: int = DEFAULT_PORT, *, state_dir: Path = STATE_DIR, ready: threading.Event | None = None
) -> None:
    """Run the local AWS in this process until SIGINT or SIGTERM; clean up on the way out."""
    with _exclusive_lock(state_dir):
        check_port_free(port)
        forget_run(state_dir)  # what a killed run left behind
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        install()
        execute_state_machines(server_port=port)  # batch workloads run their Step Functions
        run_custom_resources_locally(server_port=port)  # Custom::NeoCompilationJob without Docker
        models = LocalModels(state_dir / ARTIFACTS)
        route_invocations(models)
        server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
        server.start()
        state_path = _state_file(state_dir)
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            state_path.write_text(json.dumps({"pid": os.getpid(), "port": port}))
            print(f"local AWS listening on http://{HOST}:{port} (stop: make local-aws-stop)", flush=True)
            if ready is not None:
                ready.set()
            while not stop.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            route_invocations(None)
            models.close()
            server.stop()
            forget_run(state_dir)
            print("local AWS stopped", flush=True)


def stop_running(state_dir: Path = STATE_DIR, timeout: float = 20) -> bool:
    """Stop the running launcher and remove what its run left (:func:`forget_run`); False when none
    runs."""
    state = read_state(state_dir)
    if state is None:
        return False
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(state.pid):
        os.kill(state.pid, signal.SIGKILL)
        while _alive(state.pid) and time.monotonic() < deadline + 5:
            time.sleep(0.05)
    forget_run(state_dir)
    return True
