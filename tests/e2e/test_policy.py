"""The agent's policy (issue 16): who may exec, run, attach and ps where, as whom. Real agents
(dev agents given --policy FILE, and a two-agent fleet), the real client, the real engine and
compose projects shop and blog (tests/e2e/docker_env.py; the busybox image's passwd has root,
app 1000 and nobody). Each field is tested allowing and denying; users on both exec paths;
ps and the bare-service lookup filtered; --check-policy, --explain, SIGHUP reload, and the
refusal to start without a policy. A denial is exit 125 and one line naming what was asked."""
import json
import os
import pwd
import signal
import subprocess

import pytest

from conftest import Client, ended, read_until, wait_for
from fleet_env import Fleet
from test_audit import client_cn, records, wait_records

IMAGE = "rexec-busybox:test"
IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
ALL_OPTIONS = "[privileged, volume, publish, entrypoint, env, workdir]"


def denied(r, what):
    """Refused by the policy: exit 125 and one line `rexec: dev: denied by policy: WHAT`."""
    text = r.stderr.decode(errors="replace")
    lines = [l for l in text.splitlines() if l.strip()]
    assert r.returncode == 125, f"exit {r.returncode}, stdout {r.stdout!r}, stderr {text!r}"
    assert lines == [f"rexec: dev: denied by policy: {what}"], lines
    assert r.stdout == b"", r.stdout


def ok(r, want=None):
    assert r.returncode == 0, f"exit {r.returncode}; stderr {r.stderr!r}"
    if want is not None:
        assert r.stdout.decode().strip() == want, r.stdout
    return r.stdout.decode()


@pytest.fixture
def policed(start_agent, rexec_bin, engine, tmp_path):
    """policed(POLICY, *agent_args) -> (agent, client, audit log): a dev agent with --engine,
    --audit-log and --policy FILE holding POLICY, where "{me}" is the dev client's CN."""
    def start(policy, *extra):
        path = tmp_path / "policy.yaml"
        log = tmp_path / "audit.jsonl"
        sd = tmp_path / "state"
        sd.mkdir(exist_ok=True)
        # The dev agent makes its client certificate: its CN goes into the policy.
        path.write_text("rules: []\n")
        agent = start_agent("--engine", engine.host, "--policy", path, "--audit-log", log,
                            *extra, state_dir=sd)
        path.write_text(policy.replace("{me}", json.dumps(client_cn(agent))))
        os.kill(agent.pid, signal.SIGHUP)
        # The reload is done once a request that only the new policy allows goes through: each
        # test waits for one.
        return agent, Client(rexec_bin, agent), log
    return start


def ex(client, svc, *cmd, opts=()):
    """`rexec -T [OPTS] dev SVC -- CMD` (web is in two projects: shop's)."""
    pre = ["--project", "shop"] if svc == "web" else []
    return client.run("-T", *pre, *opts, "dev", svc, *(["--", *cmd] if cmd else []))


def ct(client, name, *cmd, opts=()):
    return client.run("-T", *opts, "dev", "--container", name, "--", *cmd)


def run(client, svc, *cmd, opts=()):
    """`rexec run --rm -T --project shop [OPTS] dev SVC -- CMD`."""
    return client.run("run", "--rm", "-T", "--project", "shop", *opts, "dev", svc, "--", *cmd)


def after_first_start(log):
    """The records from the first "start" on: those of the policy a test waited for."""
    rs = records(log)
    first = next(i for i, r in enumerate(rs) if r["event"] == "start")
    return rs[first:]


def me():
    return pwd.getpwuid(os.geteuid()).pw_name


def reload(agent, client, probe):
    """SIGHUP AGENT and wait until PROBE(client) (a request) says the new policy is in force."""
    os.kill(agent.pid, signal.SIGHUP)
    wait_for(lambda: probe(client), 30, "the reloaded policy")


def plain_container(engine, name, *args):
    engine.docker("run", "-d", "--network", "none", "--name", name, *args, IMAGE, *IDLE)
    return name


# --- users: -u 0, -u root and a default root are one user, on both exec paths ------------------


@pytest.mark.parametrize("path", ["engine", "direct"])
def test_users_root_however_asked_on_both_exec_paths(policed, engine, path):
    agent, client, log = policed(
        "rules:\n"
        "  - allow:\n"
        "      who: [{me}]\n"
        "      verbs: [exec]\n"
        "      targets: [\"shop/*\", \"container:pol-*\"]\n"
        "      users: [\"*\"]\n"
        "  - deny:\n"
        "      users: [root]\n", "--exec-path", path)
    wait_for(lambda: ex(client, "web", "true", opts=("-u", "app")).returncode == 0, 30,
             "the policy to load")
    assert ok(ex(client, "web", "id", "-u", opts=("-u", "app"))).strip() == "1000"
    assert ok(ex(client, "web", "id", "-un", opts=("-u", "1000"))).strip() == "app"
    denied(ex(client, "web", "id", opts=("-u", "0")), "exec in shop/web as root")
    denied(ex(client, "web", "id", opts=("-u", "root")), "exec in shop/web as root")
    denied(ex(client, "web", "id"), "exec in shop/web as root (the default user)")
    # A container whose own user is app: its default user is allowed, root still is not.
    name = plain_container(engine, f"pol-app-{path}", "--user", "app")
    assert ok(ct(client, name, "id", "-u")).strip() == "1000"
    denied(ct(client, name, "id", opts=("-u", "0")), f"exec in container:{name} as root")
    wait_records(log, 6)
    rs = after_first_start(log)
    refused = [r for r in rs if r["event"] == "refused"]
    assert len(refused) == 4 and all(r["rule"] == 1 and r["groups"] == [] for r in refused), rs
    started = [r for r in rs if r["event"] == "start"]
    assert started and all(r["rule"] == 0 for r in started), started


# --- who and targets ------------------------------------------------------------------------------


def test_who_and_targets_and_container_names(policed, engine, rexec_bin):
    agent, client, log = policed(
        "rules:\n"
        "  - allow:\n"
        "      who: [{me}]\n"
        "      targets: [\"container:*\", shop/web]\n"
        "  - deny:\n"
        "      targets: [shop/db]\n")
    wait_for(lambda: ex(client, "web", "true").returncode == 0, 30, "the policy")
    denied(ex(client, "worker", "true"), "exec in shop/worker as the default user")
    # Naming the container does not bypass the rule on its service; another is allowed by name
    # (container:NAME names a container named so, not a service's).
    denied(ct(client, engine.name_of("shop", "db"), "true"),
           "exec in shop/db as the default user")
    ok(ct(client, engine.name_of("shop", "worker"), "echo", "w"), "w")
    # Someone else, with a certificate from the same CA: no rule allows them.
    denied(ex(issue_client(rexec_bin, agent, "mallory"), "web", "true"),
           "exec in shop/web as the default user")
    last = records(log)[-1]
    assert (last["event"], last["who"], last["rule"]) == ("refused", "mallory",
                                                         "no rule allows"), last


def issue_client(rexec_bin, agent, name, *groups):
    """A client of AGENT (a dev agent) with a certificate CN=NAME, OU=GROUPS from its CA."""
    sd = agent.state_dir
    argv = [rexec_bin, "cert", "issue", "--ca", sd, "--client", name, "--out", sd / name]
    for g in groups:
        argv += ["--group", g]
    r = subprocess.run(argv, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    conf = sd / f"{name}.conf"
    conf.write_text(agent.config.read_text().replace("client.pem", f"{name}.pem")
                    .replace("client-key.pem", f"{name}-key.pem"))
    assert f"{name}.pem" in conf.read_text()
    return Client(rexec_bin, agent, config=conf)


def test_who_by_group(start_agent, rexec_bin, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("rules:\n  - allow: {who: [\"@ops\"], targets: [host]}\n")
    log = tmp_path / "audit.jsonl"
    agent = start_agent("--policy", path, "--audit-log", log)
    ok(issue_client(rexec_bin, agent, "carol", "dev", "ops").run("-T", "dev", "--host", "true"))
    denied(issue_client(rexec_bin, agent, "dave", "dev").run("-T", "dev", "--host", "true"),
           f"exec on host as {me()} (the default user)")
    rs = wait_records(log, 3)
    assert (rs[0]["who"], rs[0]["groups"], rs[0]["rule"]) == ("carol", ["dev", "ops"], 0), rs
    assert (rs[2]["event"], rs[2]["who"], rs[2]["groups"], rs[2]["rule"]) == \
        ("refused", "dave", ["dev"], "no rule allows"), rs


# --- commands and options -------------------------------------------------------------------------


def test_commands_and_options(policed, engine):
    # No rule names users: an exec's default user is not resolved, and said so.
    agent, client, log = policed(
        "rules:\n"
        "  - allow:\n"
        "      verbs: [exec, run]\n"
        "      targets: [shop/web]\n"
        "      commands: [\"echo *\"]\n"
        "      options: [env]\n")
    wait_for(lambda: ex(client, "web", "echo", "x").returncode == 0, 30, "the policy")
    ok(ex(client, "web", "echo", "hi", opts=("-e", "A=1")), "hi")
    denied(ex(client, "web", "id"), "exec in shop/web as the default user")
    denied(ex(client, "web"), "exec in shop/web as the default user")  # a login shell
    # -w changes what the command does: under a rule on commands it must be listed.
    denied(ex(client, "web", "echo", "hi", opts=("-w", "/tmp")),
           "exec in shop/web as the default user")
    ok(run(client, "web", "echo", "ran"), "ran")
    denied(run(client, "web", "echo", "ran", opts=("-v", "/tmp:/x")),
           "run in shop/web as root (the default user)")
    denied(run(client, "web", "echo", "x", opts=("--entrypoint", "sh")),
           "run in shop/web as root (the default user)")
    assert engine.containers(project="shop", service="web", oneoff=True) == []


def test_run_users_are_taken_literally(policed, engine):
    agent, client, log = policed(
        "rules:\n"
        "  - allow:\n"
        "      verbs: [run]\n"
        "      targets: [\"shop/*\"]\n"
        "      users: [app, \"65534\"]\n")
    wait_for(lambda: run(client, "web", "true", opts=("-u", "app")).returncode == 0, 30,
             "the policy")
    assert ok(run(client, "web", "id", "-u", opts=("-u", "app"))).strip() == "1000"
    ok(run(client, "web", "true", opts=("-u", "65534")))
    # Names literally, uids numerically: 1000 is app's uid, but the rule names app.
    denied(run(client, "web", "true", opts=("-u", "1000")), "run in shop/web as uid 1000")
    denied(run(client, "web", "true", opts=("-u", "0")), "run in shop/web as root")
    denied(run(client, "web", "true", opts=("-u", "root")), "run in shop/web as root")
    # The service has no user of its own: root, and not listed.
    denied(run(client, "web", "true"), "run in shop/web as root (the default user)")
    # Nothing was started for the denied ones: not even the services web depends on.
    assert engine.containers(project="shop", service="web", oneoff=True) == []


# --- attach and ps ---------------------------------------------------------------------------------


def test_attach_and_ps_filtered(policed, engine):
    agent, client, log = policed(
        "rules:\n"
        "  - allow: {verbs: [ps], targets: [\"shop/*\"]}\n"
        "  - allow: {verbs: [attach], targets: [shop/worker]}\n"
        "  - deny: {verbs: [ps], targets: [shop/db]}\n"
        "  - deny: {users: [root]}\n")   # does not apply to ps or attach

    def listed():
        r = client.run("ps", "dev")
        return r.stdout.decode() if r.returncode == 0 and "web" in r.stdout.decode() else None
    out = wait_for(listed, 30, "the policy")
    services = {l.split()[1] for l in out.splitlines()[1:] if l.strip()}
    projects = {l.split()[0] for l in out.splitlines()[1:] if l.strip()}
    assert {"web", "worker", "api", "console"} <= services, out
    assert "db" not in services and projects == {"shop"}, out
    denied(client.run("attach", "dev", "api"), "attach to shop/api")
    with ended(client.popen("attach", "dev", "worker", stdin=subprocess.DEVNULL)) as p:
        read_until(p.stdout, b"tick", 15)


# --- the bare-service lookup and fan-out never show what may not be ps'ed ------------------------


def test_fan_out_and_bare_service_lookup_are_filtered(rexec_bin, agent_bin, engine, tmp_path):
    policy = tmp_path / "fleet-policy.yaml"
    policy.write_text("rules:\n"
                      "  - allow: {who: [ops], verbs: [ps, exec], targets: [\"shop/*\"]}\n"
                      "  - deny: {verbs: [ps], targets: [shop/worker]}\n")
    fleet = Fleet(rexec_bin, agent_bin, tmp_path, 2,
                  agent_args=("--engine", engine.host, "--policy", policy))
    fleet.start()
    try:
        r = fleet.run("ps", "@fleet")
        assert r.returncode == 0, r.stderr
        rows = r.stdout.decode().splitlines()[1:]
        assert rows and all(l.split()[1] == "shop" for l in rows), rows
        assert not [l for l in rows if l.split()[2] == "worker"], rows
        # The bare service `worker` runs on both hosts, but is not this user's to see.
        r = fleet.run("worker", "true")
        assert r.returncode == 125, (r.returncode, r.stderr)
        assert b"no host runs a service of that name" in r.stderr, r.stderr
        # `db` is: found on both, so --any is needed (the lookup as before).
        r = fleet.run("db", "true")
        assert r.returncode == 2 and b"h000" in r.stderr and b"h001" in r.stderr, r.stderr
        # An exec on a named host needs only exec: worker is allowed for exec.
        r = fleet.run("h000", "worker", "echo", "named")
        assert (r.returncode, r.stdout) == (0, b"named\n"), r.stderr
    finally:
        fleet.stop()


# --- --check-policy and --explain ----------------------------------------------------------------


def test_check_policy_and_explain(agent_bin, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("rules:\n"
                    "  - allow:\n"
                    "      who: [alice, \"@ops\"]\n"
                    "      verbs: [exec]\n"
                    "      targets: [\"shop/*\"]\n"
                    "  - deny:\n"
                    "      users: [root]\n")
    r = subprocess.run([agent_bin, "--check-policy", good], capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (0, f"{good}: ok (2 rules)\n"), r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - allow:\n      who: [alice]\n      verbs: [exec, shell]\n")
    r = subprocess.run([agent_bin, "--check-policy", bad], capture_output=True, text=True)
    assert r.returncode == 1 and f"{bad}:4: verbs: unknown verb 'shell'" in r.stderr, r.stderr

    def explain(*args):
        return subprocess.run([agent_bin, "--explain", "--policy", good, *args],
                              capture_output=True, text=True)
    r = explain("--who", "alice", "exec", "shop/web", "--user", "app")
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "allow", r
    assert r.stdout.splitlines()[1].startswith(f"rule 0 ({good}:2): allow who"), r.stdout
    r = explain("--who", "bob", "--group", "ops", "exec", "shop/web", "--user", "0")
    assert (r.returncode, r.stdout.splitlines()[0]) == (1, "deny"), r
    assert r.stdout.splitlines()[1] == f'rule 1 ({good}:6): deny users ["root"]', r.stdout
    r = explain("--who", "bob", "exec", "shop/web", "--default-user", "app")
    assert r.returncode == 1 and r.stdout.splitlines()[1] == "no rule allows", r
    r = explain("--who", "alice", "exec", "blog/web", "--user", "app")
    assert r.returncode == 1, r
    r = subprocess.run([agent_bin, "--explain", "--policy", bad, "--who", "a", "exec", "host"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and f"{bad}:4:" in r.stderr, r.stderr


# --- SIGHUP reload ---------------------------------------------------------------------------------


def test_sighup_reloads_the_policy_and_keeps_a_broken_file_out(start_agent, rexec_bin, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("rules:\n  - allow: {targets: [host]}\n")
    agent = start_agent("--policy", path, "-v")
    client = Client(rexec_bin, agent)
    # A session that runs across the reloads: it keeps going.
    with ended(client.popen("-T", "dev", "--host", "--", "sh", "-c",
                            "echo started; read x; echo got $x")) as p:
        read_until(p.stdout, b"started", 15)
        path.write_text("rules: []\n")
        reload(agent, client,
               lambda c: c.run("-T", "dev", "--host", "true").returncode == 125)
        denied(client.run("-T", "dev", "--host", "true"),
               f"exec on host as {me()} (the default user)")
        # A broken file: logged with FILE:LINE, the policy in force stays.
        path.write_text("rules:\n  - allow:\n      targets: [host]\n      verb: [exec]\n")
        os.kill(agent.pid, signal.SIGHUP)
        wait_for(lambda: f"{path}:4: unknown key 'verb'" in agent.log(), 30, "the error logged")
        assert "the one loaded before stays in force" in agent.log()
        assert client.run("-T", "dev", "--host", "true").returncode == 125
        path.write_text("rules:\n  - allow: {targets: [host]}\n")
        reload(agent, client, lambda c: c.run("-T", "dev", "--host", "true").returncode == 0)
        p.stdin.write(b"still-here\n")
        p.stdin.flush()
        assert p.wait(timeout=15) == 0
        assert p.stdout.read() == b"got still-here\n"


# --- start-up ---------------------------------------------------------------------------------------


def test_non_dev_agent_without_policy_refuses_to_start(start_agent, agent_bin, tmp_path):
    dev = start_agent()  # only for its certificates
    sd = dev.state_dir
    tls = ["--listen", "127.0.0.1:0", "--cert", sd / "agent.pem", "--key", sd / "agent-key.pem",
           "--ca", sd / "ca.pem"]
    r = subprocess.run([agent_bin, *map(str, tls)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    for words in ("no policy", "--policy FILE", "--explain", "--allow-all"):
        assert words in r.stderr, r.stderr
    agent = start_agent(*tls, dev=False, state_dir=tmp_path)
    assert "--allow-all: no policy" in agent.log()


def test_dev_agent_writes_a_policy_for_its_own_client(dev_agent, agent_bin, rexec_bin):
    path = dev_agent.state_dir / "policy.yaml"
    r = subprocess.run([agent_bin, "--check-policy", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.dumps(client_cn(dev_agent)) in path.read_text()
    r = Client(rexec_bin, dev_agent).run("-T", "dev", "--host", "-u", "nobody", "id", "-un")
    assert (r.returncode, r.stdout) == (0, b"nobody\n"), r.stderr
