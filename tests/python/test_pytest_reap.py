"""pytest_reap against real leaking test suites, run by pytester in a subprocess.

Every victim is a process the inner suite started; it records "pid starttime" so this suite
can tell whether it is still alive and, if a check fails, kill exactly it (pidfd, start time
checked). Segments live in a private directory under /dev/shm, never /dev/shm itself.
"""

import os
import shutil
import signal
import tempfile

import pytest

REAP = ["-p", "pytest_reap", "-p", "no:cacheprovider", "--reap", "--reap-grace", "1"]

HELPER = r'''
import os, subprocess, sys

def start_time(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return int(stat[stat.rindex(b")") + 2:].split()[19])

def record(pid):
    with open(os.environ["REAP_PT_VICTIMS"], "a") as f:
        f.write(f"{pid} {start_time(pid)}\n")

def daemon(cwd, *argv):
    """A double-forked, setsid'd sleeper in another cwd: its parent and grandparent exit."""
    argv = argv or ("sleep", "300")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.chdir(cwd)
            os.write(w, b"%d\n" % os.getpid())
            os.execvp(argv[0], list(argv))
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    victim = int(os.read(r, 32))
    os.close(r)
    record(victim)
    return victim

def ignorer():
    """A child that ignores SIGINT (it says so once it does) and is never waited for."""
    r, w = os.pipe()
    code = ("import os, signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            "os.write(int(sys.argv[1]), b'ok'); time.sleep(300)")
    p = subprocess.Popen([sys.executable, "-c", code, str(w)], pass_fds=[w])
    os.close(w)
    assert os.read(r, 2) == b"ok"
    os.close(r)
    record(p.pid)
    return p

def segment(name):
    fd = os.open(os.path.join(os.environ["REAP_PT_SHM"], name), os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, b"x" * 4096)
    os.close(fd)
'''

SUITE = r'''
import os, pytest, leakhelp

def test_daemon(tmp_path):
    leakhelp.daemon(str(tmp_path))

def test_ignorer():
    leakhelp.ignorer()

def test_segment():
    leakhelp.segment("psm_leak")

def test_nothing():
    import subprocess
    subprocess.run(["true"], check=True)

def test_shared_memory_properly():
    from multiprocessing import shared_memory
    shm = shared_memory.SharedMemory(create=True, size=4096)
    shm.buf[0] = 1
    shm.close()
    shm.unlink()
'''

# Started while conftest is imported, before the session's baseline: never the suite's leak.
CONFTEST = r'''
import subprocess, leakhelp
_before = subprocess.Popen(["sleep", "300"])
leakhelp.record(_before.pid)
with open(__import__("os").environ["REAP_PT_VICTIMS"] + ".before", "w") as f:
    f.write(str(_before.pid))
'''


def _start_time(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None, None
    rest = stat[stat.rindex(b")") + 2:].split()
    return int(rest[19]), rest[0].decode()


def alive(pid, start):
    now, state = _start_time(pid)
    return now == start and state not in ("Z", "X")


class Env:
    def __init__(self, pytester, tmp_path):
        self.pytester = pytester
        self.victims_file = tmp_path / "victims"
        self.victims_file.touch()
        self.shm = tempfile.mkdtemp(prefix="reap-pytest.", dir="/dev/shm")
        os.chmod(self.shm, 0o700)

    def victims(self):
        out = []
        for line in self.victims_file.read_text().split("\n"):
            if line:
                pid, start = line.split()
                out.append((int(pid), int(start)))
        return out

    def before_pid(self):
        return int((self.victims_file.parent / "victims.before").read_text())

    def cleanup(self):
        for pid, start in self.victims():
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                if alive(pid, start):  # the pidfd was opened first: it is this process
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os.close(fd)
        shutil.rmtree(self.shm, ignore_errors=True)


@pytest.fixture
def env(pytester, tmp_path, monkeypatch):
    e = Env(pytester, tmp_path)
    monkeypatch.setenv("REAP_PT_VICTIMS", str(e.victims_file))
    monkeypatch.setenv("REAP_PT_SHM", e.shm)
    pytester.makepyfile(leakhelp=HELPER)
    yield e
    e.cleanup()


def leak_section(result):
    """The terminal summary's reap section: node id -> its lines."""
    out, current, inside = {}, None, False
    for line in result.outlines:
        if "leaked processes and segments (reap)" in line:
            inside = True
            continue
        if inside and line.startswith("==="):
            break
        if inside and line.startswith("    "):
            out[current].append(line.strip())
        elif inside and line:
            current = line
            out[current] = []
    return out


def run_suite(env, *extra):
    env.pytester.makeconftest(CONFTEST)
    env.pytester.makepyfile(test_leaky=SUITE)
    before = os.path.join(env.shm, "psm_before")
    fd = os.open(before, os.O_CREAT | os.O_WRONLY, 0o600)  # unheld, ours, older: must stay
    os.close(fd)
    result = env.pytester.runpytest_subprocess(*REAP, "--reap-shm", f"--reap-shm-dir={env.shm}",
                                               *extra)
    return result


def check_reaped(env, result):
    section = leak_section(result)
    victims = dict(env.victims())
    before = env.before_pid()
    daemon, ignorer = [pid for pid in victims if pid != before]
    assert set(section) == {"test_leaky.py::test_daemon", "test_leaky.py::test_ignorer",
                            "test_leaky.py::test_segment"}, result.outlines
    assert any(f"process {daemon} (sleep)" in line and ": reaped:" in line
               for line in section["test_leaky.py::test_daemon"]), section
    assert any(f"process {ignorer} " in line and "killed: ignores SIGINT" in line
               for line in section["test_leaky.py::test_ignorer"]), section
    assert section["test_leaky.py::test_segment"] == ["shm 'psm_leak': unlinked: unheld"], os.listdir(env.shm)
    for pid in (daemon, ignorer):
        assert not alive(pid, victims[pid]), f"victim {pid} survived"
    # What existed before the session is untouched: the conftest's child, the old segment.
    assert alive(before, victims[before])
    assert sorted(os.listdir(env.shm)) == ["psm_before"]


def test_leaks_are_reaped_and_named_and_the_run_passes(env):
    result = run_suite(env)
    result.assert_outcomes(passed=5)
    assert result.ret == 0
    check_reaped(env, result)


def test_fail_on_leak_makes_each_leak_a_teardown_error_of_its_test(env):
    result = run_suite(env, "--reap-fail-on-leak")
    result.assert_outcomes(passed=5, errors=3)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_daemon*",
                                 "*test_daemon: leaked 1 process*"])
    result.stdout.fnmatch_lines(["ERROR test_leaky.py::test_segment*"])
    check_reaped(env, result)


def test_clean_suite_with_multiprocessing_helpers_passes_under_fail_on_leak(env):
    env.pytester.makepyfile(test_clean=r'''
import multiprocessing, subprocess
from multiprocessing import shared_memory

def test_shared_memory():
    shm = shared_memory.SharedMemory(create=True, size=4096)
    shm.close()
    shm.unlink()

def test_forkserver_pool():
    ctx = multiprocessing.get_context("forkserver")
    with ctx.Pool(2) as pool:
        assert pool.map(abs, [-1, -2]) == [1, 2]

def test_waited_child():
    subprocess.run(["true"], check=True)
''')
    result = env.pytester.runpytest_subprocess(*REAP, "--reap-fail-on-leak", "--reap-shm",
                                               f"--reap-shm-dir={env.shm}")
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    assert leak_section(result) == {}


def test_session_fixture_process_is_not_a_leak_and_spare_marker_spares(env):
    env.pytester.makepyfile(test_fixture=r'''
import subprocess, pytest, leakhelp

@pytest.fixture(scope="session")
def server():
    p = subprocess.Popen(["sleep", "300"])
    yield p
    p.kill()
    p.wait()

def test_one(server):
    assert server.poll() is None

def test_two(server):
    assert server.poll() is None

@pytest.mark.reap_spare("reap-spare-me")
def test_spared(tmp_path):
    leakhelp.daemon(str(tmp_path), "sh", "-c", "sleep 300; true", "reap-spare-me")
''')
    result = env.pytester.runpytest_subprocess(*REAP, "--reap-fail-on-leak", "-p", "no:randomly")
    spared = env.victims()[0]
    result.assert_outcomes(passed=3)
    # The spared daemon outlives its test; at session end (a wider scope, no marker) it is
    # the session's leak.
    assert "test_fixture.py::test_spared" not in leak_section(result)
    assert "(session end)" in leak_section(result)
    assert not alive(*spared)
    assert result.ret == 1


def test_xdist_workers_each_reap_their_own_tests(env):
    pytest.importorskip("xdist")
    env.pytester.makepyfile(test_par=r'''
import leakhelp

def test_leak_a(tmp_path):
    leakhelp.daemon(str(tmp_path))

def test_leak_b():
    leakhelp.ignorer()

def test_clean_c():
    pass

def test_clean_d():
    pass
''')
    result = env.pytester.runpytest_subprocess(*REAP, "-n", "2", "--reap-fail-on-leak")
    result.assert_outcomes(passed=4, errors=2)
    assert result.ret == 1
    section = leak_section(result)
    assert set(section) == {"test_par.py::test_leak_a", "test_par.py::test_leak_b"}, \
        result.outlines
    for pid, start in env.victims():
        assert not alive(pid, start)


def test_off_unless_asked_and_harmless_without_reap(env):
    env.pytester.makepyfile(test_off=r'''
import leakhelp

def test_leak(tmp_path):
    leakhelp.daemon(str(tmp_path))
''')
    result = env.pytester.runpytest_subprocess("-p", "pytest_reap", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert alive(*env.victims()[0]), "the plugin acted without --reap"
    env.cleanup()
    result = env.pytester.runpytest_subprocess(*REAP, "--reap-fail-on-leak", "--reap-bin",
                                               "/nonexistent/reap")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["reap: leak checks are off: no reap binary*"])
