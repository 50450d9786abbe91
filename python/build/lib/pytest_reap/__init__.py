"""pytest_reap: reap each test's leaked processes and segments, and name the test.

Off unless asked (``--reap`` or the ini option ``reap = true``). When on, pytest becomes a
child subreaper, so orphans of a test come back below it however they detached. Before each
test a cheap view (pytest's direct children, the inode numbers in the swept directory) is
taken; after it, anything new in that view makes the plugin run ``reap scope reap``, which
decides with reap's own policy (core/test_scope in the C++ library) what this test leaked
and reaps it (SIGINT, ``--reap-grace``, SIGKILL) or, with ``--reap-shm``, sweeps it. Nothing
is killed or unlinked by this module: every such decision is reap's.

Where reap is not available (not Linux, no binary) the plugin says so once and does nothing.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Set, Tuple

import pytest

__all__ = ["LeakError"]

PR_SET_CHILD_SUBREAPER = 36
_LEAK_PROCESS = {"reaped", "killed", "survived", "would_reap", "would_kill", "error"}
_LEAK_SHM = {"unlinked", "would_unlink", "error"}
_PROP = "reap_leaks"


class LeakError(Exception):
    """A test left processes or segments behind (raised with --reap-fail-on-leak)."""


def pytest_addoption(parser):
    group = parser.getgroup("reap", "leaked processes and segments (reap)")
    group.addoption("--reap", action="store_true", default=None,
                    help="reap what each test leaks (processes; segments with --reap-shm)")
    group.addoption("--reap-bin", default=None, metavar="PATH",
                    help="the reap binary (default: $REAP_BIN, else reap on PATH)")
    group.addoption("--reap-grace", type=float, default=None, metavar="SECONDS",
                    help="grace between SIGINT and SIGKILL (default 3.0)")
    group.addoption("--reap-shm", action="store_true", default=None,
                    help="also sweep segments a test left in --reap-shm-dir")
    group.addoption("--reap-shm-dir", default=None, metavar="DIR",
                    help="directory to sweep (default /dev/shm)")
    group.addoption("--reap-fail-on-leak", action="store_true", default=None,
                    help="a leak is an error of the test that leaked (at teardown)")
    group.addoption("--reap-spare", action="append", default=[], metavar="TEXT",
                    help="a process whose command line contains TEXT is not a leak "
                         "(repeatable; multiprocessing's helpers and xdist workers always are)")
    parser.addini("reap", "reap what each test leaks (like --reap)", type="bool", default=False)
    parser.addini("reap_shm", "also sweep segments (like --reap-shm)", type="bool",
                  default=False)
    parser.addini("reap_shm_dir", "directory to sweep (like --reap-shm-dir)", default="")
    parser.addini("reap_fail_on_leak", "a leak fails the test (like --reap-fail-on-leak)",
                  type="bool", default=False)
    parser.addini("reap_grace", "grace between SIGINT and SIGKILL", default="")
    parser.addini("reap_spare", "command-line texts of processes that are not leaks",
                  type="linelist", default=[])


def _opt(config, name, ini_name=None, default=None):
    value = config.getoption(name)
    if value is not None and value != []:
        return value
    ini = config.getini(ini_name or name)
    return ini if ini not in ("", None, []) else default


def _find_reap(config) -> Optional[str]:
    for candidate in (config.getoption("reap_bin"), os.environ.get("REAP_BIN")):
        if candidate:
            return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which("reap")


def _unavailable(config) -> Optional[str]:
    if not sys.platform.startswith("linux"):
        return f"reap needs Linux (this is {sys.platform})"
    if not os.path.isdir("/proc/self/task"):
        return "/proc is not mounted"
    if _find_reap(config) is None:
        return "no reap binary (use --reap-bin, $REAP_BIN or put reap on PATH)"
    return None


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "reap_spare(*texts): processes whose command line contains one of the "
                   "texts are not this test's leak")
    if not _opt(config, "reap", default=False):
        return
    why = _unavailable(config)
    if why is not None:
        config.pluginmanager.register(_Unavailable(why), "reap-unavailable")
        return
    worker = hasattr(config, "workerinput")
    plugin = (_WorkerPlugin if worker else _ReapPlugin)(config)
    config.pluginmanager.register(plugin, "reap-plugin")


class _Unavailable:
    def __init__(self, why):
        self.why = why

    def pytest_report_header(self, config):
        return f"reap: leak checks are off: {self.why}"


def _children() -> Dict[int, Tuple[int, bool]]:
    """pytest's direct children: pid -> (start time, is a zombie). Orphans of a subreaper
    come back as its direct children, so this is the whole fast-path view of processes."""
    pids: Set[int] = set()
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return {}
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children", "rb") as f:
                pids.update(int(p) for p in f.read().split())
        except OSError:
            continue
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(b")") + 2:].split()
        out[pid] = (int(rest[19]), rest[0] in (b"Z", b"X"))
    return out


def _inodes(path: Optional[str]) -> Set[int]:
    if path is None:
        return set()
    try:
        with os.scandir(path) as it:
            return {e.inode() for e in it}
    except OSError:
        return set()


class _View:
    """What the fast path compares: live children (pid, start) and inode numbers."""

    def __init__(self, shm_dir: Optional[str]):
        kids = _children()
        self.procs = {(pid, st) for pid, (st, zombie) in kids.items() if not zombie}
        self.zombies = {(pid, st) for pid, (st, zombie) in kids.items() if zombie}
        self.inodes = _inodes(shm_dir)

    def within(self, other: "_View") -> bool:
        return self.procs <= other.procs and self.inodes <= other.inodes


def _headline(lines: List[str]) -> str:
    procs = sum(1 for line in lines if line.startswith("process "))
    segs = len(lines) - procs
    parts = ([f"{procs} process{'es' if procs != 1 else ''}"] if procs else []) + (
        [f"{segs} segment{'s' if segs != 1 else ''}"] if segs else [])
    return "leaked " + " and ".join(parts) + " (reaped by pytest_reap)"


def _describe(report: dict) -> List[str]:
    lines = []
    for p in (report.get("processes") or {}).get("items", []):
        if p.get("verdict") in _LEAK_PROCESS:
            cmd = " ".join(p.get("cmdline") or []) or p.get("comm", "?")
            lines.append(f"process {p['pid']} ({p.get('comm', '?')}) {cmd!r}: "
                         f"{p['verdict'].replace('_', ' ')}: {p.get('reason', '')}")
    for s in (report.get("shm") or {}).get("items", []):
        if s.get("verdict") in _LEAK_SHM:
            reason = f": {s['reason']}" if s.get("reason") else ""
            lines.append(f"shm {s['name']!r}: {s['verdict'].replace('_', ' ')}{reason}")
    return lines


class _ReapPlugin:
    def __init__(self, config):
        self.config = config
        self.bin = _find_reap(config)
        grace = _opt(config, "reap_grace", default=3.0)
        self.grace = float(grace)
        self.shm = bool(_opt(config, "reap_shm", default=False))
        self.shm_dir = _opt(config, "reap_shm_dir", default="/dev/shm") if self.shm else None
        self.fail = bool(_opt(config, "reap_fail_on_leak", default=False))
        self.spare = list(config.getoption("reap_spare") or []) + list(
            config.getini("reap_spare") or [])
        self.tmp = tempfile.mkdtemp(prefix="pytest-reap-")
        self.session_file = os.path.join(self.tmp, "session")
        self.test_file = os.path.join(self.tmp, "test")
        self.leaks: Dict[str, List[str]] = {}  # node id (or "(session)") -> lines
        self.errors: List[str] = []
        self.failed_by_leak = False
        self.saved: Optional[_View] = None
        self.in_test: Optional[pytest.Item] = None
        self.active = self._start()

    # -- reap calls -------------------------------------------------------------------
    def _run(self, args: List[str]) -> Optional[subprocess.CompletedProcess]:
        try:
            r = subprocess.run([self.bin, "scope", *args], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, errors="replace")
        except OSError as e:
            self.errors.append(f"cannot run {self.bin}: {e}")
            return None
        if r.returncode not in (0, 1):
            msg = r.stderr.strip() or f"reap exited {r.returncode}"
            if msg not in self.errors:
                self.errors.append(msg)
            return None
        return r

    def _save(self, path: str) -> bool:
        args = ["save", path]
        if self.shm_dir:
            args += ["--shm-dir", self.shm_dir]
        return self._run(args) is not None

    def _reap(self, path: str, spare: List[str]) -> List[str]:
        args = ["reap", path, "--json", "--grace", repr(self.grace)]
        if self.shm_dir:
            args.append("--shm")
        for text in self.spare + spare:
            args += ["--spare", text]
        r = self._run(args)
        if r is None:
            return []
        try:
            report = json.loads(r.stdout)
        except ValueError:
            self.errors.append(f"reap printed no JSON report: {r.stdout[:200]!r}")
            return []
        # Collect the exit status of what was reaped: adopted orphans are our children now.
        for p in (report.get("processes") or {}).get("items", []):
            _collect(p.get("pid"))
        return _describe(report)

    def _start(self) -> bool:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            self.errors.append("cannot become a child subreaper: "
                               + os.strerror(ctypes.get_errno()))
            return False
        if not self._save(self.session_file):
            return False
        self.saved = None
        return True

    def _baseline(self):
        """(Re)saves the per-test baseline when the view has something the last one lacked."""
        view = _View(self.shm_dir)
        if self.saved is None or not view.within(self.saved):
            if self._save(self.test_file):
                self.saved = view

    def _check(self, spare: List[str]) -> List[str]:
        if self.saved is None:
            return []
        view = _View(self.shm_dir)
        for pid, _ in view.zombies - self.saved.zombies - self.saved.procs:
            _collect(pid)
        if view.within(self.saved):
            return []  # the fast path: nothing new, nothing to ask reap
        return self._reap(self.test_file, spare)

    # -- hooks ------------------------------------------------------------------------
    def pytest_report_header(self, config):
        if not self.active:
            return f"reap: leak checks are off: {'; '.join(self.errors)}"
        what = "processes" + (f" and segments in {self.shm_dir}" if self.shm_dir else "")
        return f"reap: {self.bin}: reaping each test's leaked {what}"

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item):
        if self.active:
            self.in_test = item
            self._baseline()
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        # A fixture wider than the test (a session-scoped server) is not the test's leak:
        # what it starts joins the baseline.
        wide = self.active and self.in_test is not None and fixturedef.scope != "function"
        before = _View(self.shm_dir) if wide else None
        yield
        if wide and not _View(self.shm_dir).within(before):
            self.saved = None
            self._baseline()

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item, nextitem):
        outcome = yield
        if not self.active:
            return
        self.in_test = None
        spare = [t for m in item.iter_markers("reap_spare") for t in m.args]
        lines = self._check(spare)
        if not lines:
            return
        item.user_properties.append((_PROP, lines))
        if self.fail and outcome.excinfo is None:
            err = LeakError(_headline(lines) + "\n  " + "\n  ".join(lines))
            if hasattr(outcome, "force_exception"):
                outcome.force_exception(err)
            else:
                raise err

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        if call.when == "teardown" and call.excinfo is not None and \
                isinstance(call.excinfo.value, LeakError):
            outcome.get_result().longrepr = f"{item.nodeid}: {call.excinfo.value}"

    def pytest_runtest_logreport(self, report):
        if report.when != "teardown":
            return
        for name, value in report.user_properties:
            if name == _PROP:
                self.leaks.setdefault(report.nodeid, []).extend(value)

    def _session_end(self) -> List[str]:
        if not self.active:
            return []
        lines = self._reap(self.session_file, [])
        self.active = False
        return lines

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        lines = self._session_end()
        if lines:
            self.leaks.setdefault("(session end)", []).extend(lines)
            self._fail_session(session)
        if self.failed_by_leak:
            self._fail_session(session)

    def _fail_session(self, session):
        if self.fail and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_testnodedown(self, node, error):
        # xdist controller: what a worker found at its own session end.
        out = getattr(node, "workeroutput", None) or {}
        lines = out.get(_PROP)
        if lines:
            gw = getattr(getattr(node, "gateway", None), "id", "worker")
            self.leaks.setdefault(f"(session end, {gw})", []).extend(lines)
            self.failed_by_leak = True
        for e in out.get("reap_errors") or []:
            if e not in self.errors:
                self.errors.append(e)

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        if self.leaks:
            tr.write_sep("=", "leaked processes and segments (reap)", yellow=True)
            for nodeid, lines in self.leaks.items():
                tr.write_line(nodeid)
                for line in lines:
                    tr.write_line(f"    {line}")
        if self.errors:
            tr.write_sep("-", "reap errors (leak checks were not done)")
            for e in self.errors:
                tr.write_line(e)

    def pytest_unconfigure(self, config):
        shutil.rmtree(self.tmp, ignore_errors=True)


class _WorkerPlugin(_ReapPlugin):
    """An xdist worker: reaps its own tests' leaks; its session-end findings travel to the
    controller in workeroutput, so the check must run before xdist sends it."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session):
        lines = self._session_end()
        out = getattr(self.config, "workeroutput", None)
        if out is not None:
            if lines:
                out[_PROP] = lines
            if self.errors:
                out["reap_errors"] = list(self.errors)


def _collect(pid) -> None:
    """Waits for `pid` if it is a child that has exited (never blocks, never waits for any
    other pid)."""
    if not isinstance(pid, int) or pid <= 0:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError:
        pass
