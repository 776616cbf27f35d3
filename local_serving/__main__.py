"""``python -m local_serving --artifact PATH [--port 8080] [--env KEY=VALUE ...] [--endpoint-kind realtime]``.

``--endpoint-kind`` sets the request payload limit to that kind's (realtime 6 MB, serverless 4 MB,
async 1 GB; see ``endpoint_configs.limits``).

Prints ``listening on http://127.0.0.1:<port>`` once bound (``/ping`` answers 503 until the model is
loaded, then 200) and serves until Ctrl-C or SIGTERM, then stops cleanly (exit status 0) and removes
a temporary extraction of a ``model.tar.gz``. Exit status 1 if the artifact is unusable or the model
fails to load, or the port is in use (one line naming the port and ``make serve-local PORT=``),
2 for bad arguments.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from local_serving.artifact import ArtifactError
from local_serving.server import MAX_PAYLOAD_BYTES, PAYLOAD_LIMITS_BYTES, LocalModelServer

logger = logging.getLogger("local_serving")


def _environment_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_serving",
        description="Serve a SageMaker model artifact on 127.0.0.1 (GET /ping, POST /invocations) "
        "through the SageMaker inference toolkit.",
    )
    parser.add_argument("--artifact", required=True, help="model.tar.gz or an extracted artifact directory")
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--env",
        type=_environment_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="container environment variable for the model (repeatable), e.g. MAX_BATCH_SIZE=16",
    )
    parser.add_argument(
        "--endpoint-kind",
        choices=list(PAYLOAD_LIMITS_BYTES),
        default=None,
        help="the workload kind whose request payload limit applies (default: the real-time 6 MB)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def _port_in_use(port: int) -> str:
    other = port + 1 if port < 65535 else 8080
    return (
        f"error: port {port} on 127.0.0.1 is in use: stop what holds it or choose another with "
        f"make serve-local PORT={other} (python -m local_serving --port {other})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until interrupted; return the process exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 0 <= args.port <= 65535:
        print(f"error: --port {args.port} is not a TCP port", file=sys.stderr)
        return 2

    stop = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = LocalModelServer(
        args.artifact,
        port=args.port,
        environment=dict(args.env),
        max_payload_bytes=PAYLOAD_LIMITS_BYTES.get(args.endpoint_kind, MAX_PAYLOAD_BYTES),
    )
    try:
        server.start(wait=False)
        print(f"listening on {server.url}", flush=True)
        while not stop.is_set():
            if server.load_error is not None:
                print(f"error: {server.load_error}", file=sys.stderr)
                return 1
            stop.wait(0.2)
        print("stopping", flush=True)
        return 0
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(_port_in_use(args.port), file=sys.stderr)
        else:
            print(f"error: {exc}", file=sys.stderr)
        return 1
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
