#!/usr/bin/python3
"""The reference design's process reap (tractor-reap), for bench/run.sh.

    /usr/bin/python3 bench/ref_reap.py --cwd DIR --match TEXT [--adopter PID ...]
                                       [--grace 3.0] [--poll 0.25] [-n]
    /usr/bin/python3 bench/ref_reap.py --parent PID [...]

Selection as in tractor-reap: orphan mode takes processes whose PPid is an adopter (1, plus
the --adopter PIDs: the benchmark's victims are adopted by its own subreaper, not by init),
whose cwd is DIR and whose cmdline contains TEXT; --parent takes PPid == PID. Then SIGINT
each, sleep `poll` and re-read /proc/PID/status until none is alive (a zombie counts as
gone) or `grace` has passed, then SIGKILL the survivors. -n prints the selected pids, one a
line, and acts on nothing. Exit 1 when SIGKILL was needed.
"""
import argparse
import os
import signal
import sys
import time


def live_pids():
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def status_field(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return line.split()[1]
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return None
    return None


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return ""


def cwd(pid):
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return None


def alive(pid):
    state = status_field(pid, "State:")
    return state is not None and state != "Z"


def select(args):
    hits = []
    adopters = {1, *args.adopter}
    for pid in live_pids():
        ppid = status_field(pid, "PPid:")
        if ppid is None:
            continue
        ppid = int(ppid)
        if args.parent is not None:
            if ppid == args.parent:
                hits.append(pid)
            continue
        if ppid not in adopters or cwd(pid) != args.cwd or args.match not in cmdline(pid):
            continue
        hits.append(pid)
    return hits


def reap(pids, grace, poll):
    signalled = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGINT)
            signalled.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        time.sleep(poll)
        if not any(alive(pid) for pid in signalled):
            return []
    survivors = [pid for pid in signalled if alive(pid)]
    for pid in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return survivors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parent", "-p", type=int)
    ap.add_argument("--cwd")
    ap.add_argument("--match", default="python")
    ap.add_argument("--adopter", type=int, action="append", default=[])
    ap.add_argument("--grace", "-g", type=float, default=3.0)
    ap.add_argument("--poll", type=float, default=0.25)
    ap.add_argument("--dry-run", "-n", action="store_true")
    args = ap.parse_args()
    if args.parent is None and not args.cwd:
        ap.error("orphan mode needs --cwd")
    pids = select(args)
    if args.dry_run:
        for pid in pids:
            print(pid)
        return 0
    return 1 if reap(pids, args.grace, args.poll) else 0


if __name__ == "__main__":
    sys.exit(main())
