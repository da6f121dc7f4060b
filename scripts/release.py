"""Releases a new build into the running local stack (scripts/stack.py or scripts/run.sh) without
downtime: for each service, a new instance starts beside the old one, nginx switches to it once it
is ready, and the old one drains and exits after a settle time. See CourierStack.release.

    .venv/bin/python scripts/release.py /path/to/new/bin            # all three services
    .venv/bin/python scripts/release.py --settle 5 --service hermes  # one service, $COURIER_BIN_DIR

The stack does the work (its control socket, var/stack.sock), so the new instances belong to it
and Ctrl-C on the stack stops them too; this command sends the request and prints the progress.
Exit status 0: released; 1: a step failed (the message says which; that service still runs its
old instance); 2: no running stack or bad arguments.
"""

import argparse
import json
import os
import pathlib
import socket
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import courier_stack as stack  # noqa: E402


def fail(message, status=2):
    print(f"release: {message}", file=sys.stderr)
    raise SystemExit(status)


def running_stack(var):
    """The state the running stack wrote, after checking that its process is alive."""
    path = var / "stack.json"
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        fail(f"no running stack in {var} ({path} is missing): start it with scripts/run.sh")
    try:
        os.kill(state["pid"], 0)
    except ProcessLookupError:
        fail(f"{path} names pid {state['pid']}, which is not running: the stack stopped without cleaning up; "
             "start it again")
    return state


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bin_dir", nargs="?", help="folder of the new build's `courier` "
                        "(default: $COURIER_BIN_DIR, else `swift build --show-bin-path`)")
    parser.add_argument("--settle", type=float, default=stack.DEFAULT_SETTLE,
                        help="seconds the old instance keeps serving after the switch, before its drain "
                        "(default %(default)g, deploy/k8s's minReadySeconds)")
    parser.add_argument("--service", action="append", choices=stack.SERVICES,
                        help="release only this service (repeatable; default: all, in the order "
                        f"{', '.join(stack.SERVICES)})")
    parser.add_argument("--var", default=str(stack.ROOT / "var"), help="the stack's folder (default: var/)")
    args = parser.parse_args()
    if args.settle < 0:
        parser.error("--settle must be >= 0")
    bin_dir = pathlib.Path(args.bin_dir) if args.bin_dir else stack.swift_bin_dir()
    if not os.access(bin_dir / "courier", os.X_OK):
        parser.error(f"no executable `courier` in {bin_dir}")

    state = running_stack(pathlib.Path(args.var).resolve())
    request = {"command": "release", "bin_dir": str(bin_dir.resolve()), "settle": args.settle,
               "services": args.service or list(stack.SERVICES)}
    with socket.socket(socket.AF_UNIX) as control:
        try:
            control.connect(state["control"])
        except OSError as error:
            fail(f"cannot reach the stack's control socket {state['control']}: {error}")
        control.sendall((json.dumps(request) + "\n").encode())
        answer = None
        for line in control.makefile("r", encoding="utf-8"):
            message = json.loads(line)
            if "say" in message:
                print(message["say"], flush=True)
            else:
                answer = message
    if answer is None:
        print("release: the stack closed the connection without an answer; see its output", file=sys.stderr)
        return 1
    if not answer["ok"]:
        print(f"release failed: {answer['error']}", file=sys.stderr)
        return 1
    for step in answer["released"]:
        print(f"{step['service']}: pid {step['old_pid']} -> {step['new_pid']} (old exit code {step['old_exit_code']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
