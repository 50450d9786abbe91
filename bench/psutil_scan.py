#!/usr/bin/python3
"""The psutil algorithm of the reference design (tractor-reap's shm sweep), for bench/run.sh.

    /usr/bin/python3 bench/psutil_scan.py DIR [--uid UID] [--unlink]

In-use paths come from psutil.process_iter() with Process.memory_maps(grouped=False)
(post-mmap segments) and Process.open_files() (fd-held segments), matched by path prefix
against DIR; regular files of DIR owned by UID that are not in use are the leaked ones.
Processes that vanish or deny access are skipped, as the reference does. Prints
"files=F held=H unheld=U unlinked=X". Needs Debian's python3-psutil (/usr/bin/python3).
"""
import argparse
import os
import stat
import sys

import psutil


def in_use_paths(prefix: str) -> set:
    in_use = set()
    for proc in psutil.process_iter(["pid"]):
        try:
            for m in proc.memory_maps(grouped=False):
                if m.path.startswith(prefix):
                    in_use.add(m.path)
            for f in proc.open_files():
                if f.path.startswith(prefix):
                    in_use.add(f.path)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess,
                FileNotFoundError, PermissionError):
            continue
    return in_use


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--uid", type=int, default=os.geteuid())
    ap.add_argument("--unlink", action="store_true")
    args = ap.parse_args()

    prefix = args.dir.rstrip("/") + "/"
    entries = os.listdir(args.dir)  # the directory is listed before the process scan
    in_use = in_use_paths(prefix)
    files = held = 0
    leaked = []
    for name in entries:
        path = prefix + name
        try:
            st = os.stat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != args.uid:
            continue
        files += 1
        if path in in_use:
            held += 1
        else:
            leaked.append(path)
    unlinked = 0
    if args.unlink:
        for path in leaked:
            try:
                os.unlink(path)
                unlinked += 1
            except FileNotFoundError:
                unlinked += 1
            except OSError as exc:
                print(f"could not unlink {path}: {exc!r}", file=sys.stderr)
    print(f"files={files} held={held} unheld={len(leaked)} unlinked={unlinked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
