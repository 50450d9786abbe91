#!/usr/bin/env python3
"""Per-test overhead of pytest_reap: a suite of N trivial tests (default 200), run with and
without --reap (and with --reap --reap-shm on a private dir), alternated, R rounds each.
A conftest times each test's whole runtest protocol (setup, call, teardown, and the
plugin's hooks around them) from the outermost hook wrapper; the per-test overhead is the
difference of the median protocol times. The session-level cost (`reap scope` at start and
end) is the difference of whole-run wall times of a one-test suite.

  bench/pytest_overhead.py BUILD_DIR/bin/reap [--tests 200] [--rounds 7] [--tsv FILE]

--tsv also writes "config<TAB>per_test_s<TAB>overhead_s<TAB>session_s" lines (bench/run.sh).

Runs /usr/bin/python3 -m pytest (Debian's python3-pytest) with PYTHONPATH=python.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.join(os.path.dirname(HERE), "python")


CONFTEST = """
import os, time, pytest

_times = []

@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    t = time.perf_counter()
    yield
    _times.append(time.perf_counter() - t)

def pytest_unconfigure(config):
    with open(os.environ["BENCH_TIMES"], "w") as f:
        f.write("\\n".join(map(repr, _times)))
"""


def suite(path, n):
    with open(os.path.join(path, "conftest.py"), "w") as f:
        f.write(CONFTEST)
    with open(os.path.join(path, "test_trivial.py"), "w") as f:
        for i in range(n):
            f.write(f"def test_{i}():\n    assert {i} == {i}\n\n")


def run(path, args, env):
    """(whole-run wall time, median per-test protocol time)"""
    env = dict(env, BENCH_TIMES=os.path.join(path, "times"))
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "pytest_reap", *args], cwd=path, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        sys.exit(f"pytest {' '.join(args)} exited {r.returncode}")
    wall = time.perf_counter() - t
    with open(env["BENCH_TIMES"]) as f:
        per_test = [float(x) for x in f.read().split()]
    return wall, statistics.median(per_test)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("reap")
    ap.add_argument("--tests", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--tsv")
    a = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, REAP_BIN=os.path.abspath(a.reap),
               PYTHONDONTWRITEBYTECODE="1")
    shm = tempfile.mkdtemp(prefix="reap-bench.", dir="/dev/shm")
    work = tempfile.mkdtemp(prefix="reap-bench-pytest.")
    try:
        configs = {"plain": [], "reap": ["--reap"],
                   "reap+shm": ["--reap", "--reap-shm", f"--reap-shm-dir={shm}"]}
        times = {}
        for n in (a.tests, 1):
            d = os.path.join(work, str(n))
            os.mkdir(d)
            suite(d, n)
            for _ in range(a.rounds):
                for name, args in configs.items():
                    times.setdefault((n, name), []).append(run(d, args, env))
        wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
        proto = {k: statistics.median(p for _, p in v) for k, v in times.items()}
        print(f"{a.tests} trivial tests, {a.rounds} alternated runs of each; medians")
        print(f"  {'config':9s} {'per test':>9s} {'overhead/test':>14s} {'session cost':>13s}")
        rows = []
        for name in configs:
            over = proto[(a.tests, name)] - proto[(a.tests, "plain")]
            session = wall[(1, name)] - wall[(1, "plain")]
            rows.append(f"{name}\t{proto[(a.tests, name)]:.6f}\t{over:.6f}\t{session:.6f}")
            print(f"  {name:9s} {proto[(a.tests, name)] * 1e3:7.3f}ms {over * 1e3:12.3f}ms "
                  f"{session * 1e3:11.1f}ms")
        if a.tsv:
            with open(a.tsv, "w") as f:
                f.write("\n".join(rows) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)


if __name__ == "__main__":
    main()
