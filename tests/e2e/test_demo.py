"""The demo (`packaging/zig build demo` runs packaging/demo with REXEC_BIN_DIR): run for real,
with its own throwaway dockerd, without one (REXEC_DEMO_ENGINE=none), with one that fails to
start, and interrupted by a ^C or a SIGTERM. Each step's output and exit status are checked as
printed, and afterwards nothing the demo started is left: its printed pids are gone, no
process names its temp dir, no mount is under it, and the dir itself is removed."""
import os
import pathlib
import re
import signal
import subprocess

import pytest

from conftest import BIN_DIR, read_until

TOP = pathlib.Path(__file__).resolve().parents[2]
DEMO = TOP / "packaging" / "demo"
DEMO_TIMEOUT = 240.0  # the demo takes ~20 s here; this only keeps a hang from lasting


def demo_env(**extra):
    env = dict(os.environ, REXEC_BIN_DIR=str(BIN_DIR))
    env.pop("REXEC_DEMO_ENGINE", None)
    env.update(extra)
    return env


def run_demo(**extra):
    r = subprocess.run([str(DEMO)], env=demo_env(**extra), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=DEMO_TIMEOUT)
    return r.returncode, r.stdout, r.stderr


def steps(out):
    """{command line: (output, exit status)} for each `$ rexec ...` the demo showed."""
    found = {}
    for block in re.split(r"^\$ ", out, flags=re.M)[1:]:
        cmd, _, rest = block.partition("\n")
        m = re.search(r"^\[exit (\d+)\]$", rest, flags=re.M)
        assert m, f"no [exit N] after `{cmd}`:\n{rest}"
        found[cmd] = (rest[:m.start()], int(m.group(1)))
    return found


def step(found, prefix):
    hits = [c for c in found if c.startswith(prefix)]
    assert len(hits) == 1, f"one step starting `{prefix}` expected, got {hits}"
    return found[hits[0]]


def started(out):
    """The temp dir and the pids the demo said it started (agents, dockerd)."""
    m = re.search(r"^demo: temp dir (/tmp/rexec-demo\.\S+); dev agents: (.*)$", out, flags=re.M)
    assert m, out
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", m.group(2))]
    assert len(pids) == 4, m.group(0)
    d = re.search(r"^demo: dockerd pid (\d+) ", out, flags=re.M)
    return m.group(1), pids + ([int(d.group(1))] if d else [])


def assert_nothing_left(tmp, pids):
    """None of PIDS runs (a reused pid would not name TMP), no process names TMP in its argv
    (containerd and its shims do), no mount is under TMP, and TMP is gone."""
    def mentions_tmp(pid):
        try:
            return tmp.encode() in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
    for pid in pids:
        assert not mentions_tmp(pid), f"pid {pid} still runs: {tmp}"
    left = [p.name for p in pathlib.Path("/proc").iterdir()
            if p.name.isdigit() and mentions_tmp(p.name)]
    assert not left, f"processes naming {tmp} left: {left}"
    with open("/proc/self/mounts") as f:
        mounts = [line.split()[1] for line in f if line.split()[1].startswith(tmp)]
    assert not mounts, mounts
    assert not os.path.exists(tmp), f"{tmp} left behind"


def check_host_steps(found):
    uname = os.uname()
    out, rc = step(found, "rexec dev --host -- uname -sr")
    assert (out, rc) == (f"{uname.sysname} {uname.release}\n", 0)
    assert step(found, "rexec dev --host -- sh -c 'echo to stdout;") == (
        "to stdout\nto stderr\n", 3)
    assert step(found, "printf 'one\\ntwo\\nthree\\n' | rexec dev --host -- sort -r") == (
        "two\nthree\none\n", 0)
    assert step(found, "rexec dev --host -u nobody") == ("hello from nobody in /tmp\n", 0)
    assert step(found, "rexec dev --host -- sh -c 'kill -9 $$'") == ("", 137)
    out, rc = step(found, "rexec dev --host -- no-such-command")
    assert rc == 127 and "no-such-command" in out, out


def check_fanout(found):
    out, rc = step(found, "rexec @demo --host -- uname -s")
    assert rc == 0, out
    assert sorted(out.splitlines()) == sorted(
        [f"{n} | {os.uname().sysname}" for n in ("node1", "node2", "node3")]
        + ["rexec: 3 hosts: 3 ok"]), out
    out, rc = step(found, "rexec @demo --group --host")
    assert rc == 0, out
    sep = "-" * 16
    assert out == (f"{sep}\nnode1,node2 (2 hosts): exit 0\n{sep}\numask 0022\n"
                   f"{sep}\nnode3 (1 host): exit 0\n{sep}\numask 0077\n"
                   "rexec: 3 hosts: 3 ok\n"), out


def test_demo_shows_containers_signals_and_fanout():
    rc, out, err = run_demo()
    assert rc == 0, f"{out}\n{err}"
    tmp, pids = started(out)
    assert len(pids) == 5, f"no dockerd started:\n{out}"
    assert "no container engine" not in out, out
    found = steps(out)
    check_host_steps(found)

    out_tty, rc_tty = step(found, "rexec dev web sh -c 'echo \"$GREETING on $(tty)")
    assert rc_tty == 0, out_tty
    assert re.fullmatch(r"hello from web on /dev/pts/\d+ in /srv/web\n", out_tty), \
        out_tty
    out_sig, rc_sig = step(found, "rexec dev web sh -c 'trap")
    assert rc_sig == 143, out_sig
    lines = out_sig.splitlines()
    assert lines[0] == "waiting for signals", out_sig
    # ^C went through the terminal: the remote one echoed it before the trap's line.
    assert "^Cgot INT" in lines and "got TERM" in lines, out_sig
    assert lines.index("^Cgot INT") < lines.index("got TERM"), out_sig
    out_run, rc_run = step(found, "rexec run --rm dev web")
    assert rc_run == 0 and re.fullmatch(
        r"one-off container [0-9a-f]{12}: GREETING=hello from web\n", out_run), out_run
    out_ps, rc_ps = step(found, "rexec ps dev")
    assert rc_ps == 0, out_ps
    rows = [line.split()[:4] for line in out_ps.splitlines()[1:]]
    assert rows == [["site", "web", "1", "site_web_1"],
                    ["site", "worker", "1", "site_worker_1"]], out_ps  # the one-off is gone
    assert "running" in out_ps, out_ps
    assert re.search(r"^# ssh into a service .*no SSH front", out, flags=re.M), out
    check_fanout(found)
    assert re.search(rf"^demo: cleaned up: agents \(pids [\d ]+\), dockerd \(pid {pids[4]}\)",
                     out, flags=re.M), out
    assert_nothing_left(tmp, pids)


def test_demo_without_engine_says_why_and_shows_host_sessions():
    rc, out, err = run_demo(REXEC_DEMO_ENGINE="none")
    assert rc == 0, f"{out}\n{err}"
    assert ("demo: no container engine: REXEC_DEMO_ENGINE=none skips it; showing host"
            " sessions only\n") in out, out
    tmp, pids = started(out)
    assert len(pids) == 4, out  # no dockerd
    assert "## Containers" not in out and "rexec dev web" not in out, out
    found = steps(out)
    check_host_steps(found)
    check_fanout(found)
    assert_nothing_left(tmp, pids)


def test_demo_says_why_when_dockerd_fails():
    # A real dockerd start failure: an address pool it refuses (docker_env passes it through).
    rc, out, err = run_demo(REXEC_TEST_ADDRESS_POOL="not-a-pool")
    assert rc == 0, f"{out}\n{err}"
    assert re.search(r"^demo: no container engine: dockerd exited \(1\) before it was ready"
                     r" \(dockerd: .*not-a-pool.*\); showing host sessions only$", out,
                     flags=re.M), out
    tmp, pids = started(out)
    found = steps(out)
    check_host_steps(found)
    check_fanout(found)
    assert_nothing_left(tmp, pids)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_demo_cleans_up_when_interrupted(how):
    # Its own process group, as a terminal's foreground job: ^C reaches the whole group;
    # SIGTERM (a `kill`) only the demo.
    p = subprocess.Popen([str(DEMO)], env=demo_env(), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        head = read_until(p.stdout, b"\n$ rexec dev web sh -c 'trap", DEMO_TIMEOUT)
        tmp, pids = started(head.decode())
        assert len(pids) == 5, head
        if how == "ctrl-c":
            os.killpg(p.pid, signal.SIGINT)
        else:
            os.kill(p.pid, signal.SIGTERM)
        rest, _ = p.communicate(timeout=DEMO_TIMEOUT)
    finally:
        if p.poll() is None:  # a failed wait: still let it clean up, then make sure it ends
            os.killpg(p.pid, signal.SIGINT)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    out = (head + rest).decode(errors="replace")
    assert p.returncode == (130 if how == "ctrl-c" else 128 + signal.SIGTERM), out
    assert "demo: cleaned up: agents" in out, out
    assert_nothing_left(tmp, pids)
