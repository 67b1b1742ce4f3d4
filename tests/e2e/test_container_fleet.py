"""Containers across a fleet: two real agents (one CA) in front of the same real engine, so
that a service runs "on" both hosts: `rexec run SELECTOR` makes one one-off per host, `rexec ps
SELECTOR` lists both, and a bare service found on both is refused unless --any."""
import pytest

from fleet_env import Fleet


@pytest.fixture
def pair(rexec_bin, agent_bin, engine, tmp_path):
    fleet = Fleet(rexec_bin, agent_bin, tmp_path, 2, agent_args=("--engine", engine.host))
    fleet.start()
    yield fleet
    fleet.stop()


def test_run_fans_out_one_oneoff_per_host(pair, engine):
    r = pair.run("run", "@fleet", "--project", "shop", "--rm", "-e", "WHO=fleet", "web",
                 "sh", "-c", "echo run-$WHO-$GREETING")
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stdout.decode().splitlines())
    assert len(lines) == 2, lines
    assert lines[0].startswith("h000") and lines[1].startswith("h001"), lines
    greeting = engine.inspect(engine.name_of("shop", "web"))["Config"]["Env"]
    want = "run-fleet-" + next(e.split("=", 1)[1] for e in greeting if e.startswith("GREETING="))
    assert all(line.endswith(want) for line in lines), (lines, want)
    # --rm: no one-off of web is left on the engine.
    assert engine.containers(project="shop", service="web", oneoff=True) == []


def test_run_fan_out_exit_code_says_a_command_failed(pair, engine):
    r = pair.run("run", "@fleet", "--project", "shop", "--rm", "web", "sh", "-c", "exit 3")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert b"2 failed" in r.stderr, r.stderr


def test_ps_across_hosts_has_a_host_column(pair, engine):
    r = pair.run("ps", "@fleet")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert out[0].split()[:3] == ["HOST", "PROJECT", "SERVICE"], out[0]
    web1 = engine.name_of("shop", "web")
    rows = [l for l in out[1:] if web1 in l.split()]
    assert sorted(l.split()[0] for l in rows) == ["h000", "h001"], out


def test_bare_service_on_two_hosts_needs_any(pair, engine):
    r = pair.run("worker", "true")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert b"h000" in r.stderr and b"h001" in r.stderr, r.stderr
    r = pair.run("--any", "worker", "--", "sh", "-c", "echo picked")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"picked\n"


def test_attach_refuses_several_hosts(pair, engine):
    r = pair.run("attach", "@fleet", "console")
    assert r.returncode == 2
    assert b"name one host" in r.stderr, r.stderr
