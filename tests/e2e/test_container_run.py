"""`rexec run [OPTIONS] HOST SERVICE [CMD...]` (issue #4): a one-off container built from a
compose service's definition, like `docker compose run`, on a real Docker Engine. Effects are
checked with `docker inspect` / `docker ps -a` against the test engine. Each test's new
containers are removed by the `engine` fixture afterwards; tests that stop a service start it
again. Tests marked both_engines run against podman too (ids [podman])."""
import re
import signal
import uuid

import pytest

from conftest import both_engines, ended, read_until, wait_for, wait_gone, wait_present
from docker_env import free_port
from conftest import finish, shell_ready, wait_remote_size
from test_containers import SH_IF_TTY, rexec_error

GONE_TIMEOUT = 30.0
NAME_RE = re.compile(r"^(?P<project>[a-z0-9_-]+)-(?P<service>[a-z0-9_-]+)-run-[0-9a-f]{12}$")


def oneoffs(engine, service=None):
    return engine.containers("shop", service, oneoff=True)


def tag():
    """A unique label value: find the container a test made."""
    return uuid.uuid4().hex[:16]


def by_label(engine, value):
    ids = engine.ids(f"label=rexec.test={value}")
    assert len(ids) == 1, f"expected one container labelled rexec.test={value}, found {ids}"
    return engine.inspect(ids[0])


def started_name(r):
    """`run -d` prints the new container's name (one line) and exits 0."""
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().split()
    assert len(lines) == 1, r.stdout
    return lines[0]


def port_bindings(info):
    return {k: v for k, v in (info["HostConfig"].get("PortBindings") or {}).items() if v}


# --- output and exit codes -------------------------------------------------------------------------


@both_engines
def test_run_output_and_exit_code(engine_client):
    r = engine_client.run("run", "--rm", "-T", "dev", "worker", "--", "sh", "-c",
                          "echo out; echo err >&2; exit 7")
    assert r.returncode == 7, r.stderr
    assert r.stdout == b"out\n"
    assert b"err\n" in r.stderr


def test_run_is_a_new_container_not_a_replica(engine_client, engine):
    r = engine_client.run("run", "--rm", "-T", "dev", "worker", "--", "hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() != engine.inspect("shop_worker_1")["Config"]["Hostname"]


@both_engines
def test_run_rm_leaves_nothing_behind(engine_client, engine):
    before = {c["Id"] for c in oneoffs(engine)}
    r = engine_client.run("run", "--rm", "-T", "dev", "worker", "--", "sh", "-c", "exit 3")
    assert r.returncode == 3, r.stderr
    wait_for(lambda: {c["Id"] for c in oneoffs(engine)} == before, 30,
             "the --rm one-off container to be gone")


@both_engines
def test_run_without_rm_keeps_the_exited_container(engine_client, engine):
    t = tag()
    r = engine_client.run("run", "-T", "-l", f"rexec.test={t}", "dev", "worker", "--",
                          "sh", "-c", "exit 5")
    assert r.returncode == 5, r.stderr

    def settled():
        # podman says "stopped" until its cleanup process has run, a moment after the exit
        info = by_label(engine, t)
        return info if info["State"]["Status"] != "stopped" else None

    info = wait_for(settled, 20, "the one-off's state to settle")
    assert (info["State"]["Status"], info["State"]["ExitCode"]) == ("exited", 5)


@both_engines
@pytest.mark.parametrize("argv,code", [(["no-such-command-rexec"], 127), (["/etc/passwd"], 126)])
def test_run_start_failures(engine_client, argv, code):
    r = engine_client.run("run", "--rm", "-T", "dev", "worker", "--", *argv)
    assert r.returncode == code, r.stderr
    assert r.stdout == b""


@both_engines
def test_run_stdin_with_i(engine_client):
    blob = bytes(range(256)) * 1024
    r = engine_client.run("run", "--rm", "-T", "-i", "dev", "worker", "--", "cat", input=blob)
    assert (r.returncode, r.stdout) == (0, blob), r.stderr


def test_run_T_means_no_tty(engine_client):
    r = engine_client.run("run", "--rm", "-T", "dev", "worker", "--", "sh", "-c", SH_IF_TTY)
    assert (r.returncode, r.stdout) == (0, b"not-tty\n"), r.stderr


# --- what the one-off inherits and how it is named ------------------------------------------------


@both_engines
def test_run_detach_prints_the_default_name_and_sets_oneoff_labels(engine_client, engine, marker):
    r = engine_client.run("run", "-d", "dev", "worker", "--", "sleep", marker)
    name = started_name(r)
    m = NAME_RE.match(name)
    assert m and (m.group("project"), m.group("service")) == ("shop", "worker"), name
    info = engine.inspect(name)
    labels = info["Config"]["Labels"]
    assert labels.get("com.docker.compose.oneoff") == "True", labels
    assert labels.get("com.docker.compose.project") == "shop", labels
    assert labels.get("com.docker.compose.service") == "worker", labels
    assert info["State"]["Running"], info["State"]
    assert info["Config"]["Image"] == engine.inspect("shop_worker_1")["Config"]["Image"]
    wait_present(marker)  # it keeps running after the client returned
    engine_client.agent.assert_alive()


@both_engines
def test_run_inherits_environment_and_working_dir(engine_client):
    r = engine_client.run("run", "--rm", "-T", "--project", "shop", "dev", "web", "--",
                          "sh", "-c", 'echo "$GREETING|$SHOP_ROLE"; pwd')
    assert (r.returncode, r.stdout) == (0, b"hello from web|web\n/srv/web\n"), r.stderr


def test_run_inherits_labels_and_networks(engine_client, engine, marker):
    name = started_name(engine_client.run("run", "-d", "--project", "shop", "dev", "web", "--",
                                          "sleep", marker))
    assert NAME_RE.match(name) and name.startswith("shop-web-run-"), name
    info = engine.inspect(name)
    assert info["Config"]["Labels"].get("test.rexec.role") == "frontend"
    assert info["Config"]["Labels"].get("com.docker.compose.oneoff") == "True"
    assert "shop_default" in info["NetworkSettings"]["Networks"], info["NetworkSettings"]


def test_run_in_the_other_project(engine_client):
    r = engine_client.run("run", "--rm", "-T", "--project", "blog", "dev", "web", "--",
                          "sh", "-c", 'echo "$GREETING"')
    assert (r.returncode, r.stdout) == (0, b"hello from blog\n"), r.stderr


def test_run_ambiguous_service_is_refused(engine_client):
    rexec_error(engine_client.run("run", "--rm", "-T", "dev", "web", "--", "true"),
                "shop", "blog")


def test_run_unknown_service_is_refused(engine_client):
    rexec_error(engine_client.run("run", "--rm", "-T", "dev", "no-such-service", "--", "true"),
                "no-such-service")


# --- options ---------------------------------------------------------------------------------------


def test_run_name(engine_client, engine):
    name = f"rexec-named-{tag()}"
    r = engine_client.run("run", "-T", "--name", name, "dev", "worker", "--", "true")
    assert r.returncode == 0, r.stderr
    info = engine.inspect(name)
    assert info["Config"]["Labels"].get("com.docker.compose.oneoff") == "True"
    assert info["State"]["ExitCode"] == 0


def test_run_detach_with_name_prints_it(engine_client, engine, marker):
    name = f"rexec-named-{tag()}"
    assert started_name(engine_client.run("run", "-d", "--name", name, "dev", "worker", "--",
                                          "sleep", marker)) == name
    assert engine.running(name)


def test_run_env(engine_client):
    r = engine_client.run("run", "--rm", "-T", "-e", "REXEC_R=one", "-e", "GREETING=over",
                          "--project", "shop", "dev", "web", "--", "sh", "-c",
                          'echo "$REXEC_R|$GREETING|$SHOP_ROLE"')
    assert (r.returncode, r.stdout) == (0, b"one|over|web\n"), r.stderr


def test_run_entrypoint(engine_client):
    r = engine_client.run("run", "--rm", "-T", "--entrypoint", "echo", "dev", "worker", "--",
                          "via", "entrypoint")
    assert (r.returncode, r.stdout) == (0, b"via entrypoint\n"), r.stderr


def test_run_label(engine_client, engine):
    t = tag()
    r = engine_client.run("run", "-T", "-l", f"rexec.test={t}", "-l", "rexec.extra=yes",
                          "dev", "worker", "--", "true")
    assert r.returncode == 0, r.stderr
    labels = by_label(engine, t)["Config"]["Labels"]
    assert labels.get("rexec.extra") == "yes"
    assert labels.get("com.docker.compose.oneoff") == "True"
    assert labels.get("com.docker.compose.service") == "worker"


@pytest.mark.parametrize("label", ["com.docker.compose.container-number=0",
                                   "com.docker.compose.project.config_files=/etc/shadow",
                                   "com.docker.compose.oneoff"])
def test_run_label_in_the_compose_namespace_is_refused(engine_client, engine, label):
    """The compose labels are the agent's: a forged replica number would draw others' execs
    into the one-off, forged config files would be opened by the agent as root."""
    t = tag()
    before = {c["Id"] for c in oneoffs(engine)}
    line = rexec_error(engine_client.run("run", "--rm", "-T", "-l", f"rexec.test={t}",
                                         "-l", label, "dev", "worker", "--", "true"),
                       label.split("=")[0], "-l")
    assert "com.docker.compose." in line
    assert engine.ids(f"label=rexec.test={t}") == [], "a container was created"
    assert {c["Id"] for c in oneoffs(engine)} == before


@both_engines
def test_run_user(engine_client):
    r = engine_client.run("run", "--rm", "-T", "-u", "app", "dev", "worker", "--", "id", "-u")
    assert (r.returncode, r.stdout) == (0, b"1000\n"), r.stderr


def test_run_workdir(engine_client):
    r = engine_client.run("run", "--rm", "-T", "-w", "/var/tmp", "--project", "shop", "dev",
                          "web", "--", "pwd")
    assert (r.returncode, r.stdout) == (0, b"/var/tmp\n"), r.stderr


def test_run_volume(engine_client, tmp_path):
    (tmp_path / "in.txt").write_text("from the host\n")
    r = engine_client.run("run", "--rm", "-T", "-v", f"{tmp_path}:/data", "dev", "worker", "--",
                          "sh", "-c", "cat /data/in.txt; echo from the container > /data/out.txt")
    assert (r.returncode, r.stdout) == (0, b"from the host\n"), r.stderr
    assert (tmp_path / "out.txt").read_text() == "from the container\n"


@both_engines
def test_run_publish(engine_client, engine, marker):
    port = free_port()
    name = started_name(engine_client.run("run", "-d", "-p", f"{port}:80", "dev", "worker", "--",
                                          "sleep", marker))
    bindings = port_bindings(engine.inspect(name))
    assert [b["HostPort"] for b in bindings.get("80/tcp", [])] == [str(port)], bindings


def test_run_publishes_no_ports_by_default(engine_client, engine, marker):
    name = started_name(engine_client.run("run", "-d", "dev", "api", "--", "sleep", marker))
    assert port_bindings(engine.inspect(name)) == {}


def test_run_service_ports(engine_client, engine, marker):
    # The service publishes 127.0.0.1:PORT:80; its own container holds PORT, so stop it first
    # (as with `docker compose run --service-ports` next to a running service).
    engine.docker("stop", "-t", "5", "shop_api_1")
    name = None
    try:
        r = engine_client.run("run", "-d", "--service-ports", "dev", "api", "--", "sleep", marker)
        name = started_name(r)
        bindings = port_bindings(engine.inspect(name))
        assert [(b["HostIp"], b["HostPort"]) for b in bindings.get("80/tcp", [])] == \
            [("127.0.0.1", str(engine.api_port))], bindings
    finally:
        if name:
            engine.remove(name)
        engine.docker("start", "shop_api_1")


def test_run_starts_stopped_dependencies_unless_no_deps(engine_client, engine):
    engine.docker("stop", "-t", "5", "shop_db_1")
    try:
        r = engine_client.run("run", "--rm", "-T", "--no-deps", "dev", "api", "--", "true")
        assert r.returncode == 0, r.stderr
        assert not engine.running("shop_db_1"), "--no-deps must not start db"
        r = engine_client.run("run", "--rm", "-T", "dev", "api", "--", "true")
        assert r.returncode == 0, r.stderr
        assert engine.running("shop_db_1"), "db (depends_on of api) should have been started"
    finally:
        if not engine.running("shop_db_1"):
            engine.docker("start", "shop_db_1")


@pytest.mark.parametrize("aliases", [True, False])
def test_run_use_aliases(engine_client, engine, marker, aliases):
    args = ["run", "-d"] + (["--use-aliases"] if aliases else []) + ["dev", "worker", "--",
                                                                      "sleep", marker]
    name = started_name(engine_client.run(*args))
    net = engine.inspect(name)["NetworkSettings"]["Networks"]["shop_default"]
    assert ("worker" in (net.get("Aliases") or [])) == aliases, net


def test_run_quiet_pull(engine_client):
    r = engine_client.run("run", "--rm", "-T", "--quiet-pull", "dev", "worker", "--",
                          "echo", "ok")
    assert (r.returncode, r.stdout) == (0, b"ok\n"), r.stderr


# --- terminal, signals, orphans --------------------------------------------------------------------


@both_engines
def test_run_tty_on_a_terminal(engine_spawn):
    child = engine_spawn("run", "--rm", "dev", "worker", "--", "sh", dims=(31, 97))
    shell_ready(child)
    child.send(SH_IF_TTY + "; stty size\r")
    child.expect_exact("is-tty")
    child.expect_exact("31 97")
    child.setwinsize(40, 120)

    wait_remote_size(child, 40, 120, "the one-off")
    child.send("exit 6\r")
    assert finish(child) == 6


@pytest.mark.parametrize("engine_kind", ["podman"], indirect=True)
def test_run_tty_size_is_there_before_the_process_runs(engine_spawn):
    # As test_stty_size_is_there_before_the_process_runs, for a one-off: podman takes the size
    # between the attach and the start. Not dockerd 20.10: it refuses a resize before the start
    # and applies ConsoleSize on Windows only (API < 1.42), so its one-off's first size is a
    # race that the process can win.
    child = engine_spawn("run", "--rm", "dev", "worker", "--", "stty", "size", dims=(33, 111))
    child.expect_exact("33 111")
    assert finish(child) == 0


@both_engines
def test_run_sigterm_to_the_client_reaches_a_trap(engine_client):
    p = engine_client.popen("run", "--rm", "-T", "dev", "worker", "--", "sh", "-c",
                            "trap 'echo got-TERM; exit 42' TERM; echo ready; "
                            "while :; do sleep 1; done")
    with ended(p):
        read_until(p.stdout, b"ready\n", 60)
        p.send_signal(signal.SIGTERM)
        stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == 42, (stdout, stderr)
    assert b"got-TERM" in stdout


@both_engines
def test_run_sigkill_client_leaves_no_process(engine_client, marker):
    p = engine_client.popen("run", "--rm", "-T", "dev", "worker", "--", "sh", "-c",
                            f"sleep {marker} & wait")
    try:
        wait_present(marker, timeout=60)
    finally:
        p.kill()
        p.wait(timeout=10)
    wait_gone(marker, GONE_TIMEOUT)
    engine_client.agent.assert_alive()
