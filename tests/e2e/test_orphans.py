"""No orphans: when the client vanishes the agent ends the session's process group (HUP, then
KILL) within the grace period (the fixture's agent runs with --grace 1s); background holders of
the output get HUP once the main process is gone. The agent runs on this very host, so the
remote processes are visible in /proc: each carries a unique `sleep` argument (the marker)."""
import os
import signal

import pexpect

from conftest import close_child, ended, read_until, wait_gone, wait_present

# Grace (1 s) + HUP->KILL escalation + scheduling slack. A bound for a hang, not a speed claim.
GONE_TIMEOUT = 20.0
# A client that stops answering (frozen, network gone) is noticed by keepalive "within
# seconds, not hours"; then the grace runs. Generous on purpose.
FROZEN_TIMEOUT = 90.0


def start_and_kill_client(client, remote_argv, marker, tty=False):
    """Start `rexec [-t|-T] dev --host -- ARGV`, wait until the marked process runs, SIGKILL
    the client. Returns the client's Popen (already reaped)."""
    p = client.popen("-t" if tty else "-T", "dev", "--host", "--", *remote_argv)
    try:
        wait_present(marker)
    finally:
        p.kill()
        p.wait(timeout=10)
    return p


def test_sigkill_client_ends_remote_process(client, marker):
    start_and_kill_client(client, ["sh", "-c", f"exec sleep {marker}"], marker)
    wait_gone(marker, GONE_TIMEOUT)
    client.agent.assert_alive()


def test_sigkill_client_ends_whole_process_group(client, marker):
    other = marker + "1"
    start_and_kill_client(client, ["sh", "-c", f"sleep {other} & sleep {marker} & wait"], marker)
    wait_present(other)  # both were started before the client vanished
    wait_gone(marker, GONE_TIMEOUT)
    wait_gone(other, GONE_TIMEOUT)


def test_sigkill_client_ends_process_that_ignores_hup(client, marker):
    start_and_kill_client(client, ["sh", "-c", f"trap '' HUP TERM; exec sleep {marker}"], marker)
    wait_gone(marker, GONE_TIMEOUT)  # HUP is ignored: only the KILL after it can end it


def test_sigkill_tty_client_ends_remote_process(client, marker):
    start_and_kill_client(client, ["sh", "-c", f"exec sleep {marker}"], marker, tty=True)
    wait_gone(marker, GONE_TIMEOUT)


def test_tilde_dot_ends_remote_process(client, marker):
    child = pexpect.spawn(client.bin, ["dev", "--host", "--", "sh", "-c",
                                       f"trap '' INT QUIT TSTP HUP; exec sleep {marker}"],
                          env=dict(client.env, TERM="xterm"), dimensions=(24, 80), timeout=30)
    try:
        wait_present(marker)
        child.send("\r~.")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 255
        wait_gone(marker, GONE_TIMEOUT)
    finally:
        close_child(child)


def test_live_session_outlasts_the_grace_period(client):
    # The session runs 3x the grace with a connected client: nothing may end it early.
    r = client.run("dev", "--host", "--", "sh", "-c", "sleep 3; echo still-here", timeout=60)
    assert (r.returncode, r.stdout) == (0, b"still-here\n"), r.stderr


def test_background_holder_of_output_gets_hup_after_main_exits(client, marker):
    # "done" only once the background job is the marked sleep (not yet the forked shell), so
    # that the wait below has something to wait for.
    script = (f"sleep {marker} & until [ \"$(cat /proc/$!/comm)\" = sleep ]; do sleep 0.01; done; "
              "echo done")
    r = client.run("dev", "--host", "--", "sh", "-c", script, timeout=20)
    assert (r.returncode, r.stdout) == (0, b"done\n"), r.stderr
    wait_gone(marker, GONE_TIMEOUT)


def test_frozen_client_session_is_ended(client, marker):
    # SIGSTOP: the client's TCP connection stays up but nothing answers (like a dead network).
    p = client.popen("-T", "dev", "--host", "--", "sh", "-c", f"echo up; exec sleep {marker}")
    try:
        read_until(p.stdout, b"up\n", timeout=30)
        # "up" comes before the exec: wait for the marked sleep itself, else the wait below
        # could find nothing to wait for and end at once (seen on a loaded CI machine).
        wait_present(marker)
        os.kill(p.pid, signal.SIGSTOP)
        wait_gone(marker, FROZEN_TIMEOUT)
        os.kill(p.pid, signal.SIGCONT)
        p.communicate(timeout=60)
        assert p.returncode != 0, "a session ended under a frozen client is not a success"
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGCONT)
            p.kill()
            p.wait(timeout=10)
    client.agent.assert_alive()


def test_client_notices_frozen_agent(client, marker):
    # SIGSTOP the agent: keepalive makes the client give up with rexec's own failure (255).
    p = client.popen("-T", "dev", "--host", "--", "sh", "-c", f"echo up; exec sleep {marker}")
    with ended(p):
        read_until(p.stdout, b"up\n", timeout=30)
        os.kill(client.agent.pid, signal.SIGSTOP)
        try:
            _, err = p.communicate(timeout=FROZEN_TIMEOUT)
        finally:
            os.kill(client.agent.pid, signal.SIGCONT)
        assert p.returncode == 255, err
        assert b"rexec: " in err, err
