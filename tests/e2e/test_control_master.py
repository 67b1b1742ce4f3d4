"""The control master (`defaults: { control_persist: DURATION }`), rexec's ssh
ControlMaster/ControlPersist: the first run for an agent starts a detached master that keeps
one TLS connection; the runs after it go through the master's unix socket (mode 0600, in the
cache directory's mux/, mode 0700) without a connection of their own. A run sees the same as
without it: output byte for byte, stdin, exit codes, signals, a terminal and its size. A run
that dies leaves no session behind (SIGHUP, then SIGKILL), and the master goes when idle for
control_persist, when its agent goes, or when its socket is taken from it. Only its own user
may use it."""
import hashlib
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time

import pexpect
import pytest

from conftest import Client, close_child, ended, masters, wait_for, wait_gone, wait_present

TIMEOUT = 30  # pexpect's per-expect bound: a hang guard, not a speed claim


@pytest.fixture
def mux_dir(tmp_path, monkeypatch):
    """$XDG_RUNTIME_DIR for the test (short: a socket's path must fit 108 bytes); the
    masters' sockets go in its rexec/mux."""
    rt = pathlib.Path(tempfile.mkdtemp(prefix="rx"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(rt))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield rt / "rexec" / "mux"
    shutil.rmtree(rt, ignore_errors=True)


def mux_client(rexec_bin, agent, persist="30s"):
    """A client of AGENT whose config keeps a control master for PERSIST."""
    conf = agent.state_dir / f"client-master-{persist}.conf"
    conf.write_text(agent.config.read_text() + f"\ndefaults: {{ control_persist: {persist} }}\n")
    return Client(rexec_bin, agent, config=conf)


def run(client, *cmd, **kw):
    return client.run("-v", "-T", "dev", "--host", "--", *cmd, **kw)


def test_runs_share_one_master_and_see_the_same_as_without(rexec_bin, dev_agent, mux_dir,
                                                           stop_masters):
    c = mux_client(rexec_bin, dev_agent)
    stop_masters(c)
    r = run(c, "sh", "-c", "echo one; echo two >&2; exit 3")
    assert (r.returncode, r.stdout) == (3, b"one\n"), r.stderr
    assert b"two\n" in r.stderr and b"through its control master" in r.stderr
    (master,) = masters(c)
    (sock,) = mux_dir.iterdir()
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(mux_dir.stat().st_mode) == 0o700

    # stdin and stdout byte for byte, both ways, through the master
    blob = os.urandom(3 << 20)
    r = c.run("-T", "dev", "--host", "--", "sha256sum", input=blob)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0].decode() == hashlib.sha256(blob).hexdigest()
    r = c.run("-T", "dev", "--host", "--", "cat", input=blob)
    assert r.returncode == 0 and r.stdout == blob
    for code in (0, 7, 255):
        r = run(c, "sh", "-c", f"exit {code}")
        assert r.returncode == code and b"through its control master" in r.stderr
    r = run(c, "sh", "-c", "kill -TERM $$")
    assert r.returncode == 128 + signal.SIGTERM
    assert masters(c) == [master], "one master for all the runs"

    # Several runs at once, each with its own session and output.
    ps = [c.popen("-T", "dev", "--host", "--", "sh", "-c", f"sleep 0.5; echo run{i}; exit {i}")
          for i in range(4)]
    for i, p in enumerate(ps):
        with ended(p):
            out, _ = p.communicate(timeout=60)
            assert (p.returncode, out) == (i, f"run{i}\n".encode())


def test_unknown_service_and_refusals_come_through(rexec_bin, dev_agent, mux_dir, stop_masters):
    c = mux_client(rexec_bin, dev_agent)
    stop_masters(c)
    r = c.run("dev", "--host", "--", "/nonexistent/cmd")
    assert r.returncode == 127, r.stderr
    r = c.run("dev", "web", "true")
    assert r.returncode != 0 and r.stderr, r.stderr


def exits_with(child, code):
    """The shell in the pexpect CHILD exits with CODE, and so does the client."""
    child.sendline(f"exit {code}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == code


def test_a_terminal_through_the_master(rexec_bin, dev_agent, mux_dir, stop_masters, marker):
    c = mux_client(rexec_bin, dev_agent)
    stop_masters(c)
    assert run(c, "true").returncode == 0  # the master is up before the terminal run
    env = dict(c.env, TERM="xterm")
    argv = c.argv("dev", "--host", "sh")
    child = pexpect.spawn(argv[0], argv[1:], env=env, dimensions=(37, 101), timeout=TIMEOUT)
    try:
        child.sendline("stty size; tty")
        child.expect(r"37 101\r\n/dev/pts/\d+")
        child.setwinsize(24, 120)  # SIGWINCH to the client: the new size travels on its own
        deadline = time.monotonic() + TIMEOUT
        while True:
            child.sendline("stty size")
            i = child.expect([r"24 120", pexpect.TIMEOUT], timeout=2)
            if i == 0:
                break
            assert time.monotonic() < deadline, "the resize never arrived"
        child.sendline(f"sleep {marker}")
        wait_present(marker)  # ^C must find the sleep in the foreground, not the shell
        child.sendintr()
        child.sendline("echo after-$?")
        child.expect("after-130")
        exits_with(child, 5)
    finally:
        close_child(child)
    assert len(masters(c)) == 1


def test_a_terminal_beside_bulk_runs_keeps_every_stream_in_order(rexec_bin, dev_agent, mux_dir,
                                                                stop_masters):
    """A terminal's frames go ahead of bulk frames queued on the same connection (the agent's
    and the master's, conn_send_urgent) and the agent stops reading output while its socket is
    full: neither may reorder or drop a byte. A terminal session prints and echoes while another
    run downloads and a third uploads, all through one master."""
    c = mux_client(rexec_bin, dev_agent)
    stop_masters(c)
    assert run(c, "true").returncode == 0
    size = 96 << 20
    blob = os.urandom(size)
    down = c.popen("-T", "dev", "--host", "--", "head", "-c", str(size), "/dev/urandom",
                   stdin=subprocess.DEVNULL)
    up = c.popen("-T", "dev", "--host", "--", "sha256sum", stdout=subprocess.PIPE)
    feed = threading.Thread(target=lambda: (up.stdin.write(blob), up.stdin.close()),
                            daemon=True)
    feed.start()
    got = {}
    reader = threading.Thread(target=lambda: got.update(down=down.stdout.read()), daemon=True)
    reader.start()
    argv = c.argv("dev", "--host", "sh")
    child = pexpect.spawn(argv[0], argv[1:], env=dict(c.env, TERM="dumb"), timeout=TIMEOUT)
    try:
        child.sendline("stty -echo; PS1=''; echo re''ady")
        child.expect("ready")
        for i in range(20):
            child.sendline(f"seq {i * 1000} {i * 1000 + 999}; echo end-$(({i} * 3))")
            child.expect(f"end-{i * 3}")
            numbers = [int(n) for n in child.before.split()]
            assert numbers == list(range(i * 1000, i * 1000 + 1000)), f"round {i}: {numbers}"
        exits_with(child, 4)
    finally:
        close_child(child)
    feed.join(timeout=120)
    reader.join(timeout=120)
    with ended(down), ended(up):
        out = up.stdout.read()
        assert down.wait(timeout=120) == 0 and up.wait(timeout=120) == 0
    assert len(got["down"]) == size
    assert out.split()[0].decode() == hashlib.sha256(blob).hexdigest()
    assert len(masters(c)) == 1


def test_a_run_that_dies_leaves_no_session_behind(rexec_bin, dev_agent, mux_dir, marker,
                                                  stop_masters):
    c = mux_client(rexec_bin, dev_agent)
    stop_masters(c)
    # A plain process: SIGHUP ends it.
    with ended(c.popen("-T", "dev", "--host", "--", "sleep", marker)) as p:
        wait_present(marker)
        p.kill()
        p.wait(timeout=10)
        wait_gone(marker, timeout=15)
    # One that ignores SIGHUP: SIGKILL follows.
    script = f"trap '' HUP; exec sleep {marker}2"
    with ended(c.popen("-T", "dev", "--host", "--", "sh", "-c", script)) as p:
        wait_present(marker + "2")
        p.kill()
        p.wait(timeout=10)
        wait_gone(marker + "2", timeout=15)
    # ^C of a run goes to its session, as without a master.
    with ended(c.popen("-T", "dev", "--host", "--", "sleep", marker + "3")) as p:
        wait_present(marker + "3")
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=30) == 128 + signal.SIGINT
    assert len(masters(c)) == 1
    dev_agent.assert_alive()


def test_the_master_leaves_when_idle_and_takes_its_socket(rexec_bin, dev_agent, mux_dir):
    c = mux_client(rexec_bin, dev_agent, persist="1s")
    assert run(c, "true").returncode == 0
    (pid,) = masters(c)
    assert list(mux_dir.iterdir())
    wait_for(lambda: not masters(c), 30, "the idle master to leave")
    assert list(mux_dir.iterdir()) == []
    # The next run starts a new one.
    assert run(c, "true").returncode == 0
    assert masters(c) and masters(c) != [pid]


def test_the_master_leaves_with_its_agent(rexec_bin, start_agent, mux_dir):
    agent = start_agent()
    c = mux_client(rexec_bin, agent)
    assert run(c, "true").returncode == 0
    assert masters(c)
    agent.kill(signal.SIGTERM)
    wait_for(lambda: not masters(c), 30, "the master to leave with its agent")
    assert list(mux_dir.iterdir()) == []
    r = run(c, "true")
    assert r.returncode == 255 and b"refused" in r.stderr, r.stderr
    # The master that the run started tells it of the failure, then exits: it may still be
    # on its way out when the run has returned (seen once on a loaded machine), never stay.
    wait_for(lambda: not masters(c), 30, "no master to stay for an agent that is not there")


def test_a_dead_masters_socket_is_replaced(rexec_bin, dev_agent, mux_dir, stop_masters):
    c = mux_client(rexec_bin, dev_agent)
    stop_masters(c)
    assert run(c, "true").returncode == 0
    (old,) = masters(c)
    os.kill(old, signal.SIGKILL)  # no chance to remove its socket
    wait_for(lambda: not masters(c), 30, "the killed master to be gone")
    assert list(mux_dir.iterdir()), "the dead master's socket is still there"
    r = run(c, "sh", "-c", "echo fine")
    assert (r.returncode, r.stdout) == (0, b"fine\n"), r.stderr
    (new,) = masters(c)
    assert new != old


def test_another_user_hears_nothing(rexec_bin, dev_agent, mux_dir, stop_masters):
    c = mux_client(rexec_bin, dev_agent)
    stop_masters(c)
    assert run(c, "true").returncode == 0
    (sock,) = mux_dir.iterdir()
    # Open the way to the socket for this test (the 0700 directory is the first guard).
    for d in (mux_dir, mux_dir.parent, mux_dir.parent.parent):
        os.chmod(d, 0o755)
    os.chmod(sock, 0o666)

    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)

    probe = ("import socket,sys\n"
             "s=socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1])\n"
             # the master may refuse (close) before it reads a byte: EPIPE then
             "try: s.sendall(b'\\0\\0\\0\\2\\10\\0')\n"
             "except (BrokenPipeError, ConnectionResetError): pass\n"
             "got=b''\n"
             "while True:\n"
             "    try: d=s.recv(4096)\n"
             "    except ConnectionResetError: break\n"
             "    if not d: break\n"
             "    got+=d\n"
             "print(len(got))\n")
    r = subprocess.run(["/usr/bin/python3", "-c", probe, str(sock)], preexec_fn=as_nobody,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == b"0", "the master closed on another user without a word"
    # Its own user still gets through.
    assert run(c, "true").returncode == 0
