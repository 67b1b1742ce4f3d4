"""The agent's memory of which container a request names (agent/ctcache.c).

An exec or attach by service or by container name reuses the container found by an earlier
session until the engine's event stream reports a change. These tests change the containers
under a warm agent, through both exec paths, and check that every session still lands in the
container the engine would pick now, never in the one remembered:
  - a container removed and another created in its place (a new id under the same name or the
    same compose service and number);
  - a restarted container (same id, a new init: the direct path must enter the new one);
  - a lower-numbered replica started beside the remembered one, whose init still runs: only the
    event can tell the agent, so the next sessions must pick the new replica within a bounded
    wait;
  - a stopped container: "not running", as without a cache.
That the second of two sessions really reused the first one's answer (no engine call) is read
from the agent's debug log. The containers carry compose's labels (project, service, number)
without a compose file, in a project of this module's own. The tests of what the agent picks
run against podman too (its event names differ: it filters by "died" and "remove"); the two
that count cache hits run against dockerd only: podman's events (file backend, tailed) arrive
late enough that a change just made can still void the first session's answer. Waits are
bounded; no test asserts a duration."""
import os
import uuid

import pytest

from conftest import Client, both_engines, wait_for


IMAGE = "rexec-busybox:test"
IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
PATHS = ("engine", "direct")
HIT = b"as found before"
# The init's start time as the container sees it, and the container's hostname (its id).
PROBE = ["sh", "-c", "cut -d' ' -f22 /proc/1/stat; hostname"]


class Project:
    """Containers labelled as replicas of service `app` of a compose project of their own."""

    def __init__(self, env):
        self.env = env
        self.name = f"rxcache{uuid.uuid4().hex[:8]}"
        self.made = []

    def replica(self, number, name=None):
        name = name or f"{self.name}-app-{number}-{uuid.uuid4().hex[:4]}"
        labels = {"com.docker.compose.project": self.name,
                  "com.docker.compose.service": "app",
                  "com.docker.compose.container-number": str(number),
                  "com.docker.compose.oneoff": "False"}
        args = [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]
        cid = self.env.docker("run", "-d", "--name", name, "--network", "none", *args,
                              IMAGE, *IDLE).stdout.strip()
        self.made.append(name)
        return name, cid

    def remove(self, name):
        self.env.docker("rm", "-f", name)


@pytest.fixture
def project(engine_env):
    p = Project(engine_env)
    yield p
    engine_env.remove(*p.made)


@pytest.fixture(params=PATHS)
def client(request, start_agent, rexec_bin, engine_env):
    agent = start_agent("--engine", engine_env.host, "--exec-path", request.param, "-vv")
    c = Client(rexec_bin, agent)
    c.path = request.param
    return c


def hits(client):
    return client.agent.stderr_path.read_bytes().count(HIT)


def probe(client, *target):
    """(init start time, hostname) of the container the agent picks for TARGET."""
    r = client.run("-T", "dev", *target, "--", *PROBE)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr!r}"
    start, host = r.stdout.decode().split()
    return start, host


def test_second_session_reuses_the_first_ones_container(client, project):
    name, cid = project.replica(1)
    first = probe(client, "--project", project.name, "app")
    assert first[1] == cid[:12]
    assert hits(client) == 0
    assert probe(client, "--project", project.name, "app") == first
    assert hits(client) == 1, "the second session asked the engine again"
    # by container name: an answer of its own
    assert probe(client, "--container", name) == first
    assert probe(client, "--container", name) == first
    assert hits(client) == 2


@both_engines
def test_recreated_container_is_found_again(client, project):
    name, old = project.replica(1)
    by_service = ("--project", project.name, "app")
    assert probe(client, *by_service)[1] == old[:12]
    assert probe(client, "--container", name)[1] == old[:12]
    project.remove(name)
    _, new = project.replica(1, name=name)
    assert probe(client, *by_service)[1] == new[:12]
    assert probe(client, "--container", name)[1] == new[:12]


@both_engines
def test_restarted_container_is_entered_through_its_new_init(client, project, engine_env):
    name, cid = project.replica(1)
    by_service = ("--project", project.name, "app")
    before = probe(client, *by_service)
    assert probe(client, *by_service) == before
    engine_env.docker("restart", "-t", "5", name)
    after = probe(client, *by_service)
    assert after[1] == cid[:12]
    assert after[0] != before[0], "the session saw the old init's start time"
    # the direct path joined the new init's namespaces: its pid namespace is the container's
    r = client.run("-T", "dev", *by_service, "--", "readlink", "/proc/self/ns/pid")
    want = f"pid:[{os.stat(f'/proc/{engine_env.host_pid(name)}/ns/pid').st_ino}]"
    assert r.returncode == 0 and r.stdout.decode().strip() == want, r


def test_lower_replica_started_beside_is_picked_once_the_engine_says(client, project):
    by_service = ("--project", project.name, "app")
    _, two = project.replica(2)
    assert probe(client, *by_service)[1] == two[:12]
    assert probe(client, *by_service)[1] == two[:12]
    assert hits(client) >= 1
    # replica 2's init still runs: only the engine's create/start events can say that the
    # service's lowest-numbered replica is now another container
    _, one = project.replica(1)
    wait_for(lambda: probe(client, *by_service)[1] == one[:12], 20,
             "the agent to pick replica 1 after it started")
    assert probe(client, *by_service)[1] == one[:12]


@both_engines
def test_stopped_container_is_not_running(client, project, engine_env):
    name, _ = project.replica(1)
    probe(client, "--container", name)
    probe(client, "--container", name)
    engine_env.docker("stop", "-t", "5", name)
    r = client.run("-T", "dev", "--container", name, "--", "true")
    assert r.returncode == 125, r
    assert b"not running" in r.stderr, r.stderr
