"""The direct exec path into a container in a user namespace of its own (issue #5).

A second test engine runs with `--userns-remap=default`: its containers' root is the host's
uid 100000 (dockerd adds the `dockremap` user and its /etc/subuid, /etc/subgid ranges to the
host on first use). The direct path joins the container's user namespace last, after the
cgroups, the other namespaces and the rlimits (which need the host's root), and takes the
container's ids inside it. The same probe as in test_direct_exec.py, through the engine's exec
and through the direct path, must show the same context; on the host, the direct path's
process must be the mapped uid, not the host's root."""
import os
import uuid

import pytest

from conftest import Client, ended, read_until, wait_present
from test_direct_exec import IDLE, IMAGE, differences, probe, run_both

PATHS = ("engine", "direct")


@pytest.fixture(scope="module")
def userns_engine():
    import docker_env
    env = docker_env.DockerEnv(userns_remap=True, pool="10.216.0.0/16")
    try:
        env.start()
        env.build_image()
    except docker_env.DockerEnvError as e:
        env.cleanup()
        pytest.fail(f"the userns-remap test engine could not be set up: {e}", pytrace=False)
    yield env
    env.cleanup()


@pytest.fixture(scope="module")
def remapped(userns_engine):
    """{config: container name} in the userns-remap engine."""
    tag = uuid.uuid4().hex[:8]
    made = {}
    for config, args in {"default": [], "user-1000": ["--user", "1000"]}.items():
        name = f"rexec-userns-{config}-{tag}"
        userns_engine.docker("run", "-d", "--name", name, "--network", "none", *args, IMAGE,
                             *IDLE)
        made[config] = name
    yield made
    userns_engine.remove(*made.values())


@pytest.fixture
def clients(start_agent, rexec_bin, userns_engine):
    return {path: Client(rexec_bin, start_agent("--engine", userns_engine.host,
                                                "--exec-path", path))
            for path in PATHS}


def test_the_container_has_a_user_namespace_of_its_own(userns_engine, remapped):
    pid = userns_engine.host_pid(remapped["default"])
    with open(f"/proc/{pid}/uid_map") as f:
        assert f.read().split() == ["0", "100000", "65536"]


@pytest.mark.parametrize("config,opts", [("default", ()), ("user-1000", ()),
                                         ("default", ("-u", "1000")),
                                         ("user-1000", ("-u", "0"))],
                         ids=["default", "user-1000", "default:-u 1000", "user-1000:-u 0"])
def test_direct_exec_in_a_user_namespace_equals_engine_exec(clients, remapped, config, opts):
    engine, direct = probe(clients, remapped[config], *opts)
    assert "user:[" in engine["ns"]
    diffs = differences(engine, direct)
    assert not diffs, (f"{config} {' '.join(opts)}: the direct path differs from the engine's"
                       " exec:\n" + "\n".join(diffs))


@pytest.mark.parametrize("opts,host_uid", [((), "100000"), (("-u", "1000"), "101000")])
def test_direct_exec_process_is_the_mapped_uid_on_the_host(clients, remapped, marker, opts,
                                                          host_uid):
    p = clients["direct"].popen("-v", "-T", *opts, "dev", "--container", remapped["default"],
                                "--", "sleep", marker)
    with ended(p):
        read_until(p.stderr, b"via direct", 30)
        (pid,) = wait_present(marker)
        with open(f"/proc/{pid}/status") as f:
            status = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
        assert status["Uid"].split() == [host_uid] * 4, status["Uid"]
        # in the container's user namespace: its capabilities count there only
        assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")


def test_seccomp_still_applies_in_the_user_namespace(clients, remapped):
    res = run_both(clients, remapped["default"], cmd=["busybox", "unshare", "-U", "true"])
    for path, r in res.items():
        assert r.returncode == 1 and b"Operation not permitted" in r.stderr, (path, r.stderr)
