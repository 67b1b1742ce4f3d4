"""`rexec [exec] HOST SERVICE CMD` into compose services on a real Docker Engine (issue #4),
plus `rexec ps` and the errors users hit. The engine, the busybox image and the compose
projects come from the session fixture docker_engine (tests/e2e/docker_env.py): project shop
(web x2 with GREETING and working_dir /srv/web, worker, api, db, console) and project blog (web
again, so `web` alone is ambiguous). The agent runs on this host, so container processes are
visible in /proc: a unique `sleep MARKER` finds them. Tests marked both_engines run against
podman's Docker-compatible API too (podman_engine, tests/e2e/podman_env.py; ids [podman]).

Waits are bounded (a broken build fails instead of hanging); no test asserts a duration."""
import os
import signal

import pytest

from conftest import (Client, both_engines, ended, finish, read_until, shell_ready, wait_gone,
                      wait_present, wait_remote_size)

# Grace (1 s) + HUP->KILL escalation + engine round trips + scheduling slack: a hang guard.
GONE_TIMEOUT = 30.0
IMAGE = "rexec-busybox:test"
SH_IF_TTY = "if [ -t 0 ] && [ -t 1 ]; then echo is-tty; else echo not-tty; fi"


# --- helpers -------------------------------------------------------------------------------------


def rexec_error(r, *words, host="dev"):
    """rexec refused (exit 125) with one `rexec: ...` line on stderr naming the host (and WORDS)."""
    text = r.stderr.decode(errors="replace")
    lines = [l for l in text.splitlines() if l.strip()]
    assert r.returncode == 125, f"exit {r.returncode}, stdout {r.stdout!r}, stderr {text!r}"
    assert len(lines) == 1 and lines[0].startswith("rexec:"), f"stderr: {text!r}"
    assert host in lines[0], f"the message does not name host {host!r}: {lines[0]!r}"
    for w in words:
        assert w in lines[0], f"the message does not mention {w!r}: {lines[0]!r}"
    return lines[0]


def hostname_of(engine, name):
    return engine.inspect(name)["Config"]["Hostname"]


def out(r):
    assert r.returncode == 0, f"exit {r.returncode}; stderr {r.stderr!r}"
    return r.stdout.decode()


def plain_container(engine, name, *cmd, tty=False, stdin=False):
    """A container outside compose (docker run -d, no network); the engine fixture removes it."""
    args = ["run", "-d", "--network", "none", "--name", name]
    args += ["-t"] if tty else []
    args += ["-i"] if stdin else []
    engine.docker(*args, IMAGE, *cmd)
    return name


IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]


# --- basics through pipes ------------------------------------------------------------------------


@both_engines
def test_exec_echo(engine_client):
    r = engine_client.run("-T", "dev", "worker", "--", "echo", "hello", "world")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hello world\n", b"")


def test_exec_runs_in_the_service_container(engine_client, engine):
    r = engine_client.run("-T", "dev", "worker", "--", "hostname")
    assert out(r).strip() == hostname_of(engine, "shop_worker_1")


def test_exec_subcommand_is_the_long_form(engine_client, engine):
    r = engine_client.run("exec", "-T", "dev", "worker", "--", "hostname")
    assert out(r).strip() == hostname_of(engine, "shop_worker_1")


def test_command_without_double_dash_keeps_its_options(engine_client):
    # Options end where CMD starts: `-c`, `-u`, `-w` after it belong to the command.
    r = engine_client.run("-T", "dev", "worker", "sh", "-c", 'echo "$@"', "sh", "-u", "-w", "/x")
    assert out(r) == "-u -w /x\n"


def test_options_between_host_and_service(engine_client):
    r = engine_client.run("dev", "-T", "-u", "app", "worker", "id", "-u")
    assert out(r) == "1000\n"


@both_engines
def test_stdin_bytes_reach_the_process_exactly(engine_client):
    blob = os.urandom(1 << 20) + b"\0\r\n\x03\x04\xff"
    r = engine_client.run("-T", "dev", "worker", "--", "cat", input=blob)
    assert r.returncode == 0, r.stderr
    assert r.stdout == blob


@both_engines
def test_stdin_eof_reaches_the_process(engine_client):
    r = engine_client.run("-T", "dev", "worker", "--", "wc", "-l", input=b"a\nb\nc\n")
    assert out(r).strip() == "3"


@both_engines
def test_stdout_and_stderr_stay_apart(engine_client):
    r = engine_client.run("-T", "dev", "worker", "--", "sh", "-c",
                          "echo to-out; echo to-err >&2; echo more-out")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"to-out\nmore-out\n", b"to-err\n")


def test_large_output_is_exact(engine_client):
    r = engine_client.run("-T", "dev", "worker", "--", "sh", "-c",
                          "head -c 8388608 /dev/zero | tr '\\0' x")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"x" * 8388608


def test_no_command_runs_sh(engine_client):
    r = engine_client.run("-T", "dev", "worker",
                          input=b"echo from-sh-$((6*7)); exit 4\n")
    assert (r.returncode, r.stdout) == (4, b"from-sh-42\n"), r.stderr


# --- exit codes ----------------------------------------------------------------------------------


@both_engines
@pytest.mark.parametrize("code", [0, 1, 3, 42, 126, 127, 255])
def test_exit_code_is_the_process_exit_code(engine_client, code):
    r = engine_client.run("-T", "dev", "worker", "--", "sh", "-c", f"exit {code}")
    assert r.returncode == code, r.stderr


@both_engines
@pytest.mark.parametrize("sig,code", [("KILL", 137), ("TERM", 143), ("INT", 130)])
def test_killed_by_signal_gives_128_plus_n(engine_client, sig, code):
    r = engine_client.run("-T", "dev", "worker", "--", "sh", "-c",
                          f"trap - {sig}; kill -{sig} $$; sleep 5")
    assert r.returncode == code, r.stderr


@both_engines
def test_command_not_found_gives_127(engine_client):
    r = engine_client.run("-T", "dev", "worker", "--", "no-such-command-rexec")
    assert r.returncode == 127, r.stderr
    # The engine reports start failures as text on the exec's stdout stream: that text is no
    # output of the (never started) process.
    assert r.stdout == b""
    assert r.stderr.strip(), "a message should say what happened"


@both_engines
def test_not_executable_gives_126(engine_client):
    r = engine_client.run("-T", "dev", "worker", "--", "/etc/passwd")
    assert r.returncode == 126, r.stderr
    assert r.stdout == b""


@both_engines
def test_not_found_with_tty_gives_127(engine_client):
    r = engine_client.run("-t", "dev", "worker", "--", "no-such-command-rexec")
    assert r.returncode == 127, (r.stdout, r.stderr)


# --- tty choice ----------------------------------------------------------------------------------


def test_no_tty_through_pipes_by_default(engine_client):
    r = engine_client.run("dev", "worker", "--", "sh", "-c", SH_IF_TTY)
    assert out(r) == "not-tty\n"


def test_dash_t_forces_a_tty(engine_client):
    r = engine_client.run("-t", "dev", "worker", "--", "sh", "-c", SH_IF_TTY)
    assert out(r).strip() == "is-tty"


def test_tty_is_default_on_a_terminal(engine_spawn):
    child = engine_spawn("dev", "worker", "--", "sh", "-c", SH_IF_TTY)
    child.expect_exact("is-tty")
    assert finish(child) == 0


def test_T_disables_the_tty_on_a_terminal(engine_spawn):
    child = engine_spawn("-T", "dev", "worker", "--", "sh", "-c", SH_IF_TTY)
    child.expect_exact("not-tty")
    assert finish(child) == 0


# --- -u -w -e --privileged -------------------------------------------------------------------------


def test_default_user_is_the_containers(engine_client):
    assert out(engine_client.run("-T", "dev", "worker", "--", "id", "-u")) == "0\n"


@pytest.mark.parametrize("user,uid,gid", [("app", "1000", "1000"), ("1000:1000", "1000", "1000"),
                                          ("root", "0", "0"), ("1234", "1234", "0")])
@both_engines
def test_user(engine_client, user, uid, gid):
    r = engine_client.run("-T", "-u", user, "dev", "worker", "--", "sh", "-c", "id -u; id -g")
    assert out(r) == f"{uid}\n{gid}\n"


def test_user_with_tty(engine_spawn):
    child = engine_spawn("-u", "app", "dev", "worker", "--", "id", "-un")
    child.expect_exact("app")
    assert finish(child) == 0


def test_unknown_user_is_refused(engine_client):
    r = engine_client.run("-T", "-u", "nosuch", "dev", "worker", "--", "true")
    rexec_error(r, "nosuch")


@both_engines
def test_workdir(engine_client):
    assert out(engine_client.run("-T", "-w", "/tmp", "dev", "worker", "--", "pwd")) == "/tmp\n"


def test_workdir_default_is_the_services(engine_client):
    r = engine_client.run("-T", "--project", "shop", "dev", "web", "--", "pwd")
    assert out(r) == "/srv/web\n"


def test_env(engine_client):
    r = engine_client.run("-T", "-e", "REXEC_A=one", "-e", "REXEC_B=two words", "dev", "worker",
                          "--", "sh", "-c", 'echo "$REXEC_A|$REXEC_B"')
    assert out(r) == "one|two words\n"


@both_engines
def test_env_of_the_service_is_inherited_and_can_be_overridden(engine_client):
    r = engine_client.run("-T", "--project", "shop", "dev", "web", "--", "sh", "-c",
                          'echo "$GREETING|$SHOP_ROLE"')
    assert out(r) == "hello from web|web\n"
    r = engine_client.run("-T", "--project", "shop", "-e", "GREETING=hi", "dev", "web", "--",
                          "sh", "-c", 'echo "$GREETING|$SHOP_ROLE"')
    assert out(r) == "hi|web\n"


def _cap_eff(r):
    line = [l for l in out(r).splitlines() if l.startswith("CapEff:")]
    assert line, r.stdout
    return int(line[0].split()[1], 16)


def test_privileged(engine_client, engine):
    plain = _cap_eff(engine_client.run("-T", "dev", "worker", "--", "cat", "/proc/self/status"))
    assert not plain & (1 << 21), "no CAP_SYS_ADMIN without --privileged"
    r = engine_client.run("-T", "--privileged", "dev", "worker", "--", "cat", "/proc/self/status")
    probe = engine.docker("exec", "--privileged", "shop_worker_1", "true", check=False)
    if probe.returncode != 0:
        # This engine cannot do it (e.g. a sandbox whose bounding set lacks a capability:
        # runc then fails with "unable to apply caps"). rexec must say so, as docker does:
        # could not start (126), a message, no output.
        assert r.returncode == 126 and r.stdout == b"", (r.returncode, r.stdout, r.stderr)
        assert b"dev" in r.stderr and r.stderr.strip(), r.stderr
        return
    priv = _cap_eff(r)
    assert priv != plain and priv & plain == plain, (hex(plain), hex(priv))
    assert priv & (1 << 21), "CAP_SYS_ADMIN expected with --privileged"


# --- replicas, projects, --container -------------------------------------------------------------


@both_engines
@pytest.mark.parametrize("index", [1, 2])
def test_index_picks_the_replica(engine_client, engine, index):
    r = engine_client.run("-T", "--project", "shop", "--index", index, "dev", "web", "--",
                          "hostname")
    assert out(r).strip() == hostname_of(engine, f"shop_web_{index}")


def test_default_is_the_lowest_numbered_replica(engine_client, engine):
    r = engine_client.run("-T", "--project", "shop", "dev", "web", "--", "hostname")
    assert out(r).strip() == hostname_of(engine, "shop_web_1")


def test_default_skips_a_stopped_replica(engine_client, engine):
    engine.docker("stop", "-t", "5", "shop_web_1")
    try:
        r = engine_client.run("-T", "--project", "shop", "dev", "web", "--", "hostname")
        assert out(r).strip() == hostname_of(engine, "shop_web_2")
    finally:
        engine.docker("start", "shop_web_1")


def test_index_of_no_replica_is_refused(engine_client):
    r = engine_client.run("-T", "--project", "shop", "--index", "7", "dev", "web", "--", "true")
    rexec_error(r)


def test_ambiguous_service_is_refused_and_lists_the_projects(engine_client):
    r = engine_client.run("-T", "dev", "web", "--", "true")
    rexec_error(r, "shop", "blog")


def test_project_disambiguates(engine_client, engine):
    r = engine_client.run("-T", "--project", "blog", "dev", "web", "--", "sh", "-c",
                          'hostname; echo "$GREETING"')
    assert out(r) == f"{hostname_of(engine, 'blog_web_1')}\nhello from blog\n"


@both_engines
def test_container_by_name(engine_client, engine):
    plain_container(engine, "rexec-plain-byname", *IDLE)
    r = engine_client.run("-T", "dev", "--container", "rexec-plain-byname", "--", "hostname")
    assert out(r).strip() == hostname_of(engine, "rexec-plain-byname")


@pytest.mark.parametrize("length", [64, 12])
def test_container_by_id(engine_client, engine, length):
    name = plain_container(engine, f"rexec-plain-byid{length}", *IDLE)
    cid = engine.inspect(name)["Id"][:length]
    r = engine_client.run("-T", "dev", "--container", cid, "--", "hostname")
    assert out(r).strip() == hostname_of(engine, name)


def test_container_of_a_compose_service(engine_client, engine):
    r = engine_client.run("-T", "dev", "--container", "shop_web_2", "--", "sh", "-c",
                          'hostname; echo "$GREETING"')
    assert out(r) == f"{hostname_of(engine, 'shop_web_2')}\nhello from web\n"


# --- detach ----------------------------------------------------------------------------------------


@both_engines
def test_detach_returns_and_leaves_the_process_running(engine_client, engine, marker):
    main_before = engine.host_pid("shop_worker_1")
    r = engine_client.run("-d", "dev", "worker", "--", "sleep", marker)
    assert r.returncode == 0, r.stderr
    (pid,) = wait_present(marker)
    # It runs in the worker container: same pid namespace as the worker's main process.
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{main_before}/ns/pid")
    engine_client.agent.assert_alive()


# --- signals ---------------------------------------------------------------------------------------

TRAP = "trap 'echo got-{sig}; exit 42' {sig}; echo ready; while :; do sleep 1; done"


@both_engines
@pytest.mark.parametrize("sig", ["TERM", "INT", "HUP", "QUIT", "USR1", "USR2"])
def test_signal_to_the_client_reaches_a_trap_in_the_container(engine_client, sig):
    # `docker exec` cannot do this: the engine has no API to signal an exec'd process.
    p = engine_client.popen("-T", "dev", "worker", "--", "sh", "-c", TRAP.format(sig=sig))
    with ended(p):
        read_until(p.stdout, b"ready\n", 30)
        p.send_signal(getattr(signal, "SIG" + sig))
        stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 42, (stdout, stderr)
    assert f"got-{sig}".encode() in stdout


def test_signal_sent_at_once_after_start_is_not_lost(engine_client, marker):
    # The engine learns the exec's host pid ~100 ms after the stream starts; a signal sent in
    # that window must be held, not dropped. With -v the client says "session ... open" as soon
    # as Opened arrives: the signal goes at once then, not after the command has shown that it
    # runs. An untrapped sleep: a trap might not be set yet when the held signal lands, and
    # the process must end by the signal either way (a lost one leaves it sleeping: timeout).
    p = engine_client.popen("-v", "-T", "dev", "worker", "--", "sleep", marker)
    with ended(p):
        opened = read_until(p.stderr, b" open (", 30)
        p.send_signal(signal.SIGTERM)
        stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 143, (stdout, opened + stderr)
    wait_gone(marker, GONE_TIMEOUT)


def test_sigterm_to_the_client_ends_an_untrapping_process_with_143(engine_client, marker):
    p = engine_client.popen("-T", "dev", "worker", "--", "sleep", marker)
    with ended(p):
        wait_present(marker)
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
    assert p.returncode == 143
    wait_gone(marker, GONE_TIMEOUT)


def test_exec_leaves_the_main_process_alone(engine_client, engine):
    before = engine.state("shop_worker_1")
    r = engine_client.run("-T", "dev", "worker", "--", "sh", "-c", "kill -TERM $$")
    assert r.returncode == 143
    after = engine.state("shop_worker_1")
    assert (after["Running"], after["Pid"], after["StartedAt"]) == \
        (True, before["Pid"], before["StartedAt"])


# --- no orphans ------------------------------------------------------------------------------------


def _start_and_kill(client, marker, *args):
    p = client.popen(*args)
    try:
        wait_present(marker)
    finally:
        p.kill()
        p.wait(timeout=10)


@both_engines
def test_sigkill_client_ends_the_container_process(engine_client, engine, marker):
    _start_and_kill(engine_client, marker, "-T", "dev", "worker", "--", "sh", "-c",
                    f"exec sleep {marker}")
    wait_gone(marker, GONE_TIMEOUT)
    engine_client.agent.assert_alive()
    assert engine.running("shop_worker_1"), "the container itself must stay up"


def test_sigkill_client_ends_the_whole_session(engine_client, marker):
    other = marker + "1"
    _start_and_kill(engine_client, marker, "-T", "dev", "worker", "--", "sh", "-c",
                    f"sleep {other} & sleep {marker} & wait")
    wait_present(other)
    wait_gone(marker, GONE_TIMEOUT)
    wait_gone(other, GONE_TIMEOUT)


def test_sigkill_client_ends_a_process_that_ignores_hup_and_term(engine_client, marker):
    _start_and_kill(engine_client, marker, "-T", "dev", "worker", "--", "sh", "-c",
                    f"trap '' HUP TERM INT; exec sleep {marker}")
    wait_gone(marker, GONE_TIMEOUT)


@both_engines
def test_sigkill_tty_client_ends_the_container_process(engine_client, marker):
    _start_and_kill(engine_client, marker, "-t", "dev", "worker", "--", "sh", "-c",
                    f"exec sleep {marker}")
    wait_gone(marker, GONE_TIMEOUT)


# --- terminal: size, ^C, exit ----------------------------------------------------------------------


@both_engines
def test_stty_size_at_start(engine_spawn):
    # No resize ever happens here: the size is the one the client had when it started.
    child = engine_spawn("dev", "worker", "--", "sh", dims=(33, 111))
    shell_ready(child)
    child.send("stty size\r")
    child.expect_exact("33 111")
    child.send("exit\r")
    assert finish(child) == 0


@pytest.mark.parametrize("engine_kind", ["podman"], indirect=True)
def test_stty_size_is_there_before_the_process_runs(engine_spawn):
    # `stty size` as the command itself reads the size before any resize after the start could
    # arrive: the exec must start with it (podman ignores ConsoleSize and refuses a resize
    # before its exec runs; busybox's stty says "standard input" for a 0x0 terminal). Not
    # dockerd 20.10: it has no size before an exec starts (ConsoleSize there is API 1.42), so
    # its first size is the resize after the start, a race the process can win (and did here).
    child = engine_spawn("dev", "worker", "--", "stty", "size", dims=(33, 111))
    child.expect_exact("33 111")
    assert finish(child) == 0


@both_engines
def test_stty_size_follows_a_resize(engine_spawn):
    child = engine_spawn("dev", "worker", "--", "sh", dims=(24, 80))
    shell_ready(child)
    child.setwinsize(50, 132)

    wait_remote_size(child, 50, 132, "the container")
    child.send("exit\r")
    assert finish(child) == 0


@both_engines
def test_ctrl_c_interrupts_the_foreground_command(engine_spawn, marker):
    child = engine_spawn("dev", "worker", "--", "sh")
    shell_ready(child)
    child.send(f"sleep {marker}\r")
    wait_present(marker)
    child.send("\x03")
    wait_gone(marker, 20)
    shell_ready(child, "alive")
    child.send("exit 5\r")
    assert finish(child) == 5


@both_engines
def test_exit_code_through_a_tty(engine_spawn):
    child = engine_spawn("dev", "worker")  # no CMD: sh
    shell_ready(child)
    child.send("exit 7\r")
    assert finish(child) == 7


def test_env_and_workdir_with_a_tty(engine_spawn):
    child = engine_spawn("-e", "REXEC_T=tty-env", "-w", "/home", "--project", "shop", "dev",
                         "web", "--", "sh", "-c", 'echo "$REXEC_T:$(pwd):$GREETING"')
    child.expect_exact("tty-env:/home:hello from web")
    assert finish(child) == 0


# --- errors ----------------------------------------------------------------------------------------


def test_unknown_service_is_refused(engine_client):
    rexec_error(engine_client.run("-T", "dev", "no-such-service", "--", "true"),
                "no-such-service")


@pytest.mark.parametrize("name", ['web"]}', 'web","com.docker.compose.project=shop', "we b"])
def test_a_service_name_compose_would_refuse_is_refused(engine_client, name):
    # The name was pasted into the engine's JSON filter: a quote or bracket changed the
    # filter (an engine error, or another label matched). Now it never reaches the engine.
    rexec_error(engine_client.run("-T", "dev", name, "--", "true"),
                "not a compose service name")
    rexec_error(engine_client.run("run", "-T", "dev", name, "--", "true"),
                "not a compose service name")


def test_unknown_container_is_refused(engine_client):
    rexec_error(engine_client.run("-T", "dev", "--container", "no-such-container", "--", "true"),
                "no-such-container")


@both_engines
def test_stopped_container_is_refused(engine_client, engine):
    plain_container(engine, "rexec-plain-stopped", *IDLE)
    engine.docker("stop", "-t", "5", "rexec-plain-stopped")
    rexec_error(engine_client.run("-T", "dev", "--container", "rexec-plain-stopped", "--",
                                  "true"))


def test_service_with_no_running_container_is_refused(engine_client, engine):
    engine.docker("stop", "-t", "5", "shop_db_1")
    try:
        rexec_error(engine_client.run("-T", "dev", "db", "--", "true"), "db")
    finally:
        engine.docker("start", "shop_db_1")


def test_engine_down_is_reported(start_agent, rexec_bin, tmp_path):
    agent = start_agent("--engine", f"unix://{tmp_path}/no-engine.sock")
    c = Client(rexec_bin, agent)
    rexec_error(c.run("-T", "dev", "worker", "--", "true"))
    agent.assert_alive()


def test_errors_leave_the_agent_serving(engine_client):
    engine_client.run("-T", "dev", "no-such-service", "--", "true")
    engine_client.run("-T", "dev", "--container", "nope", "--", "true")
    r = engine_client.run("-T", "dev", "worker", "--", "echo", "still-fine")
    assert out(r) == "still-fine\n"


# --- ps --------------------------------------------------------------------------------------------


def _ps_rows(stdout):
    lines = [l for l in stdout.decode().splitlines() if l.strip()]
    assert lines, "ps printed nothing"
    header = lines[0].upper()
    assert "PROJECT" in header and "SERVICE" in header, lines[0]
    return [l.split() for l in lines[1:]]


def _state_is(row, *words):
    """The engine's state word (running, exited), or `docker ps`-style status (Up ...)."""
    return any(w.lower() in words for w in row) or any(w in " ".join(row).lower()
                                                        for w in words if len(w) > 2)


def _row_for(rows, name):
    found = [r for r in rows if name in r]
    assert len(found) == 1, f"{name}: {found} in {rows}"
    return found[0]


@both_engines
@pytest.mark.parametrize("with_host", [True, False])
def test_ps_lists_projects_services_replicas(engine_client, engine, with_host):
    r = engine_client.run("ps", "dev") if with_host else engine_client.run("ps")
    assert r.returncode == 0, r.stderr
    rows = _ps_rows(r.stdout)
    compose = engine.containers(oneoff=False)
    assert len(compose) == 7
    for c in compose:
        labels = c["Config"]["Labels"]
        row = _row_for(rows, c["Name"].lstrip("/"))
        for want in (labels["com.docker.compose.project"], labels["com.docker.compose.service"],
                     labels["com.docker.compose.container-number"]):
            assert want in row, (want, row)
        assert _state_is(row, "running", "up"), row


def test_ps_escapes_control_characters_a_container_labels_itself_with(engine_client, engine,
                                                                     marker):
    """Compose labels are the container's to choose: `rexec ps` shows their control characters
    escaped as `ls -b` does (ESC as \\033, a UTF-8 C1 CSI byte by byte), never raw, so a
    container cannot drive the terminal (here: retitle it, clear it). Printable UTF-8 stays."""
    name = f"rexec-vis-{marker.replace('.', '-')}"
    engine.docker("run", "-d", "--name", name,
                  "-l", "com.docker.compose.project=\x1b]0;pwned\x07",
                  "-l", "com.docker.compose.service=caf\u00e9\x1b[2J\u009b",
                  "-l", "com.docker.compose.container-number=1", IMAGE, "sleep", marker)
    r = engine_client.run("ps", "dev")
    assert r.returncode == 0, r.stderr
    for raw in (b"\x1b", b"\x07", b"\xc2\x9b"):
        assert raw not in r.stdout, f"{raw!r} reached the terminal: {r.stdout!r}"
    row = [l for l in r.stdout.splitlines() if name.encode() in l]
    assert len(row) == 1, r.stdout
    assert b"\\033]0;pwned\\007" in row[0], row[0]
    assert "café\\033[2J\\302\\233".encode() in row[0], row[0]


@both_engines
def test_ps_shows_a_stopped_container(engine_client, engine):
    engine.docker("stop", "-t", "5", "shop_db_1")
    try:
        r = engine_client.run("ps", "dev")
        assert r.returncode == 0, r.stderr
        row = _row_for(_ps_rows(r.stdout), "shop_db_1")
        assert _state_is(row, "exited"), row
    finally:
        engine.docker("start", "shop_db_1")
