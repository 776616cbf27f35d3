"""Command line for the local AWS.

python -m local_aws start [--port 4566] [--detach]   # moto on loopback, taught our resources
python -m local_aws status | stop
python -m local_aws deploy --env dev [--endpoint-type default]   # real cdk bootstrap + deploy, then call it
python -m local_aws destroy --env dev   # every stack of the environment: workloads, then stateful

Every failure is one line on stderr saying what is wrong and what to do, and exit status 1: a busy
port, a local AWS that is not running or does not answer, a stack that is missing or that the
local AWS refuses to delete, a bad configuration.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from botocore.exceptions import BotoCoreError, ClientError

from endpoint_configs import ConfigError
from local_aws.server import check_port_free, serve, stop_running
from local_aws.state import DEFAULT_PORT, STATE_DIR, LocalAwsError, _answers, read_state

START_TIMEOUT_SECONDS = 60


def _start_detached(port: int) -> int:
    running = read_state()
    if running is not None and _answers(running):
        print(f"local AWS already running on {running.url} (pid {running.pid})")
        return 0
    check_port_free(port)  # here, so the refusal is one line rather than the child's log
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log = STATE_DIR / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_aws", "start", "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        state = read_state()
        if state is not None and state.pid == process.pid and _answers(state):
            print(f"local AWS listening on {state.url} (pid {state.pid}, log {log})")
            return 0
        if process.poll() is not None:
            print(f"error: the local AWS did not start:\n{log.read_text().strip()}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    process.terminate()
    print(f"error: the local AWS did not answer within {START_TIMEOUT_SECONDS} s; see {log}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_aws", description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="run the local AWS (foreground unless --detach)")
    start.add_argument("--port", type=int, default=DEFAULT_PORT)
    start.add_argument("--detach", action="store_true", help="run in the background; reuse a running one")
    commands.add_parser("status", help="is the local AWS running?")
    commands.add_parser(
        "stop", help="stop the local AWS (its state and unpacked model artifacts are forgotten)"
    )
    deploy_command = commands.add_parser(
        "deploy", help="deploy an environment to the local AWS with the cdk CLI"
    )
    deploy_command.add_argument("--env", default="dev")
    deploy_command.add_argument("--endpoint-type", default="default")
    destroy_command = commands.add_parser(
        "destroy", help="delete every stack of an environment from the local AWS (workloads, then stateful)"
    )
    destroy_command.add_argument("--env", default="dev")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            if args.detach:
                return _start_detached(args.port)
            serve(args.port)
            return 0
        if args.command == "status":
            state = read_state()
            if state is None or not _answers(state):
                print("local AWS is not running")
                return 1
            print(f"local AWS running on {state.url} (pid {state.pid})")
            return 0
        if args.command == "stop":
            print("local AWS stopped" if stop_running() else "local AWS was not running")
            return 0
        from local_aws.deploy import deploy, destroy, explain

        try:
            if args.command == "deploy":
                deploy(args.env, args.endpoint_type)
            else:
                destroy(args.env)
        except (BotoCoreError, ClientError) as error:
            print(f"error: {explain(error, env=args.env)}", file=sys.stderr)
            return 1
        return 0
    except (LocalAwsError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
