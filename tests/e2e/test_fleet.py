"""Fan-out (`rexec SELECTOR ...` over many hosts) against 50 real agents on 127.0.0.10-59 that
share one CA made by `rexec ca init` / `rexec cert issue`, plus two broken inventory entries:
`down` (nothing listens) and `silent` (accepts, never answers). Groups: every agent is in
`fleet`, in `even` or `odd`, and h000-h009 are in `prod`; `down` and `silent` are in `bad`.

A remote command tells which agent runs it by its parent's --listen address (the agent forks
the command), so one command can behave differently per host.

No wall-clock assertions: every wait is bounded only so that a broken build cannot hang."""
import json
import os
import signal
import subprocess

import pexpect
import pytest

from conftest import close_child, pids_with_arg, read_until, wait_for, wait_gone, wait_present
from fleet_env import Fleet, Silent, host_name, refused_addr

N_AGENTS = 50
RUN_TIMEOUT = 120

# The last octet of the agent's address, from the --listen argument of the parent (the agent).
OCTET = ("a=$(tr '\\0' '\\n' </proc/$PPID/cmdline | grep -A1 -x -- --listen | tail -n 1);"
         " a=${a%:*}; o=${a##*.};")


def octet_of(i):
    return 10 + i


@pytest.fixture(scope="module")
def fleet(rexec_bin, agent_bin, tmp_path_factory):
    silent = Silent("127.0.0.9")
    extra = {"down": f'{{ address: "{refused_addr("127.0.0.8")}", groups: [bad] }}',
             "silent": f'{{ address: "{silent.addr}", groups: [bad] }}'}
    f = Fleet(rexec_bin, agent_bin, tmp_path_factory.mktemp("fleet"), N_AGENTS,
              extra_hosts=extra)
    try:
        f.start()
        yield f
        assert not f.dead(), f"agents died during the tests: {f.dead()}"
    finally:
        f.stop()
        silent.close()


def records(r):
    """The --json lines of a finished run, by host."""
    out = {}
    for line in r.stdout.decode().splitlines():
        o = json.loads(line)
        assert o["host"] not in out, f"two objects for {o['host']}"
        out[o["host"]] = o
    return out


def names(*idx):
    return {host_name(i) for i in idx}


# ---------------------------------------------------------------------------------------------
# Selection


def test_group_selection(fleet):
    r = fleet.run("@prod", "--host", "--json", "echo", "hi")
    assert r.returncode == 0, r.stderr
    recs = records(r)
    assert set(recs) == names(*range(10))
    for o in recs.values():
        assert o["status"] == "ok" and o["exit_code"] == 0 and o["stdout"] == "hi\n"
        assert o["target"] == "host" and o["error"] is None and o["stderr"] == ""
        assert isinstance(o["duration_ms"], int)
    assert b"rexec: 10 hosts: 10 ok" in r.stderr


def test_glob_comma_list_and_dedup(fleet):
    r = fleet.run("h01*,h002,@odd,h011", "--host", "--json", "true")
    assert r.returncode == 0, r.stderr
    want = names(*range(10, 20)) | {"h002"} | names(*range(1, N_AGENTS, 2))
    assert set(records(r)) == want


def test_all_fifty_agents(fleet):
    r = fleet.run("@fleet", "--host", "--parallel", "8", "sh", "-c", OCTET + ' echo "$o"')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert len(lines) == N_AGENTS
    got = {}
    for line in lines:
        name, sep, value = line.partition(" | ")
        assert sep, line
        got[name.strip()] = int(value)
    assert got == {host_name(i): octet_of(i) for i in range(N_AGENTS)}
    assert f"rexec: {N_AGENTS} hosts: {N_AGENTS} ok".encode() in r.stderr


def test_prefixed_lines_and_unfinished_last_line(fleet):
    r = fleet.run("h000,h001", "--host", "sh", "-c", "printf 'a\\nb'; printf 'e\\n' >&2")
    assert r.returncode == 0, r.stderr
    out = sorted(r.stdout.decode().splitlines())
    assert out == ["h000 | a", "h000 | b", "h001 | a", "h001 | b"]
    err = r.stderr.decode().splitlines()
    assert "h000 | e" in err and "h001 | e" in err
    assert b"\x1b[" not in r.stdout + r.stderr  # no colour into pipes


def test_selector_errors(fleet):
    for sel, what in (("zz*", b"matches no host"), ("@nogroup", b"group nogroup"),
                      ("h000,,h001", b"empty host selector term")):
        r = fleet.run(sel, "--host", "true")
        assert r.returncode == 2, (sel, r.stderr)
        assert what in r.stderr, (sel, r.stderr)
        assert len(r.stderr.decode().strip().splitlines()) == 1, r.stderr
    r = fleet.run("@prod", "--host")
    assert r.returncode == 2 and b"name the command" in r.stderr
    r = fleet.run("@prod", "-t", "--host", "true")
    assert r.returncode == 2 and b"TTY" in r.stderr
    r = fleet.run("@prod", "--host", "--parallel", "0", "true")
    assert r.returncode == 2 and b"--parallel" in r.stderr


def test_one_host_selected_is_a_plain_session(fleet):
    r = fleet.run("h000*", "--host", "sh", "-c", "echo hi; exit 7")
    assert r.returncode == 7, r.stderr
    assert r.stdout == b"hi\n"


# ---------------------------------------------------------------------------------------------
# Failures and exit codes


def test_down_and_silent_hosts(fleet):
    # Not the config's 5s, and long enough for h000 to answer on a machine that stalls.
    r = fleet.run("h000,@bad", "--host", "--json", "--connect-timeout", "7s", "true")
    assert r.returncode == 4, r.stderr
    recs = records(r)
    assert recs["h000"]["status"] == "ok"
    assert recs["down"]["status"] == "unreachable"
    assert "connection refused" in recs["down"]["error"]
    assert recs["silent"]["status"] == "unreachable"
    assert "no answer" in recs["silent"]["error"] and "7s" in recs["silent"]["error"]
    assert b"2 unreachable" in r.stderr and b"down, silent" in r.stderr


def test_failing_command(fleet):
    # Odd octets fail with 3, even ones succeed.
    r = fleet.run("@prod", "--host", "--json", "sh", "-c", OCTET + " exit $((o % 2 * 3))")
    assert r.returncode == 1, r.stderr
    recs = records(r)
    for i in range(10):
        o = recs[host_name(i)]
        want = 3 if octet_of(i) % 2 else 0
        assert o["exit_code"] == want, o
        assert o["status"] == ("failed" if want else "ok")
    assert b"rexec: 10 hosts: 5 ok, 5 failed" in r.stderr
    assert b"h001 (exit 3)" in r.stderr


def test_failed_and_unreachable_combine(fleet):
    r = fleet.run("h000,down", "--host", "false")
    assert r.returncode == 5, r.stderr
    assert b"rexec: h000: exit 1" in r.stderr
    assert b"rexec: down: cannot connect to" in r.stderr


def test_killed_by_signal(fleet):
    r = fleet.run("h000,h001", "--host", "--json", "sh", "-c", "kill -TERM $$")
    assert r.returncode == 1, r.stderr
    for o in records(r).values():
        assert o["signal"] == "TERM" and o["exit_code"] == 128 + signal.SIGTERM, o


# ---------------------------------------------------------------------------------------------
# Batches and stopping


def test_batches_run_in_order(fleet):
    hosts = [host_name(i) for i in range(6)]
    r = fleet.run(",".join(hosts), "--host", "--json", "--batch", "2", "sh", "-c",
                  "date +%s%N; sleep 0.2; date +%s%N")
    assert r.returncode == 0, r.stderr
    recs = records(r)
    span = {h: [int(x) for x in recs[h]["stdout"].split()] for h in hosts}
    batches = [hosts[0:2], hosts[2:4], hosts[4:6]]
    for before, after in zip(batches, batches[1:]):
        last_end = max(span[h][1] for h in before)
        first_start = min(span[h][0] for h in after)
        assert last_end <= first_start, (before, after, span)


def test_batch_percentage(fleet):
    hosts = [host_name(i) for i in range(4)]
    r = fleet.run(",".join(hosts), "--host", "--json", "--batch", "50%", "sh", "-c",
                  "date +%s%N; sleep 0.2; date +%s%N")
    assert r.returncode == 0, r.stderr
    recs = records(r)
    span = {h: [int(x) for x in recs[h]["stdout"].split()] for h in hosts}
    assert max(span[h][1] for h in hosts[:2]) <= min(span[h][0] for h in hosts[2:]), span


def test_fail_fast_stops_launching(fleet, tmp_path):
    log = tmp_path / "ran"
    r = fleet.run("@prod", "--host", "--json", "--parallel", "1", "--fail-fast", "sh", "-c",
                  f"echo x >> {log}; exit 1")
    assert r.returncode == 1 | 8, r.stderr
    recs = records(r)
    statuses = [recs[host_name(i)]["status"] for i in range(10)]
    assert statuses == ["failed"] + ["not_run"] * 9
    assert log.read_text() == "x\n"  # nothing else was launched
    assert b"9 not run" in r.stderr


def test_max_fail_counts_and_stops(fleet, tmp_path):
    log = tmp_path / "ran"
    # Only odd octets fail: h001, h003, h005 fail; the third failure stops the run.
    r = fleet.run("@prod", "--host", "--json", "--parallel", "1", "--max-fail", "3", "sh",
                  "-c", OCTET + f" echo $o >> {log}; exit $((o % 2))")
    assert r.returncode == 1 | 8, r.stderr
    ran = [int(x) for x in log.read_text().split()]
    assert ran == [octet_of(i) for i in range(6)]
    statuses = [records(r)[host_name(i)]["status"] for i in range(10)]
    assert statuses == ["ok", "failed"] * 3 + ["not_run"] * 4


def test_max_fail_percentage(fleet, tmp_path):
    log = tmp_path / "ran"
    r = fleet.run("@prod", "--host", "--parallel", "1", "--max-fail", "20%", "sh", "-c",
                  f"echo x >> {log}; exit 1")
    assert r.returncode == 1 | 8, r.stderr
    assert log.read_text() == "x\nx\n"  # 20% of 10 hosts


# ---------------------------------------------------------------------------------------------
# Timeouts and ^C end the remote processes


def test_timeout_ends_remote_process(fleet, marker):
    p = fleet.popen("h000,h001,h002", "--host", "--json", "--timeout", "3s", "sh", "-c",
                    f"echo started; exec sleep {marker}")
    try:
        wait_present(marker)
        out, err = p.communicate(timeout=RUN_TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1, err
    for line in out.decode().splitlines():
        o = json.loads(line)
        assert o["status"] == "timeout", o
        assert "remote command was ended" in o["error"]
    assert b"3 timed out" in err
    wait_gone(marker, 15)  # the agents hung up the process groups (KILL after 2 s)


def test_first_interrupt_shows_status_second_cancels(fleet, marker):
    p = fleet.popen("@prod", "--host", "sh", "-c", f"exec sleep {marker}")
    try:
        wait_for(lambda: len(pids_with_arg(marker)) == 10, 30, "10 remote sleeps")
        err = b""
        # Two ^C within a second cancel; signals sent back to back may merge into one, so
        # the second goes once the first one's status is out (again, should a slow machine
        # have let the second come later than a second after the first).
        for _ in range(10):
            os.kill(p.pid, signal.SIGINT)
            err += read_until(p.stderr, b"running (10)", 30)
            os.kill(p.pid, signal.SIGINT)
            try:
                p.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        out, rest = p.communicate(timeout=RUN_TIMEOUT)
        err += rest
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err
    assert b"rexec: status" in err and b"running (10)" in err
    assert b"10 cancelled" in err
    wait_gone(marker, 15)


def test_single_interrupt_does_not_stop(fleet, marker, tmp_path):
    """One ^C shows the status of every host and changes nothing: both commands finish and the
    run exits 0. The commands wait for a file the test creates only after the status came."""
    go = tmp_path / "go"
    script = f"while [ ! -e {go} ]; do sleep 0.05; done; echo finished"
    p = fleet.popen("h000,h001", "--host", "sh", "-c", script, marker)
    try:
        wait_for(lambda: len(pids_with_arg(marker)) == 2, 30, "both remote commands")
        os.kill(p.pid, signal.SIGINT)
        err = read_until(p.stderr, b"running (2)", 30)
        go.touch()
        out, rest = p.communicate(timeout=RUN_TIMEOUT)
        err += rest
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert b"rexec: status" in err, err
    assert out.count(b"finished") == 2, (out, err)


# ---------------------------------------------------------------------------------------------
# Output modes


def test_group_gathers_identical_output(fleet):
    r = fleet.run("@prod", "--host", "--group", "sh", "-c", OCTET + " echo parity $((o % 2))")
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    even = ",".join(host_name(i) for i in range(0, 10, 2))
    odd = ",".join(host_name(i) for i in range(1, 10, 2))
    assert f"{even} (5 hosts): exit 0\n----------------\nparity 0\n" in text
    assert f"{odd} (5 hosts): exit 0\n----------------\nparity 1\n" in text
    assert text.count("----------------\n") == 4


def test_group_keeps_failures_apart(fleet):
    r = fleet.run("h000,h001,down", "--host", "--group", "--connect-timeout", "2s", "true")
    assert r.returncode == 4, r.stderr
    text = r.stdout.decode()
    assert "h000,h001 (2 hosts): exit 0" in text
    assert "down (1 host): cannot connect to" in text


def test_json_binary_output(fleet):
    r = fleet.run("h000", "--host", "--json", "printf", "\\377\\000ok")
    assert r.returncode == 0, r.stderr
    o = records(r)["h000"]
    assert o["stdout"] is None and o["stdout_base64"] == "/wBvaw=="


def test_progress_on_a_terminal_not_in_a_pipe(fleet):
    r = fleet.run("@fleet", "--host", "sleep", "0.5")
    assert r.returncode == 0, r.stderr
    assert b"running," not in r.stderr and b"\r" not in r.stderr and b"\x1b[" not in r.stderr

    child = pexpect.spawn(fleet.rexec, ["@fleet", "--host", "sleep", "0.5"],
                          env=fleet.env(), timeout=RUN_TIMEOUT)
    try:
        child.expect(rb"rexec: \d+/50 done, \d+ running, \d+ queued, \d+ failed")
        child.expect(rb"rexec: 50 hosts: 50 ok")
        child.expect(pexpect.EOF)
    finally:
        close_child(child)
    assert child.exitstatus == 0


def test_colour_on_a_terminal(fleet):
    child = pexpect.spawn(fleet.rexec, ["h000,h001", "--host", "echo", "hi"],
                          env=fleet.env(), timeout=RUN_TIMEOUT)
    try:
        child.expect(rb"\x1b\[36mh00[01]\x1b\[0m \| hi")
        child.expect(pexpect.EOF)
    finally:
        close_child(child)
    assert child.exitstatus == 0


# ---------------------------------------------------------------------------------------------
# Services


def engine_present():
    return os.path.exists("/var/run/docker.sock")


@pytest.mark.skipif(engine_present(), reason="a container engine answers on the default socket")
def test_service_nowhere(fleet):
    r = fleet.run("@prod", "web", "true")
    assert r.returncode == 125, r.stderr
    assert b"no selected host runs service web" in r.stderr
    assert b"10 skipped" in r.stderr

    r = fleet.run("web", "true", "--connect-timeout", "1s")
    assert r.returncode == 255, r.stderr  # down and silent could not be asked
    assert b"no host or group of that name" in r.stderr and b"could not be asked" in r.stderr

    config = fleet.write_config(fleet.dir / "agents-only.yaml", broken=False)
    r = fleet.run("web", "true", config=config)
    assert r.returncode == 125, r.stderr
    assert b"web: no host or group of that name" in r.stderr


def test_ps_across_hosts(fleet):
    r = fleet.run("ps", "@prod")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split()[:2] == ["HOST", "PROJECT"]
    if not engine_present():
        assert r.stderr.decode().count("no containers there") == 10, r.stderr
    r = fleet.run("ps", "h000,down", "--connect-timeout", "2s")
    assert r.returncode == 4, r.stderr
    assert b"rexec: down: cannot connect to" in r.stderr
