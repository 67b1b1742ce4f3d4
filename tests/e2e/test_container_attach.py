"""`rexec attach [OPTIONS] HOST SERVICE` (issue #4): join the stdio of a container's main
process on a real Docker Engine. shop's `console` service runs `sh` with a TTY and stdin open;
containers made here with `docker run` (no network) cover non-TTY mains, signals and exit
codes without disturbing the compose services. The TTY follows the container's config."""
import os
import selectors
import signal
import subprocess
import time

import pexpect
import pytest

from conftest import Client, both_engines, read_until, wait_for
from conftest import finish, shell_ready
from test_audit import records as audit_records
from test_containers import GONE_TIMEOUT, IDLE, plain_container, rexec_error

TICKER = ("trap 'echo got-TERM; exit 7' TERM; i=0; "
          "while :; do i=$((i+1)); echo tick $i; echo tock $i >&2; sleep 1; done")


def stop_client(p):
    if p.poll() is None:
        p.kill()
    p.wait(timeout=10)


def watch_for(stream, needle, seconds):
    """Read a pipe for SECONDS or until NEEDLE shows; everything read."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + seconds
    try:
        while needle not in buf and (left := deadline - time.monotonic()) > 0:
            if sel.select(left):
                chunk = os.read(stream.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
    finally:
        sel.close()
    return buf


def detached(child):
    """The client detached: it ends with 0."""
    return finish(child) == 0


# --- TTY main process: the console service ---------------------------------------------------------


@both_engines
def test_attach_and_detach_with_the_default_keys(engine_spawn, engine):
    before = engine.state("shop_console_1")
    child = engine_spawn("attach", "dev", "console")
    shell_ready(child, "attached")
    child.send("\x10\x11")  # ctrl-p ctrl-q
    assert detached(child)
    after = engine.state("shop_console_1")
    assert (after["Running"], after["StartedAt"]) == (True, before["StartedAt"])


def test_attach_custom_detach_keys(engine_spawn, engine):
    child = engine_spawn("attach", "--detach-keys", "ctrl-x,x", "dev", "console")
    shell_ready(child, "custom")
    child.send("\x18x")  # ctrl-x x
    assert detached(child)
    assert engine.running("shop_console_1")


@both_engines
def test_attach_sees_the_terminal_size_and_resizes(engine_spawn):
    child = engine_spawn("attach", "dev", "console", dims=(27, 91))
    shell_ready(child)

    def size_is(rows, cols):
        def check():
            child.send("stty size\r")
            child.expect(r"(\d+) (\d+)\r\n")
            return (int(child.match.group(1)), int(child.match.group(2))) == (rows, cols)
        return check

    wait_for(size_is(27, 91), 20, "`stty size` to show 27 91", interval=0.2)
    child.setwinsize(44, 133)
    wait_for(size_is(44, 133), 20, "`stty size` to show 44 133", interval=0.2)
    child.send("\x10\x11")
    assert detached(child)


def test_two_clients_attached_at_once_both_see_output(engine_spawn):
    a = engine_spawn("attach", "dev", "console")
    b = engine_spawn("attach", "dev", "console")
    shell_ready(a, "first")
    # Type in A until B shows the shell's answer: B is attached and receives output too.
    deadline = time.monotonic() + 30
    n = 0
    while True:
        n += 1
        a.send(f"echo both-$((1000+{n}))\r")
        try:
            b.expect_exact(f"both-{1000 + n}", timeout=2)
            break
        except pexpect.TIMEOUT:
            if time.monotonic() >= deadline:
                pytest.fail(f"B never saw A's output; B: {b.before[-300:]!r}")
    a.expect_exact(f"both-{1000 + n}")
    b.send("\x10\x11")
    assert detached(b)
    shell_ready(a, "still")  # A stays attached when B leaves
    a.send("\x10\x11")
    assert detached(a)


@both_engines
def test_attach_exit_code_is_the_containers(engine_spawn, engine):
    plain_container(engine, "rexec-attach-exit", "sh", tty=True, stdin=True)
    child = engine_spawn("attach", "dev", "--container", "rexec-attach-exit")
    shell_ready(child)
    child.send("exit 3\r")
    assert finish(child) == 3
    wait_for(lambda: not engine.running("rexec-attach-exit"), 20, "the container to stop")
    assert engine.state("rexec-attach-exit")["ExitCode"] == 3


# --- non-TTY main process ---------------------------------------------------------------------------


@both_engines
def test_attach_to_a_service_without_tty(start_agent, rexec_bin, engine, tmp_path):
    audit = tmp_path / "audit.log"
    agent = start_agent("--engine", engine.host, "--audit-log", audit)
    p = Client(rexec_bin, agent).popen("attach", "dev", "worker")
    try:
        read_until(p.stdout, b"tick ", 30)
    finally:
        stop_client(p)
    # The client vanished (SIGKILL). After the grace period (1 s) the agent lets the session go
    # and writes its "end"; a session that ended the main process would end only with it. The
    # main process is not the client's to end: it still runs then.
    wait_for(lambda: [r for r in audit_records(audit) if r["event"] == "end"], GONE_TIMEOUT,
             "the attach session's end in the audit log")
    assert engine.running("shop_worker_1")
    agent.assert_alive()


@both_engines
def test_attach_keeps_stdout_and_stderr_apart(engine_client, engine):
    plain_container(engine, "rexec-attach-split", "sh", "-c", TICKER)
    p = engine_client.popen("attach", "dev", "--container", "rexec-attach-split")
    try:
        out = read_until(p.stdout, b"\n", 30)
        err = read_until(p.stderr, b"\n", 30)
    finally:
        stop_client(p)
    assert out.startswith(b"tick ") and b"tock" not in out, out
    assert err.startswith(b"tock ") and b"tick" not in err, err


def test_attach_without_tty_passes_detach_key_bytes_as_data(engine_client, engine):
    # As with docker: detach keys work only with a TTY; without one, stdin is exact bytes.
    plain_container(engine, "rexec-attach-notty-keys", "sh", "-c",
                    "(while :; do echo tick; sleep 1; done) & head -c 4 | od -An -tx1; wait",
                    stdin=True)
    p = engine_client.popen("attach", "dev", "--container", "rexec-attach-notty-keys")
    try:
        read_until(p.stdout, b"tick", 30)  # attached (stdin rides the same stream)
        p.stdin.write(b"\x10\x11ab")
        p.stdin.flush()
        got = read_until(p.stdout, b" 62", 30)
    finally:
        stop_client(p)
    assert b" 10 11 61 62" in got, got
    assert engine.running("rexec-attach-notty-keys")


@both_engines
def test_attach_proxies_signals_to_the_main_process(engine_client, engine):
    plain_container(engine, "rexec-attach-sig", "sh", "-c", TICKER)
    p = engine_client.popen("attach", "dev", "--container", "rexec-attach-sig")
    try:
        read_until(p.stdout, b"tick ", 30)
        p.send_signal(signal.SIGTERM)
        stdout, _ = p.communicate(timeout=30)
    finally:
        stop_client(p)
    assert p.returncode == 7, stdout
    assert b"got-TERM" in stdout
    wait_for(lambda: not engine.running("rexec-attach-sig"), 20, "the container to stop")
    assert engine.state("rexec-attach-sig")["ExitCode"] == 7


def test_attach_sig_proxy_false_keeps_signals_local(engine_client, engine):
    plain_container(engine, "rexec-attach-nosig", "sh", "-c", TICKER)
    p = engine_client.popen("attach", "--sig-proxy=false", "dev", "--container",
                            "rexec-attach-nosig")
    try:
        read_until(p.stdout, b"tick ", 30)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("with --sig-proxy=false a SIGTERM to the client should end the client"
                        " (as with docker attach), not be ignored")
    finally:
        stop_client(p)
    assert engine.running("rexec-attach-nosig")
    logs = engine.docker("logs", "rexec-attach-nosig").stdout
    assert "got-TERM" not in logs


def test_attach_no_stdin(engine_client, engine):
    plain_container(engine, "rexec-attach-nostdin", "sh", "-c",
                    "(while :; do echo tick; sleep 1; done) & "
                    "while read l; do echo got:$l; done", stdin=True)
    b = engine_client.popen("attach", "--no-stdin", "dev", "--container", "rexec-attach-nostdin")
    a = engine_client.popen("attach", "dev", "--container", "rexec-attach-nostdin")
    try:
        read_until(a.stdout, b"tick", 30)
        read_until(b.stdout, b"tick", 30)
        b.stdin.write(b"from-b\n")
        b.stdin.close()
        # B's line, were it sent, would come back on A: watch A for a second (a bound on a
        # negative, not a synchronisation), failing as soon as it shows.
        early = watch_for(a.stdout, b"got:from-b", 1.0)
        assert b"got:from-b" not in early, early
        a.stdin.write(b"from-a\n")
        a.stdin.flush()
        seen_a = read_until(a.stdout, b"got:from-a", 30)
        seen_b = read_until(b.stdout, b"got:from-a", 30)  # B still gets the output
        assert b.poll() is None, "stdin EOF must not end a --no-stdin attach"
    finally:
        stop_client(a)
        stop_client(b)
    assert b"got:from-b" not in early + seen_a + seen_b
    assert engine.running("rexec-attach-nostdin")


# --- errors ---------------------------------------------------------------------------------------


def test_attach_unknown_service_is_refused(engine_client):
    rexec_error(engine_client.run("attach", "dev", "no-such-service"), "no-such-service")


def test_attach_unknown_replica_is_refused(engine_client):
    rexec_error(engine_client.run("attach", "--project", "shop", "--index", "9", "dev", "web"))


@both_engines
def test_attach_stopped_container_is_refused(engine_client, engine):
    plain_container(engine, "rexec-attach-stopped", *IDLE)
    engine.docker("stop", "-t", "5", "rexec-attach-stopped")
    rexec_error(engine_client.run("attach", "dev", "--container", "rexec-attach-stopped"))


def test_attach_ambiguous_service_is_refused(engine_client):
    rexec_error(engine_client.run("attach", "dev", "web"), "shop", "blog")
