"""`rexec dev --host` on a real terminal (pexpect gives the client a PTY, as a person's
terminal would): initial size and resize, ^C ^Z ^\\ ^D through the remote line discipline,
exit codes, the `~.` escape, and the local terminal restored afterwards."""
import json
import os
import pwd
import shlex
import time

import pexpect
import pytest

from conftest import (Client, close_child, ended, finish, pids_with_arg, send_until_seen,
                      shell_ready, wait_for, wait_gone, wait_present, wait_remote_size)

TIMEOUT = 30  # pexpect's per-expect bound: a hang guard, not a speed claim

CURSES_SIZE = r"""
import curses
def main(s):
    s.addstr(0, 0, "size=%dx%d;" % s.getmaxyx()); s.refresh()
    while True:
        c = s.getch()
        if c == curses.KEY_RESIZE:
            s.clear(); s.addstr(0, 0, "size=%dx%d;" % s.getmaxyx()); s.refresh()
        elif c == ord("q"):
            return
curses.wrapper(main)
"""


@pytest.fixture
def spawn(client):
    """spawn(*rexec_args, dims=(rows, cols)) -> pexpect child running the real client on a PTY."""
    children = []

    def start(*args, dims=(24, 80), argv=None):
        env = dict(client.env, TERM="xterm")
        cmd = argv if argv is not None else client.argv(*args)
        child = pexpect.spawn(cmd[0], cmd[1:], env=env, dimensions=dims, timeout=TIMEOUT)
        children.append(child)
        return child

    yield start
    for child in children:
        close_child(child)


# --- size --------------------------------------------------------------------------------------


def test_stty_size_at_start_is_client_terminal_size(spawn):
    child = spawn("dev", "--host", "stty", "size", dims=(37, 101))
    child.expect_exact("37 101")
    assert finish(child) == 0


def test_stty_size_follows_a_resize(spawn):
    child = spawn("dev", "--host", "sh", dims=(24, 80))
    shell_ready(child)
    child.setwinsize(50, 132)

    wait_remote_size(child, 50, 132, "the remote shell")
    child.send("exit\r")
    assert finish(child) == 0


def test_fullscreen_program_sees_size_at_start(spawn):
    child = spawn("dev", "--host", "/usr/bin/python3", "-c", CURSES_SIZE, dims=(33, 99))
    child.expect_exact("size=33x99;")
    child.send("q")
    assert finish(child) == 0


def test_fullscreen_program_sees_a_resize(spawn):
    child = spawn("dev", "--host", "/usr/bin/python3", "-c", CURSES_SIZE, dims=(24, 80))
    child.expect_exact("size=24x80;")
    child.setwinsize(41, 121)
    child.expect_exact("size=41x121;")
    child.send("q")
    assert finish(child) == 0


# --- tty selection -----------------------------------------------------------------------------


def test_tty_is_default_on_a_terminal(spawn):
    child = spawn("dev", "--host", "tty")
    child.expect(r"/dev/pts/\d+")
    assert finish(child) == 0


def test_T_disables_the_tty_on_a_terminal(spawn):
    child = spawn("-T", "dev", "--host", "tty")
    child.expect_exact("not a tty")
    assert finish(child) == 1


# --- shell, exit codes, login shell ------------------------------------------------------------


def test_exit_7_gives_7(spawn):
    child = spawn("dev", "--host", "sh")
    shell_ready(child)
    child.send("exit 7\r")
    assert finish(child) == 7


def test_no_command_gives_the_users_login_shell(spawn):
    child = spawn("dev", "--host")
    shell_ready(child)
    child.send("readlink /proc/$$/exe; echo shell-$((6*7))\r")
    child.expect(r"(/[\w./+-]+)\r\nshell-42")  # bash may put escapes (bracketed paste) first
    shell = os.path.realpath(pwd.getpwuid(os.getuid()).pw_shell)
    assert child.match.group(1).decode() == shell
    child.send("exit\r")
    assert finish(child) == 0


def test_remote_kill_9_gives_137_with_tty(spawn):
    child = spawn("dev", "--host", "sh")
    shell_ready(child)
    child.send("kill -9 $$\r")
    assert finish(child) == 137


# --- control keys through the remote line discipline -----------------------------------------


def test_ctrl_c_stops_foreground_job_and_shell_survives(spawn, marker):
    child = spawn("dev", "--host", "sh")
    shell_ready(child)
    child.send(f"sleep {marker}\r")
    wait_present(marker)
    child.send("\x03")
    wait_gone(marker, 20)
    shell_ready(child, "alive")
    child.send("exit\r")
    assert finish(child) == 0


def test_ctrl_backslash_quits_foreground_job_and_shell_survives(spawn, marker):
    child = spawn("dev", "--host", "sh")
    shell_ready(child)
    child.send(f"ulimit -c 0; sleep {marker}\r")
    wait_present(marker)
    child.send("\x1c")
    wait_gone(marker, 20)
    shell_ready(child, "alive")
    child.send("exit\r")
    assert finish(child) == 0


def test_ctrl_z_suspends_foreground_job(spawn, marker):
    child = spawn("dev", "--host", "sh")
    shell_ready(child)
    child.send(f"sleep {marker}\r")
    (pid,) = wait_present(marker)
    child.send("\x1a")

    def stopped():
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2:][:1] == b"T"

    wait_for(stopped, 20, f"sleep (pid {pid}) to be stopped by ^Z")
    shell_ready(child, "alive")
    child.send("kill -9 %1; wait\r")
    wait_gone(marker, 20)
    shell_ready(child, "reaped")
    child.send("exit\r")
    assert finish(child) == 0


def test_ctrl_d_ends_remote_cat(spawn):
    child = spawn("dev", "--host", "cat")
    send_until_seen(child, "hello\r", "hello\r\nhello\r\n")  # the remote echo, then cat's copy
    child.send("\x04")
    assert finish(child) == 0


def test_ctrl_c_does_not_end_the_client(spawn):
    # ^C is data for the remote terminal: the remote shell (not rexec) decides what it means.
    child = spawn("dev", "--host", "sh")
    shell_ready(child)
    child.send("\x03")
    shell_ready(child, "after")
    assert child.isalive()
    child.send("exit\r")
    assert finish(child) == 0


# --- the ~. escape ---------------------------------------------------------------------------


def test_tilde_dot_after_newline_drops_session_with_255(spawn, marker):
    child = spawn("dev", "--host", "sh")
    shell_ready(child)
    # A command that ignores everything the terminal can send: only the escape ends the client.
    child.send(f"trap '' INT QUIT TSTP; sleep {marker}\r")
    wait_present(marker)
    child.send("\r~.")
    assert finish(child) == 255


def test_tilde_dot_mid_line_is_plain_text(spawn):
    child = spawn("dev", "--host", "sh")
    shell_ready(child)
    child.send("echo a~.b-$((1+1))\r")
    child.expect_exact("a~.b-2")
    assert child.isalive()
    child.send("exit\r")
    assert finish(child) == 0


# --- the local terminal is restored --------------------------------------------------------------


def local_sh(spawn, client, remote_args):
    """Run `stty -g; rexec ARGS; echo rc=$?; stty -g` in a local sh on the PTY."""
    line = " ".join(shlex.quote(a) for a in client.argv(*remote_args))
    script = f"stty -g; echo begin; {line}; echo rc=$?; stty -g; echo end"
    return spawn(argv=["/bin/sh", "-c", script])


def saved_modes(child, until):
    child.expect(r"([0-9a-f]+(?::[0-9a-f]+)+)\r\n" + until)
    return child.match.group(1)


def test_terminal_restored_after_normal_exit(spawn, client):
    child = local_sh(spawn, client, ["dev", "--host", "sh", "-c", "exit 3"])
    before = saved_modes(child, "begin")
    child.expect_exact("rc=3")
    after = saved_modes(child, "end")
    assert after == before
    assert finish(child) == 0


def test_terminal_restored_after_tilde_dot(spawn, client, marker):
    child = local_sh(spawn, client, ["dev", "--host", "sh", "-c",
                                     f"echo remote-up; exec sleep {marker}"])
    before = saved_modes(child, "begin")
    child.expect_exact("remote-up")
    wait_present(marker)
    child.send("\r~.")
    child.expect_exact("rc=255")
    after = saved_modes(child, "end")
    assert after == before
    assert finish(child) == 0


def test_terminal_restored_after_lost_connection(spawn, client, marker):
    child = local_sh(spawn, client, ["dev", "--host", "sh", "-c",
                                     f"echo remote-up; exec sleep {marker}"])
    before = saved_modes(child, "begin")
    child.expect_exact("remote-up")
    client.agent.kill()
    child.expect_exact("rc=255")
    after = saved_modes(child, "end")
    assert after == before
    assert finish(child) == 0


def test_own_messages_in_raw_mode_end_lines_with_cr_lf(spawn):
    # The terminal is raw (no output processing) from before the connection on: rexec's own
    # lines on stderr must bring the cursor back to column 0 themselves.
    child = spawn("-v", "dev", "--host", "--", "sh", "-c", "exit 0")
    child.expect(rb"rexec: connected to dev \([^)]*\)(\r?\n)")
    assert child.match.group(1) == b"\r\n"
    child.expect(rb"rexec: session \S+ open \([^)]*\)(\r?\n)")
    assert child.match.group(1) == b"\r\n"
    assert finish(child) == 0
    child = spawn("-v", "-u", "no-such-user-here", "dev", "--host", "--", "true")
    child.expect(rb"no such user on this host: no-such-user-here(\r?\n)")
    assert child.match.group(1) == b"\r\n"
    assert finish(child) == 125


# --- output written just before the exit ---------------------------------------------------------

# A burst larger than the pty's buffers (the writer blocks on it), then the session leader exits
# at once: the kernel still holds tens of KB on the master side when the slave side is closed.
# The tail was lost about 3 runs in 20 (libuv took the master's POLLHUP after a short read for
# the end): enough runs to see it every time.
BURST = 300000
BURST_RUNS = 30
BURST_CMD = f"head -c {BURST} /dev/zero | tr '\\0' x; exit"


def read_to_eof(child):
    """Everything a pexpect CHILD prints until it closes its terminal (bounded by TIMEOUT)."""
    out = b""
    while True:
        try:
            out += child.read_nonblocking(65536, timeout=TIMEOUT)
        except pexpect.EOF:
            return out


def audit_ends(path, n):
    """The "end" records of the audit log at PATH once there are N of them (bounded poll)."""
    def ends():
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            return None
        got = [r for r in map(json.loads, lines) if r["event"] == "end"]
        return got if len(got) >= n else None

    return wait_for(ends, 30, f"{n} end records in {path}")


def test_burst_then_exit_arrives_whole(start_agent, rexec_bin, tmp_path):
    # Through the client's real terminal (raw: the count is exact), and as the agent counted it.
    log = tmp_path / "audit.jsonl"
    client = Client(rexec_bin, start_agent("--audit-log", log))
    short = []
    for i in range(BURST_RUNS):
        child = pexpect.spawn(client.bin, ["dev", "--host", "--", "sh", "-c", BURST_CMD],
                              env=dict(client.env, TERM="xterm"), dimensions=(24, 80),
                              timeout=TIMEOUT)
        try:
            got = read_to_eof(child).count(b"x")
            assert finish(child) == 0
        finally:
            close_child(child)
        if got != BURST:
            short.append((i, got))
    counted = [r["bytes_out"] for r in audit_ends(log, BURST_RUNS)]
    assert short == [], f"runs (index, bytes) that lost output, of {BURST_RUNS}: {short}"
    assert counted == [BURST] * BURST_RUNS, counted


def test_background_holder_of_the_terminal_does_not_hold_the_session(spawn, marker):
    # The holder ignores the hang-up: the slave stays open, the master never reports its end,
    # and the session must still end once the output stays idle (the tail of BURST included).
    child = spawn("dev", "--host", "--", "sh", "-c",
                  f"trap '' HUP; sleep {marker} & {BURST_CMD}")
    got = read_to_eof(child).count(b"x")
    assert finish(child) == 0
    assert got == BURST
    assert wait_present(marker), "the holder should outlive the session"


# The client's window (WIRE_WINDOW_DEFAULT): past it the agent stops reading until the client
# credits some back. What the client's stdout pipe takes unread (16 pages, at most 64 KiB) is
# not credited: the client holds credit back until a quarter of the window (WIRE_CREDIT_BATCH)
# is written out. TAIL is what the process writes beyond the window: more than one read of
# the master gets (4095 bytes), less than the pty buffers (8 to 19 KB here, by the writes'
# sizes), so that the writer exits with the tail in the pty; a try where it did not is tried
# again. Once the test reads, the client writes out its queue, credits it, and the agent's
# window opens wide: its reads of the master come short.
WINDOW = 1024 * 1024
TAIL = 4600
HELD_TRIES = 8


def tail_held_in_the_pty(client, target, marker):
    """Run a burst on TARGET (`--host` or `--container NAME`) with -t while the client's stdout
    is not read, so that its tail waits in the pty when the process exits; then read. Asserts
    that every byte arrived, in every try, and that some try held the tail."""
    n = WINDOW + TAIL
    script = f"stty -echo; read go; head -c {n} /dev/zero | tr '\\0' x; exit"
    for i in range(HELD_TRIES):
        tag = f"{marker}{i}"
        p = client.popen("-t", "dev", *target, "--", "sh", "-c", script, tag)
        with ended(p):
            wait_present(tag)  # it waits for the go: it cannot have ended unseen
            p.stdin.write(b"go\n")
            p.stdin.flush()
            deadline = time.monotonic() + 5
            while pids_with_arg(tag) and time.monotonic() < deadline:
                time.sleep(0.05)
            exited = not pids_with_arg(tag)
            out, err = p.communicate(timeout=TIMEOUT)
        assert p.returncode == 0, err
        got = out.count(b"x")
        assert got == n, f"try {i} (exited first: {exited}): {n - got} bytes of the tail lost"
        if exited:
            return
    pytest.fail(f"the writer never exited before the test read ({HELD_TRIES} tries): the sizes"
                " no longer hold the tail in the pty")


def test_tail_held_in_the_pty_at_exit_arrives(client, marker):
    tail_held_in_the_pty(client, ["--host"], marker)
