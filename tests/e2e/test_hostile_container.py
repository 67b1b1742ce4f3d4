"""A hostile container against the direct exec path (and the agent that serves everyone else).

Everything in a container is the container's to make: its init may stack seccomp filters that
fake success, its /etc/passwd may be a FIFO or a device node, its root user may SIGSTOP every
process it can see (a process joining it, too, before its exec), and -w may name a magic link.
tests/hostile/hostile.c, a static helper the build installs under zig-out/test/, is
bind-mounted into the containers and plays their init.

For each: a direct exec gets exactly the engine path's context, or a clear refusal (125 and
the reason); `auto` gets the engine's; and a host session on the same agent, started
meanwhile, completes (the agent neither froze nor died). Waits are bounded; no test asserts a
duration."""
import os
import re
import subprocess
import uuid

import pytest

from conftest import BIN_DIR, Client

IMAGE = "rexec-busybox:test"
IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
HOSTILE = (BIN_DIR.parent / "test" / "hostile").resolve()
# A bound on anything that must not hang: far over a direct start's own 5 s bound.
HANG_GUARD = 40.0
# What a session shows of its context (the lines a faked privilege drop would give away).
CONTEXT = ["sh", "-c", "id; grep -E '^(Cap[A-Za-z]+|NoNewPrivs|Seccomp):' /proc/self/status"]


@pytest.fixture(scope="module")
def hostile_bin():
    assert HOSTILE.is_file(), f"{HOSTILE} missing: `packaging/zig build` installs it"
    return HOSTILE


class Containers:
    """Containers made by a test, removed at the module's end."""

    def __init__(self, env):
        self.env = env
        self.made = []

    def run(self, *args, cmd=IDLE):
        name = f"rexec-hostile-{uuid.uuid4().hex[:8]}"
        self.env.docker("run", "-d", "--name", name, "--network", "none", *args, IMAGE, *cmd)
        self.made.append(name)
        return name


@pytest.fixture(scope="module")
def containers(docker_engine):
    c = Containers(docker_engine)
    yield c
    if c.made:
        docker_engine.remove(*c.made)


@pytest.fixture
def agents(start_agent, rexec_bin, docker_engine):
    """{"engine", "direct", "auto"}: a client of an agent per exec path, same engine."""
    out = {}
    for path in ("engine", "direct", "auto"):
        out[path] = Client(rexec_bin, start_agent("--engine", docker_engine.host,
                                                  "--exec-path", path))
    return out


def host_session_completes(client):
    r = client.run("-T", "dev", "--host", "--", "echo", "alive", timeout=HANG_GUARD)
    assert (r.returncode, r.stdout) == (0, b"alive\n"), r.stderr
    client.agent.assert_alive()


def refused_or_same(direct, engine, why):
    """DIRECT (a CompletedProcess) is a refusal with exit 125 that says WHY, or has exactly
    ENGINE's output and exit code."""
    if direct.returncode == 125:
        assert re.search(why, direct.stderr.decode(errors="replace")), direct.stderr
        return
    assert (direct.returncode, direct.stdout) == (engine.returncode, engine.stdout), \
        f"direct {direct.stdout!r} {direct.stderr!r}, engine {engine.stdout!r}"


# --- 1. seccomp filters the container stacked itself ---------------------------------------------


@pytest.mark.parametrize("profile", [[], ["--security-opt", "seccomp=unconfined"]],
                         ids=["default-profile", "unconfined"])
def test_filters_the_container_stacked_never_reach_an_exec(agents, containers, hostile_bin,
                                                           profile):
    # The init sets no_new_privs and stacks a filter that makes capset, set*id, setgroups and
    # prctl return 0 doing nothing: a child that installed it while still root would stay
    # uid 0 with every capability, whatever -u says.
    c = containers.run("-v", f"{hostile_bin}:/hostile:ro", *profile,
                       cmd=["/hostile", "fake-seccomp"])
    res = {path: cl.run("-T", "-u", "app", "dev", "--container", c, "--", *CONTEXT)
           for path, cl in agents.items()}
    engine = res["engine"]
    assert engine.returncode == 0, engine.stderr
    assert b"uid=1000(app)" in engine.stdout and b"CapEff:\t0000000000000000" in engine.stdout
    refused_or_same(res["direct"], engine, r"seccomp filter.*stacked its own")
    assert (res["auto"].returncode, res["auto"].stdout) == (0, engine.stdout)
    host_session_completes(agents["direct"])


# --- 2. files of the container that are not files ------------------------------------------------


def _plant(docker_engine, c, how):
    docker_engine.docker("exec", c, "sh", "-c", f"rm -f /etc/passwd && {how}")


@pytest.mark.parametrize("kind", ["fifo", "tty"])
def test_passwd_that_is_not_a_file_is_refused_not_opened(agents, containers, docker_engine,
                                                         kind):
    c = containers.run()
    if kind == "fifo":
        _plant(docker_engine, c, "mkfifo /etc/passwd")
        master = slave = None
    else:
        # A pty of the test's own: opened by root on the host, a read of it would wait for
        # input forever (and it could become the opener's controlling terminal).
        master, slave = os.openpty()
        st = os.fstat(slave)
        _plant(docker_engine, c, f"mknod /etc/passwd c {os.major(st.st_rdev)} "
                                 f"{os.minor(st.st_rdev)}")
    try:
        # Every path: the agent resolves -u itself (the engine gets uid:gid), so the engine's
        # runtime is not left to open it either.
        for path, cl in agents.items():
            r = cl.run("-T", "-u", "app", "dev", "--container", c, "--", "id",
                       timeout=HANG_GUARD)
            assert r.returncode == 125, (path, r.returncode, r.stdout, r.stderr)
            assert b"/etc/passwd is not a regular file" in r.stderr, (path, r.stderr)
            host_session_completes(cl)
    finally:
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)


def test_pts_that_is_not_a_devpts_is_not_used(agents, containers, docker_engine, tmp_path):
    # /dev/pts bind-mounted from a plain directory, where the container made the nodes: a
    # "ptmx" that is the host's /dev/ptmx and "pts/N" that are /dev/null. An agent that took
    # them would allocate a host pty and hand the process /dev/null as its terminal (its
    # output lost; another node could have been a host console). Only a devpts is used; else
    # the session gets a pty of the host's devpts, as a container without one does.
    pts = tmp_path / "pts"
    pts.mkdir()
    c = containers.run("-v", f"{pts}:/dev/pts")
    docker_engine.docker("exec", c, "sh", "-c", "mknod /dev/pts/ptmx c 5 2 && i=0 && "
                         "while [ $i -lt 256 ]; do mknod /dev/pts/$i c 1 3; i=$((i+1)); done")
    r = agents["direct"].run("-t", "dev", "--container", c, "--", "echo", "hello",
                             timeout=HANG_GUARD)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert b"hello" in r.stdout, (r.stdout, r.stderr)
    host_session_completes(agents["direct"])


# --- 3. a container that stops the joining child -------------------------------------------------


def test_sigstop_from_inside_never_freezes_the_agent(agents, containers, hostile_bin,
                                                     tmp_path):
    trigger = tmp_path / "trigger"
    trigger.mkdir()
    c = containers.run("-v", f"{hostile_bin}:/hostile:ro", "-v", f"{trigger}:/trigger",
                       cmd=["/hostile", "stop-all", "/trigger/go"])
    direct = agents["direct"]
    # The agent knows the target and the init's filters before the container turns.
    r = direct.run("-T", "dev", "--container", c, "--", "true")
    assert r.returncode == 0, r.stderr
    (trigger / "go").touch()
    # Execs joining a container whose root SIGSTOPs everything it sees, and a host session
    # beside them: the host session completes, the agent lives; each exec ends (killed before
    # its exec after the start bound, or stopped after it and ended by us).
    procs = [direct.popen("-T", "dev", "--container", c, "--", "true") for _ in range(4)]
    try:
        for _ in range(3):
            host_session_completes(direct)
    finally:
        for p in procs:
            try:
                p.communicate(timeout=HANG_GUARD)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
    direct.agent.assert_alive()


# --- 4. the working directory ---------------------------------------------------------------------


@pytest.mark.parametrize("workdir", ["/proc/self/fd/3", "/proc/self/fd/4", "/proc/1/cwd",
                                     "/lnk"])
def test_workdir_through_a_magic_link_is_refused(agents, containers, docker_engine, workdir):
    # No path may lead the child to one of the agent's fds (runc's CVE-2024-21626): its fds
    # are closed before the working directory is looked up, and the lookup stays inside the
    # container's root and follows no magic link, /lnk -> /proc/self/fd/3 included.
    c = containers.run()
    docker_engine.docker("exec", c, "ln", "-s", "/proc/self/fd/3", "/lnk")
    r = agents["direct"].run("-T", "-w", workdir, "dev", "--container", c, "--",
                             "readlink", "/proc/self/cwd")
    assert r.returncode == 126, (r.returncode, r.stdout, r.stderr)
    assert b"chdir" in r.stderr, r.stderr
    host_session_completes(agents["direct"])
