"""The agent's audit log (`--audit-log FILE`, `audit_log:` in its config): one JSON object per
line for each session that starts, ends or is refused, as DESIGN.md asks (who, from where, what,
target, start, end, exit, bytes) plus the exec path a session took ("via").

Each test starts its own agent with the log in a temp dir and drives the real client. The agent
writes a session's "end" just after it sends the Exit frame, so a client that has returned does
not prove that the record is there yet: tests poll the file (bounded) for the records they
expect. The full-disk case mounts a 12 KiB tmpfs (the suite runs as root). No test asserts a
duration."""
import json
import os
import pathlib
import pwd
import re
import signal
import subprocess

import pytest

from certs import client_config
from conftest import fill, tmpfs, Client, wait_for, wait_gone, wait_present

TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
FROM_RE = re.compile(r"127\.0\.0\.1:\d+")
# The identifying fields an "end" repeats from its "start".
SESSION_FIELDS = ("who", "groups", "serial", "from", "kind", "target", "argv", "user", "session", "tty", "pid", "via")
# Grace (1 s) + HUP->KILL escalation + engine round trips + scheduling slack: a hang guard.
GONE_TIMEOUT = 30.0
RECORD_TIMEOUT = 30.0


# --- helpers ---------------------------------------------------------------------------------


def records(path):
    """Every line of the log, parsed; each must be one whole JSON object."""
    try:
        text = pathlib.Path(path).read_text()
    except FileNotFoundError:
        return []
    assert text == "" or text.endswith("\n"), f"a cut-short last line: {text[-200:]!r}"
    out = [json.loads(line) for line in text.splitlines()]
    for r in out:
        assert isinstance(r, dict) and TIME_RE.fullmatch(r["time"]), r
        assert r["event"] in ("start", "end", "refused"), r
    return out


def wait_records(path, n, what="records"):
    """Poll until the log holds at least N records; returns them all."""
    return wait_for(lambda: (lambda rs: rs if len(rs) >= n else None)(records(path)),
                    RECORD_TIMEOUT, f"{n} {what} in {path}")


def client_cn(agent):
    """The CN of the dev client's certificate: the "who" of its sessions."""
    subject = subprocess.run(["openssl", "x509", "-in", str(agent.state_dir / "client.pem"),
                              "-noout", "-subject", "-nameopt", "RFC2253"],
                             capture_output=True, text=True, check=True).stdout
    m = re.search(r"CN=([^,\n]+)", subject)
    assert m, subject
    return m.group(1)


def check_pair(start, end, who):
    """A session's start and end records: same identity, the agent's view of the client."""
    assert (start["event"], end["event"]) == ("start", "end"), (start, end)
    assert start["who"] == who
    assert start["groups"] == [] and re.fullmatch(r"[0-9A-F]{2,}", start["serial"]), start
    assert FROM_RE.fullmatch(start["from"]), start
    for k in SESSION_FIELDS:
        if k == "pid" and start[k] is None:  # an engine exec's: learnt after the start
            assert end[k] is None or end[k] > 0, end
            continue
        assert end[k] == start[k], f"{k}: start {start[k]!r}, end {end[k]!r}"
    assert isinstance(end["duration_ms"], int) and end["duration_ms"] >= 0, end


@pytest.fixture
def audited(start_agent, rexec_bin, tmp_path):
    """audited(*agent_args) -> (agent, client, log path): a dev agent with --audit-log."""
    def start(*extra, log=None):
        log = log or tmp_path / "audit.jsonl"
        agent = start_agent("--audit-log", log, *extra)
        return agent, Client(rexec_bin, agent), log
    return start


def me():
    return pwd.getpwuid(os.geteuid()).pw_name


# --- host sessions ---------------------------------------------------------------------------


def test_host_session_start_and_end(audited):
    agent, client, log = audited()
    r = client.run("-T", "dev", "--host", "--", "printf", "abc")
    assert (r.returncode, r.stdout) == (0, b"abc"), r.stderr
    start, end = wait_records(log, 2)
    check_pair(start, end, client_cn(agent))
    assert start["kind"] == "exec" and start["target"] == "host"
    assert start["argv"] == ["printf", "abc"]
    assert start["user"] == me()
    assert start["tty"] is False and start["via"] == "host"
    assert isinstance(start["pid"], int) and start["pid"] > 0
    assert start["session"] == f"{start['pid']}-1"  # the agent's first session
    assert (end["exit"], end["bytes_in"], end["bytes_out"]) == (0, 0, 3), end
    assert "signal" not in end and "reason" not in end and "lost" not in end, end
    assert os.stat(log).st_mode & 0o777 == 0o600


def test_stdin_and_output_bytes_are_counted(audited):
    agent, client, log = audited()
    r = client.run("-T", "dev", "--host", "--", "sh", "-c", "cat; echo err >&2", input=b"hello")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hello", b"err\n")
    start, end = wait_records(log, 2)
    check_pair(start, end, client_cn(agent))
    assert (end["bytes_in"], end["bytes_out"]) == (5, 9), end


@pytest.mark.parametrize("argv, code, sig, reason", [
    (["sh", "-c", "exit 3"], 3, None, None),
    (["sh", "-c", "kill -TERM $$"], 128 + signal.SIGTERM, "TERM", None),
    (["rexec-e2e-no-such-command"], 127, None, "rexec-e2e-no-such-command"),
])
def test_failing_command_exit(audited, argv, code, sig, reason):
    agent, client, log = audited()
    r = client.run("-T", "dev", "--host", "--", *argv)
    assert r.returncode == code, r.stderr
    start, end = wait_records(log, 2)
    check_pair(start, end, client_cn(agent))
    assert start["argv"] == argv
    assert end["exit"] == code and end.get("signal") == sig, end
    if reason:
        assert reason in end["reason"], end
    else:
        assert "reason" not in end, end


def test_unknown_user_is_refused(audited):
    agent, client, log = audited()
    r = client.run("-T", "dev", "--host", "-u", "nosuchuser", "--", "true")
    assert r.returncode == 125, r.stderr
    (rec,) = wait_records(log, 1)
    assert rec["event"] == "refused"
    assert rec["who"] == client_cn(agent) and FROM_RE.fullmatch(rec["from"]), rec
    assert (rec["kind"], rec["target"], rec["argv"], rec["user"]) == \
        ("exec", "host", ["true"], "nosuchuser"), rec
    assert "nosuchuser" in rec["error"] and rec["error"] in r.stderr.decode(), (rec, r.stderr)
    assert "session" not in rec and "exit" not in rec, rec
    # Nothing else follows (the next session's records come right after it).
    assert client.run("-T", "dev", "--host", "true").returncode == 0
    assert [x["event"] for x in wait_records(log, 3)] == ["refused", "start", "end"]


def test_vanished_client_gives_end_after_grace(audited, marker):
    agent, client, log = audited()
    p = client.popen("-T", "dev", "--host", "--", "sh", "-c", f"exec sleep {marker}")
    try:
        wait_present(marker)
        (start,) = wait_records(log, 1, "start record")
    finally:
        p.kill()
        p.wait(timeout=10)
    wait_gone(marker, GONE_TIMEOUT)
    start, end = wait_records(log, 2)
    check_pair(start, end, client_cn(agent))
    # The grace ran out: SIGHUP to the group (the sleep dies of it).
    assert (end["exit"], end["signal"]) == (128 + signal.SIGHUP, "HUP"), end
    assert end["reason"].startswith("client gone"), end
    agent.assert_alive()


def test_sighup_reopens_the_log(audited):
    agent, client, log = audited()
    assert client.run("-T", "dev", "--host", "true").returncode == 0
    wait_records(log, 2)
    rotated = log.with_name(log.name + ".1")
    log.rename(rotated)
    os.kill(agent.pid, signal.SIGHUP)
    wait_for(log.exists, 30, "the audit log reopened under its name")
    r = client.run("-T", "dev", "--host", "--", "printf", "new")
    assert (r.returncode, r.stdout) == (0, b"new")
    start, end = wait_records(log, 2)
    assert start["argv"] == ["printf", "new"] and end["bytes_out"] == 3
    assert [x["argv"] for x in records(rotated)] == [["true"], ["true"]]
    agent.assert_alive()


def test_unwritable_log_path_stops_the_start(start_agent, tmp_path):
    path = tmp_path / "no-such-dir" / "audit.jsonl"
    agent = start_agent("--audit-log", path, wait_ready=False)
    agent.expected_exit = True
    assert agent.proc.wait(timeout=30) != 0
    lines = [l for l in agent.log().splitlines() if l.strip()]
    assert len(lines) == 1 and str(path) in lines[0] and "No such file" in lines[0], lines


# --- a full disk -----------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    with tmpfs(tmp_path / "disk", "size=12k") as d:
        yield d


def test_full_disk_loses_records_not_sessions(audited, tiny_disk):
    log = tiny_disk / "audit.jsonl"
    agent, client, _ = audited(log=log)
    try:
        fill(tiny_disk / "filler")
        # Sessions work as ever while no record can be written.
        r = client.run("-T", "dev", "--host", "--", "sh", "-c", "exit 7")
        assert r.returncode == 7, r.stderr
        r = client.run("-T", "dev", "--host", "--", "printf", "abc")
        assert (r.returncode, r.stdout) == (0, b"abc"), r.stderr
        agent.assert_alive()
        assert log.stat().st_size == 0
        assert agent.log().count("records are lost") == 1, agent.log()  # one warning

        (tiny_disk / "filler").unlink()
        r = client.run("-T", "dev", "--host", "--", "printf", "again")
        assert (r.returncode, r.stdout) == (0, b"again"), r.stderr
        # The records of the two full-disk sessions, then this one's. The end of the second
        # may have been written after the space came back (it follows the Exit frame): the
        # first record written says how many came before it.
        want = [("start", ["sh", "-c", "exit 7"]), ("end", ["sh", "-c", "exit 7"]),
                ("start", ["printf", "abc"]), ("end", ["printf", "abc"]),
                ("start", ["printf", "again"]), ("end", ["printf", "again"])]
        got = wait_for(lambda: (lambda rs: rs if rs and rs[-1]["argv"] == ["printf", "again"]
                                and rs[-1]["event"] == "end" else None)(records(log)),
                       RECORD_TIMEOUT, "the end of the session after the disk was freed")
        lost = len(want) - len(got)
        assert lost in (3, 4), got
        assert [(x["event"], x["argv"]) for x in got] == want[lost:], got
        assert got[0]["lost"] == lost, got
        assert all("lost" not in x for x in got[1:]), got
        assert got[-1]["exit"] == 0 and got[-1]["bytes_out"] == 5, got
        agent.assert_alive()
        assert "writing again" in agent.log(), agent.log()
    finally:
        agent.kill(signal.SIGTERM)  # it holds the log open: the tmpfs unmounts after it


# --- containers ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["engine", "direct"])
def test_container_exec_says_its_path(audited, engine, path):
    agent, client, log = audited("--engine", engine.host, "--exec-path", path)
    r = client.run("-T", "dev", "worker", "--", "sh", "-c", "cat; printf abc", input=b"12345")
    assert (r.returncode, r.stdout) == (0, b"12345abc"), r.stderr
    start, end = wait_records(log, 2)
    check_pair(start, end, client_cn(agent))
    assert start["via"] == path, start
    assert start["kind"] == "exec"
    assert start["target"] == {"project": "", "service": "worker", "index": 0, "container": ""}
    assert start["argv"] == ["sh", "-c", "cat; printf abc"]
    assert start["tty"] is False
    assert engine.name_of("shop", "worker") in start["detail"], start
    if path == "direct":
        assert isinstance(start["pid"], int) and start["pid"] > 0, start
    else:
        # The engine says which pid its exec has only after the start; never the container's.
        assert start["pid"] is None, start
        assert end["pid"] is None or end["pid"] != engine.host_pid(
            engine.name_of("shop", "worker")), end
    assert (end["exit"], end["bytes_in"], end["bytes_out"]) == (0, 5, 8), end


@pytest.mark.parametrize("path", ["engine", "direct"])
def test_container_exit_code(audited, engine, path):
    agent, client, log = audited("--engine", engine.host, "--exec-path", path)
    r = client.run("-T", "dev", "worker", "--", "sh", "-c", "exit 5")
    assert r.returncode == 5, r.stderr
    start, end = wait_records(log, 2)
    assert start["via"] == path and end["exit"] == 5, (start, end)


def test_concurrent_engine_sessions_in_one_container_pair_up(audited, engine):
    # Both report the container's main process as pid and both are stream 1 of their
    # connection: the ids must still differ, so that each end finds its start.
    agent, client, log = audited("--engine", engine.host, "--exec-path", "engine")
    procs = [client.popen("-T", "dev", "worker", "--", "sh", "-c", f"sleep 1; exit {code}")
             for code in (6, 7)]
    for p in procs:
        p.communicate(timeout=60)
    assert sorted(p.returncode for p in procs) == [6, 7]
    recs = wait_records(log, 4)
    starts = {r["session"]: r for r in recs if r["event"] == "start"}
    ends = {r["session"]: r for r in recs if r["event"] == "end"}
    assert len(starts) == 2 and starts.keys() == ends.keys(), recs
    assert sorted(e["exit"] for e in ends.values()) == [6, 7]
    # Each ran a second: the engine named each exec's own process by its end.
    main = engine.host_pid(engine.name_of("shop", "worker"))
    pids = [e["pid"] for e in ends.values()]
    assert all(isinstance(p, int) and p > 0 and p != main for p in pids), ends
    assert pids[0] != pids[1], ends


def test_unknown_service_is_refused(audited, engine):
    agent, client, log = audited("--engine", engine.host)
    r = client.run("-T", "dev", "no-such-service", "--", "true")
    assert r.returncode == 125, r.stderr
    (rec,) = wait_records(log, 1)
    assert rec["event"] == "refused"
    assert rec["who"] == client_cn(agent) and FROM_RE.fullmatch(rec["from"]), rec
    assert rec["kind"] == "exec" and rec["argv"] == ["true"], rec
    assert rec["target"] == {"project": "", "service": "no-such-service", "index": 0,
                             "container": ""}, rec
    assert "no-such-service" in rec["error"], rec


def test_records_carry_the_certificates_groups_and_serial(audited, rexec_bin, tmp_path):
    """A certificate from `rexec cert issue --group`: its OU values are the record's groups and
    its serial the one openssl reads; whether the session ran or a policy refused it."""
    agent, _, log = audited()
    sd = agent.state_dir
    out = tmp_path / "bob"
    r = subprocess.run([rexec_bin, "cert", "issue", "--ca", str(sd), "--client", "bob",
                        "--group", "ops", "--group", "db-admins", "--out", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    serial = subprocess.run(["openssl", "x509", "-in", f"{out}.pem", "-noout", "-serial"],
                            capture_output=True, text=True, check=True).stdout
    serial = serial.strip().split("=", 1)[1]
    conf = client_config(tmp_path / "bob.conf", sd / "ca.pem", f"{out}.pem", f"{out}-key.pem",
                         agent.addr)
    Client(rexec_bin, agent, config=conf).run("-T", "dev", "--host", "--", "true")
    rec = wait_records(log, 1)[0]
    assert rec["who"] == "bob", rec
    assert rec["groups"] == ["ops", "db-admins"], rec
    assert rec["serial"] == serial, (rec, serial)
