"""Session recording (`record: { dir: DIR, input: BOOL }` in the agent's config): every TTY
session becomes DIR/SESSION_ID.cast, an asciicast v2 file that Debian's `asciinema` reads, and
the audit log's "end" record names it and says whether it is complete.

Each test starts its own dev agent with a config file that turns recording on, drives the real
client (on a real PTY through pexpect, or with -t over pipes), then reads the file twice: parsed
line by line here (header, events) and through `asciinema cat`. The agent writes a session's
"end" after the recording's last write, so tests poll the audit log (bounded) for it. The
full-disk case mounts a small tmpfs in the test's temp dir (the suite runs as root)."""
import json
import os
import pathlib
import re
import signal
import stat
import subprocess

import pexpect
import pytest

from conftest import (close_child, fill, tmpfs, Client, finish, shell_ready, wait_for,
                      wait_remote_size)

TIMEOUT = 30  # pexpect's per-expect bound: a hang guard
RECORD_TIMEOUT = 30.0


def audit_records(path):
    try:
        text = pathlib.Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines()]


def wait_end(log, n=1):
    """Poll until the audit log holds N "end" records; returns them."""
    def ends():
        e = [r for r in audit_records(log) if r["event"] == "end"]
        return e if len(e) >= n else None
    return wait_for(ends, RECORD_TIMEOUT, f"{n} end record(s) in {log}")


def read_cast(path):
    """(header, events) of an asciicast v2 file; every line must be one JSON value."""
    lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    events = [json.loads(line) for line in lines[1:]]
    for e in events:
        assert isinstance(e, list) and len(e) == 3 and isinstance(e[0], float), e
        assert e[1] in ("o", "i", "r") and isinstance(e[2], str), e
    times = [e[0] for e in events]
    assert times == sorted(times), "event times go backwards"
    return header, events


def asciinema(*args):
    """Runs `asciinema ARGS...` on a PTY (it opens /dev/tty, as on a person's terminal); its
    output, after checking that it exited 0."""
    child = pexpect.spawn("asciinema", [str(a) for a in args], timeout=60,
                          dimensions=(50, 200))
    child.expect(pexpect.EOF)
    out = child.before
    child.close()
    assert child.exitstatus == 0, out[-2000:]
    return out


def asciinema_cat(path):
    return asciinema("cat", path)


def client_cn(agent):
    subject = subprocess.run(["openssl", "x509", "-in", str(agent.state_dir / "client.pem"),
                              "-noout", "-subject", "-nameopt", "RFC2253"],
                             capture_output=True, text=True, check=True).stdout
    return re.search(r"CN=([^,\n]+)", subject).group(1)


@pytest.fixture
def recorded(start_agent, rexec_bin, tmp_path):
    """recorded(input=False, dir=None, *agent_args) -> (agent, client, dir, audit log): a dev
    agent whose config records into DIR (default: a new one in the test's temp dir)."""
    def start(*extra, input=False, dir=None):
        d = pathlib.Path(dir) if dir else tmp_path / "casts"
        log = tmp_path / "audit.jsonl"
        cfg = tmp_path / "agent.yaml"
        cfg.write_text(f"audit_log: {log}\nrecord:\n  dir: {d}\n"
                       f"  input: {'true' if input else 'false'}\n")
        agent = start_agent("--config", cfg, *extra)
        return agent, Client(rexec_bin, agent), d, log
    return start


def spawn(client, *args, dims=(24, 80)):
    argv = client.argv(*args)
    return pexpect.spawn(argv[0], argv[1:], env=dict(client.env, TERM="xterm"),
                         dimensions=dims, timeout=TIMEOUT)


# --- host sessions on a real terminal ------------------------------------------------------------


def test_host_tty_session_is_recorded(recorded):
    agent, client, d, log = recorded()
    child = spawn(client, "dev", "--host", "sh", dims=(30, 100))
    try:
        shell_ready(child)
        # "é" (c3 a9) in two writes a moment apart: two reads of the PTY, one character.
        child.send("printf 'rec%sed \\303'; sleep 0.3; printf '\\251 done\\n'\r" % "ord")
        child.expect_exact("recorded \u00e9 done".encode())
        child.setwinsize(40, 120)
        wait_remote_size(child, 40, 120, "the recorded shell")
        child.send("exit 4\r")
        assert finish(child) == 4
    finally:
        close_child(child)

    (end,) = wait_end(log)
    cast = d / f"{end['session']}.cast"
    assert end["recording"] == str(cast), end
    assert end["recording_complete"] is True and "recording_error" not in end, end
    assert end["exit"] == 4
    assert stat.S_IMODE(os.stat(cast).st_mode) == 0o600
    assert os.listdir(d) == [cast.name]

    header, events = read_cast(cast)
    assert header["version"] == 2 and (header["width"], header["height"]) == (100, 30), header
    assert isinstance(header["timestamp"], (int, float)) and header["command"] == "sh", header
    who = client_cn(agent)
    assert header["env"]["REXEC_WHO"] == who and header["env"]["REXEC_TARGET"] == "host"
    assert header["env"]["REXEC_SESSION"] == end["session"] and header["env"]["TERM"] == "xterm"
    assert header["env"]["REXEC_USER"] == end["user"] and end["user"], (header, end)
    assert header["title"] == f"{who}: exec host as {end['user']} (session {end['session']})"
    out = "".join(e[2] for e in events if e[1] == "o")
    assert "recorded \u00e9 done" in out and "\ufffd" not in out, out
    assert ["r", "120x40"] in [e[1:] for e in events], events
    assert not [e for e in events if e[1] == "i"], "stdin recorded without input: true"

    played = asciinema_cat(cast)
    assert "recorded \u00e9 done".encode() in played and b"ready-42" in played, played
    # The player too, at speed, idle pauses cut to a tenth of a second.
    played = asciinema("play", "-s", "20", "-i", "0.1", cast)
    assert "recorded \u00e9 done".encode() in played, played


def test_input_is_recorded_when_asked(recorded):
    agent, client, d, log = recorded(input=True)
    child = spawn(client, "dev", "--host", "sh")
    try:
        shell_ready(child)
        child.send("echo typed-$((6*7))\r")
        child.expect_exact("typed-42")
        child.send("exit\r")
        assert finish(child) == 0
    finally:
        close_child(child)
    (end,) = wait_end(log)
    header, events = read_cast(end["recording"])
    typed = "".join(e[2] for e in events if e[1] == "i")
    assert "echo typed-$((6*7))\r" in typed and "exit\r" in typed, typed
    assert "typed-42" in "".join(e[2] for e in events if e[1] == "o")
    assert b"typed-42" in asciinema_cat(end["recording"])


def test_bytes_that_are_not_utf8_stay_valid_json(recorded):
    agent, client, d, log = recorded()
    # (sh and a pause: the output is read before the exit hangs the terminal up)
    cmd = "printf 'a\\377\\0b\\342\\202'; sleep 0.3"
    r = client.run("-t", "dev", "--host", "--", "sh", "-c", cmd)
    assert r.returncode == 0, r.stderr
    (end,) = wait_end(log)
    header, events = read_cast(end["recording"])
    out = "".join(e[2] for e in events if e[1] == "o")
    # Each stray byte is U+FFFD, the NUL is kept (\u0000), the cut-off € at the end too.
    assert out == "a\ufffd\0b\ufffd\ufffd", ascii(out)
    assert header["command"] == "sh -c " + cmd, header
    asciinema_cat(end["recording"])


def test_a_burst_of_output_is_recorded_whole(recorded):
    # 30 MB as fast as the PTY gives it: the disk paces the session (its output is read no
    # faster than the recording is written), so nothing is dropped.
    agent, client, d, log = recorded()
    r = client.run("-t", "dev", "--host", "--", "sh", "-c",
                   "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 30000000; sleep 0.5")
    assert r.returncode == 0 and len(r.stdout) > 30000000, (r.returncode, len(r.stdout))
    (end,) = wait_end(log)
    assert end["recording_complete"] is True, end
    header, events = read_cast(end["recording"])
    out = "".join(e[2] for e in events if e[1] == "o").encode()
    assert out == r.stdout, (len(out), len(r.stdout))


def test_sessions_without_a_tty_are_not_recorded(recorded):
    agent, client, d, log = recorded()
    r = client.run("-T", "dev", "--host", "--", "echo", "plain")
    assert (r.returncode, r.stdout) == (0, b"plain\n"), r.stderr
    (end,) = wait_end(log)
    assert "recording" not in end, end
    assert os.listdir(d) == []


# --- the directory -----------------------------------------------------------------------------


def test_missing_dir_is_made_private(recorded, tmp_path):
    d = tmp_path / "new-casts"
    agent, client, _, log = recorded(dir=d)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert client.run("-t", "dev", "--host", "true").returncode == 0
    (end,) = wait_end(log)
    assert end["recording_complete"] is True and pathlib.Path(end["recording"]).parent == d


@pytest.mark.parametrize("case", ["file", "symlink", "group-writable"])
def test_bad_dir_stops_the_start(start_agent, tmp_path, case):
    d = tmp_path / "casts"
    if case == "file":
        d.write_text("")
        want = "not a directory"
    elif case == "symlink":
        (tmp_path / "real").mkdir(mode=0o700)
        d.symlink_to(tmp_path / "real")
        want = "not a directory"
    else:
        d.mkdir()
        os.chmod(d, 0o770)
        want = "chmod go-w"
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(f"record: {{ dir: {d} }}\n")
    agent = start_agent("--config", cfg, wait_ready=False)
    agent.expected_exit = True
    assert agent.proc.wait(timeout=30) != 0
    assert str(d) in agent.log() and want in agent.log(), agent.log()


# --- a recording that cannot be written --------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    with tmpfs(tmp_path / "disk", "size=64k,mode=0700") as d:
        yield d


def test_full_disk_breaks_the_recording_not_the_session(recorded, tiny_disk):
    agent, client, d, log = recorded(dir=tiny_disk)
    try:
        # 300 000 bytes of output into a 64 KiB file system. (The pause before the exit: a TTY
        # session that exits right after a burst of output can lose its tail today, recorded
        # or not, when its session leader's exit hangs the terminal up.)
        r = client.run("-t", "dev", "--host", "--", "sh", "-c",
                       "head -c 300000 /dev/zero | tr '\\0' x; echo; echo the-end; sleep 0.5;"
                       " exit 3")
        assert r.returncode == 3, r.stderr
        out = r.stdout.replace(b"\r", b"")
        assert out == b"x" * 300000 + b"\nthe-end\n", (len(out), out[-40:])
        (end,) = wait_end(log)
        assert end["exit"] == 3 and end["recording"] == str(tiny_disk / f"{end['session']}.cast")
        assert end["recording_complete"] is False, end
        assert "short write" in end["recording_error"] or "space" in end["recording_error"], end
        agent.assert_alive()
        assert "the session goes on" in agent.log(), agent.log()
        # What was written is whole lines: players read it.
        header, events = read_cast(end["recording"])
        assert header["version"] == 2 and events, events[:1]
        assert asciinema_cat(end["recording"]).startswith(b"x" * 1000)

        # The next session, on a disk without a byte left (the first recording was cut back
        # to its last whole line), goes on as well.
        fill(tiny_disk / "filler")
        r = client.run("-t", "dev", "--host", "--", "echo", "again")
        assert (r.returncode, r.stdout.replace(b"\r", b"")) == (0, b"again\n"), r.stderr
        e2 = wait_end(log, 2)[1]
        assert e2["recording_complete"] is False and "space" in e2["recording_error"], e2
        agent.assert_alive()
    finally:
        agent.kill(signal.SIGTERM)  # it holds the directory open: the tmpfs unmounts after it


# --- containers --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["engine", "direct"])
def test_container_tty_exec_is_recorded(recorded, engine, path):
    agent, client, d, log = recorded("--engine", engine.host, "--exec-path", path)
    child = spawn(client, "dev", "worker", "sh", dims=(25, 90))
    try:
        shell_ready(child)
        child.send("echo in-$((1+1))-container\r")
        child.expect_exact("in-2-container")
        child.setwinsize(33, 111)
        wait_remote_size(child, 33, 111, "the container's shell")
        child.send("exit 6\r")
        assert finish(child) == 6
    finally:
        close_child(child)
    (end,) = wait_end(log)
    assert end["via"] == path and end["exit"] == 6, end
    assert end["recording_complete"] is True, end
    header, events = read_cast(end["recording"])
    assert (header["width"], header["height"]) == (90, 25), header
    assert header["env"]["REXEC_TARGET"] == "worker" and header["command"] == "sh", header
    assert ["r", "111x33"] in [e[1:] for e in events], events
    assert b"in-2-container" in asciinema_cat(end["recording"])


def test_container_run_with_a_tty_is_recorded(recorded, engine):
    agent, client, d, log = recorded("--engine", engine.host)
    child = spawn(client, "run", "--rm", "dev", "worker", "--", "sh")
    try:
        shell_ready(child, "one-off")
        child.send("exit 2\r")
        assert finish(child) == 2
    finally:
        close_child(child)
    (end,) = wait_end(log)
    assert (end["kind"], end["exit"], end["recording_complete"]) == ("run", 2, True), end
    header, _ = read_cast(end["recording"])
    assert header["title"].endswith(f": run worker (session {end['session']})"), header
    assert b"one-off-42" in asciinema_cat(end["recording"])


def test_container_attach_is_recorded(recorded, engine):
    # shop's console service runs sh with a TTY: the attach session ends on a detach.
    agent, client, d, log = recorded("--engine", engine.host)
    child = spawn(client, "attach", "dev", "console")
    try:
        shell_ready(child, "attached")
        child.send("\x10\x11")  # ctrl-p ctrl-q
        assert finish(child) == 0
    finally:
        close_child(child)
    (end,) = wait_end(log)
    assert (end["kind"], end["recording_complete"]) == ("attach", True), end
    header, events = read_cast(end["recording"])
    assert header["command"] == "(attach)" and header["env"]["REXEC_TARGET"] == "console"
    assert "attached-42" in "".join(e[2] for e in events if e[1] == "o")
    assert b"attached-42" in asciinema_cat(end["recording"])


def test_agent_stopping_mid_session_finishes_the_recording(recorded):
    agent, client, d, log = recorded()
    child = spawn(client, "dev", "--host", "sh")
    try:
        shell_ready(child, "before-stop")
        agent.kill(signal.SIGTERM)
        child.expect(pexpect.EOF)
    finally:
        close_child(child)
    assert agent.proc.returncode == 0, agent.log()
    (end,) = wait_end(log)
    assert end["recording_complete"] is True and end["reason"].endswith("shutting down"), end
    assert b"before-stop-42" in asciinema_cat(end["recording"])
