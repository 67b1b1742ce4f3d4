"""The agent under systemd, with the test playing the service manager: the sd_notify(3)
datagrams on $NOTIFY_SOCKET (READY=1 once the port accepts, RELOADING=1 and READY=1 around a
SIGHUP, STOPPING=1 at SIGTERM), the journal's priority prefixes when $JOURNAL_STREAM names
stderr, the packaged unit passing `systemd-analyze verify`, and the exit status 78 of an agent
installed but not set up."""
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import AGENT_READY_TIMEOUT, AGENT_STOP_TIMEOUT, wait_for

TOP = pathlib.Path(__file__).resolve().parents[2]
UNIT = TOP / "packaging/systemd/rexec-agent.service"
EXAMPLE = TOP / "packaging/deb/agent.yaml"


class Manager:
    """The service manager's side of $NOTIFY_SOCKET: a bound datagram socket."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.env_value = address if isinstance(address, str) else "@" + address[1:].decode()

    def next(self, timeout=AGENT_READY_TIMEOUT):
        """The next datagram, as text (fails after TIMEOUT)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode()
        except socket.timeout:
            pytest.fail(f"no notification within {timeout:g}s")

    def nothing(self, wait=0.3):
        """No datagram arrives within WAIT seconds."""
        self.sock.settimeout(wait)
        try:
            got = self.sock.recv(4096)
        except socket.timeout:
            return True
        pytest.fail(f"unexpected notification {got!r}")


@pytest.fixture
def launch(agent_bin, tmp_path):
    """launch(*args, env={}) starts a dev agent with extra ARGS and ENV; stopped by pid."""
    started = []

    def start(*args, env=None):
        sd = tmp_path / f"agent{len(started)}"
        sd.mkdir()
        err = open(sd / "stderr", "wb")
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.Popen([agent_bin, "--dev", "--state-dir", str(sd), "--listen",
                              "127.0.0.1:0", *args], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=err, env=e)
        err.close()
        p.log = lambda: (sd / "stderr").read_text(errors="replace")
        p.state_dir = sd
        started.append(p)
        return p

    yield start
    for p in started:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=AGENT_STOP_TIMEOUT)


def port_of(p):
    line = p.stdout.readline().decode()
    m = re.match(r"rexec-agent: listening on 127\.0\.0\.1:(\d+)$", line.strip())
    assert m, (line, p.log())
    return int(m.group(1))


def accepts(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        return True


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_notify_ready_reload_stopping(launch, tmp_path, abstract):
    addr = f"\0rexec-test-{os.getpid()}-{time.monotonic_ns()}".encode() if abstract \
        else str(tmp_path / "notify")
    mgr = Manager(addr)
    p = launch(env={"NOTIFY_SOCKET": mgr.env_value})

    assert mgr.next() == "READY=1", p.log()
    # READY=1 means the port accepts now: no wait, no retry.
    assert accepts(port_of(p))
    mgr.nothing()

    before = time.monotonic_ns() // 1000
    os.kill(p.pid, signal.SIGHUP)
    reloading = mgr.next()
    fields = dict(line.split("=", 1) for line in reloading.split("\n"))
    assert fields.keys() == {"RELOADING", "MONOTONIC_USEC"} and fields["RELOADING"] == "1", reloading
    # CLOCK_MONOTONIC, the clock systemd compares it with, read after our SIGHUP.
    assert before <= int(fields["MONOTONIC_USEC"]) <= time.monotonic_ns() // 1000, reloading
    assert mgr.next() == "READY=1"

    os.kill(p.pid, signal.SIGTERM)
    assert mgr.next() == "STOPPING=1"
    assert p.wait(timeout=AGENT_STOP_TIMEOUT) == 0, p.log()


def test_no_notify_socket_inherited_by_sessions(launch, rexec_bin, tmp_path):
    mgr = Manager(str(tmp_path / "notify"))
    p = launch(env={"NOTIFY_SOCKET": mgr.env_value})
    assert mgr.next() == "READY=1"
    port_of(p)
    # A host session's environment: the agent's notify socket is not the session's.
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    env["REXEC_CONFIG"] = str(p.state_dir / "client.conf")
    r = subprocess.run([rexec_bin, "dev", "--host", "--", "sh", "-c",
                        "echo ${NOTIFY_SOCKET:-unset}"], capture_output=True, timeout=60, env=env)
    assert (r.returncode, r.stdout) == (0, b"unset\n"), r.stderr


def test_failed_notify_is_logged_not_fatal(launch, tmp_path):
    p = launch("-v", env={"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert accepts(port_of(p))
    wait_for(lambda: "cannot notify the service manager" in p.log(), 30, "the warning")
    assert "READY=1" in p.log() and "No such file" in p.log(), p.log()
    assert p.poll() is None


def test_journal_priorities_without_timestamps(launch, tmp_path):
    """With $JOURNAL_STREAM naming stderr: `<N>` first on every log line (errors 3, warnings 4,
    info 6) and no time of our own; with it naming another file, the plain format."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - allow: {who: ['*']}\n")
    err = tmp_path / "journal"
    err.touch()
    st = os.stat(err)
    stream = f"{st.st_dev}:{st.st_ino}"
    p = launch("-v", "--exec-path", "direct", "--policy", str(policy),
               env={"JOURNAL_STREAM": stream})
    # launch() wrote stderr to its own file: this agent's stream is not the journal.
    port_of(p)
    wait_for(lambda: "exec path direct" in p.log(), 30, "the warning")
    assert re.search(r"^\d\d:\d\d:\d\d\.\d{3} rexec-agent warn: ", p.log(), re.M), p.log()
    assert "<4>" not in p.log()
    os.kill(p.pid, signal.SIGTERM)
    p.wait(timeout=AGENT_STOP_TIMEOUT)

    # Now stderr is that file, as systemd would have connected it.
    sd = tmp_path / "journal-agent"
    sd.mkdir()
    with open(err, "ab") as f:
        q = subprocess.Popen([*launch_argv(sd), "-v", "--exec-path", "direct", "--policy",
                              str(policy)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=f, env={**os.environ, "JOURNAL_STREAM": stream})
    try:
        q.log = lambda: err.read_text(errors="replace")
        q.state_dir = sd
        port_of(q)
        wait_for(lambda: "<4>warn: " in q.log() and "<6>info: " in q.log(), 30, "<4> and <6>")
        policy.write_text("rules: [")  # a broken policy: the SIGHUP reload logs an error
        os.kill(q.pid, signal.SIGHUP)
        wait_for(lambda: "<3>error: " in q.log(), 30, "<3> for the failed reload")
    finally:
        os.kill(q.pid, signal.SIGTERM)
        q.wait(timeout=AGENT_STOP_TIMEOUT)
    lines = q.log().splitlines()
    assert lines and all(re.match(r"<[3467]>(error|warn|info|debug): \w+: ", l) for l in lines), lines
    assert any("exec path direct" in l and l.startswith("<4>") for l in lines), lines
    assert any("policy not reloaded" in l and l.startswith("<3>") for l in lines), lines


def launch_argv(sd):
    bin_dir = pathlib.Path(os.environ.get("REXEC_BIN_DIR", TOP / "zig-out/bin"))
    return [str(bin_dir / "rexec-agent"), "--dev", "--state-dir", str(sd), "--listen",
            "127.0.0.1:0"]


def test_unconfigured_agent_exits_78_saying_what_to_make(agent_bin, tmp_path):
    """The packaged /etc/rexec/agent.yaml, copied into an empty directory: no certificates and
    no policy yet. Exit status 78 (the unit's RestartPreventExitStatus=) and one line that
    names every missing file and the commands that make them."""
    conf = tmp_path / "agent.yaml"
    shutil.copy(EXAMPLE, conf)
    r = subprocess.run([agent_bin, "--config", str(conf)], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 78, r
    assert r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    for name in ("agent.pem", "agent-key.pem", "ca.pem", "policy.yaml"):
        assert str(tmp_path / name) in r.stderr, r.stderr
    for words in ("not configured yet", "rexec ca init", "rexec cert issue --ca CADIR --agent",
                  f"--out {tmp_path / 'agent'}", "--check-policy"):
        assert words in r.stderr, r.stderr

    # Certificates made and the policy written: only what is still missing is named.
    (tmp_path / "ca.pem").write_text("")
    (tmp_path / "agent.pem").write_text("")
    (tmp_path / "agent-key.pem").write_text("")
    r = subprocess.run([agent_bin, "--config", str(conf)], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 78, r
    assert "policy.yaml" in r.stderr and "cert issue" not in r.stderr, r.stderr
    # Once everything exists the usual checks speak: here the empty PEM files.
    (tmp_path / "policy.yaml").write_text("rules:\n  - allow: {who: ['*']}\n")
    r = subprocess.run([agent_bin, "--config", str(conf)], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode not in (0, 78) and "TLS" in r.stderr, r


def test_example_policy_in_the_example_config_is_valid(agent_bin, tmp_path):
    """The policy commented in the packaged agent.yaml passes --check-policy."""
    text = EXAMPLE.read_text()
    block = re.search(r"^#   rules:\n(?:#   .*\n|#\n)+", text, re.M)
    assert block, "no commented policy in agent.yaml"
    policy = tmp_path / "policy.yaml"
    policy.write_text("".join(l[4:] + "\n" for l in block.group(0).splitlines()))
    r = subprocess.run([agent_bin, "--check-policy", str(policy)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, (r, policy.read_text())


def verify_root(tmp_path, agent_bin, unit_text):
    """A root for `systemd-analyze verify --root`: the unit, the binary it starts, /bin/kill
    of ExecReload=, and the system's targets it is ordered against."""
    root = tmp_path / "root"
    units = root / "usr/lib/systemd/system"
    units.mkdir(parents=True)
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    shutil.copy(agent_bin, root / "usr/sbin/rexec-agent")
    shutil.copy("/usr/bin/kill", root / "usr/bin/kill")
    for f in pathlib.Path("/usr/lib/systemd/system").iterdir():
        if f.suffix in (".target", ".slice"):
            shutil.copy(f.resolve(), units / f.name)
    (units / "rexec-agent.service").write_text(unit_text)
    return root


def analyze_verify(root):
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", "--man=no",
                           "rexec-agent.service"], capture_output=True, text=True, timeout=60)


def test_unit_passes_systemd_analyze_verify(agent_bin, tmp_path):
    """systemd's own check, silent (it exits 0 even on some warnings, so silence is the test);
    and a broken copy of the unit to show that the check would see it."""
    text = UNIT.read_text()
    r = analyze_verify(verify_root(tmp_path / "good", agent_bin, text))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r
    bad = text.replace("Type=notify", "Type=notfiy")
    r = analyze_verify(verify_root(tmp_path / "bad", agent_bin, bad))
    assert "Failed to parse service type" in r.stderr, r


def test_unit_settings(agent_bin):
    """What the unit promises (readiness, reload, no restart loop, sessions spared)."""
    settings = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            settings[k] = v
    assert settings["Type"] == "notify"
    assert settings["ExecStart"] == "/usr/sbin/rexec-agent --config /etc/rexec/agent.yaml"
    assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert settings["KillMode"] == "process"
    assert settings["Restart"] == "on-failure"
    assert "78" in settings["RestartPreventExitStatus"].split()
    for option in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp",
                   "PrivateDevices", "RestrictNamespaces", "SystemCallFilter"):
        assert option not in settings, f"{option} would break host sessions or the direct path"
