"""Shared fixtures for the end-to-end suite: the real binaries, a dev agent, a client runner.

Fixtures
  rexec_bin, agent_bin   paths to zig-out/bin/{rexec,rexec-agent} (or $REXEC_BIN_DIR)
  sanitizer_logs         (autouse) binaries built with -Dsanitize: every process the tests start
                         writes its ASan/LSan/UBSan reports into one directory, and a test
                         after which a report appeared fails with it (agents included)
  dev_agent              a fresh `rexec-agent --dev` on 127.0.0.1:0 with --grace 1s, per test:
                         .port .addr .state_dir .config .pid .proc .grace, .log(), .alive(),
                         .vm_hwm_kib(), .kill(sig) for a test that ends it on purpose
  start_agent            factory: start_agent(*extra_args, dev=True, state_dir=None) -> Agent,
                         each stopped (by its pid) at teardown
  client                 Client bound to dev_agent: .run(*args), .popen(*args), .argv(*args),
                         .env (REXEC_CONFIG set), .bin, .agent
  stop_masters           stop_masters(client): its control masters are killed at teardown
  marker                 a unique decimal number string (e.g. "1000.4821937") to tag a remote
                         `sleep` so the test can find it in /proc; leftovers are killed at teardown
Helpers (plain functions, imported by the tests: `from conftest import ...`)
  wait_for(pred, timeout, what)   poll a condition with a bound
  pids_with_arg(arg)              pids on this host whose argv contains ARG exactly
  masters(client)                 pids of the control masters of CLIENT's config
  wait_present(arg) / wait_gone(arg, timeout)   poll until a process carries ARG / none does
  read_until(pipe, needle, timeout)             read a pipe until NEEDLE shows up
  ended(popen)                    `with ended(client.popen(...)) as p:` the process is killed
                                  on the way out if it still runs (a failed wait, a timeout)
  vm_status_kib(pid, field)       a VmXXX figure from /proc/PID/status
  SANITIZERS                      "address,undefined" for a -Dsanitize build, else ""
  send_until_seen / shell_ready / finish / wait_remote_size   driving a client on a PTY
"""
import contextlib
import dataclasses
import errno
import os
import pathlib
import random
import re
import selectors
import signal
import subprocess
import threading
import time

import pytest

BIN_DIR = pathlib.Path(os.environ.get("REXEC_BIN_DIR", "zig-out/bin")).resolve()

# Bounds. None of these are speed assertions: each only keeps a broken build from hanging.
AGENT_READY_TIMEOUT = 30.0
AGENT_STOP_TIMEOUT = 15.0
CLIENT_TIMEOUT = 60.0
LISTEN_RE = re.compile(rb"^rexec-agent: listening on (127\.0\.0\.1):(\d+)\r?\n$")


def _sanitizers():
    """What `rexec --version` says the binaries were built with (-Dsanitize=...), or ''."""
    try:
        out = subprocess.run([str(BIN_DIR / "rexec"), "--version"], capture_output=True,
                             text=True, timeout=30).stdout
    except OSError:
        return ""
    m = re.search(r"-fsanitize=([\w,]+)", out)
    return m.group(1) if m else ""


SANITIZERS = _sanitizers()


def _take_reports(logs):
    """The sanitizer reports in LOGS not taken yet (moved aside once taken), as one text."""
    names = sorted(n for n in os.listdir(logs) if (logs / n).is_file())
    text = []
    for n in names:
        text.append(f"--- {n}\n" + (logs / n).read_text(errors="replace")[:20000])
        (logs / n).rename(logs / "taken" / n)
    return "\n".join(text)


@pytest.fixture(scope="session", autouse=True)
def sanitizer_log_dir(tmp_path_factory):
    """A sanitized build: ASan (with LSan) and UBSan options for every process the tests start,
    reports into files of one directory rather than stderrs that nobody reads (the agent's).
    Options already in the environment come last and win. Reports that no test took (of a
    module's agent or engine, stopped after its last test) fail the run at its end."""
    if not SANITIZERS:
        yield None
        return
    logs = tmp_path_factory.mktemp("sanitizer")
    (logs / "taken").mkdir()
    old = {k: os.environ.get(k) for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS")}
    os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [
        f"detect_leaks=1:abort_on_error=1:log_path={logs}/report", old["ASAN_OPTIONS"]]))
    os.environ["UBSAN_OPTIONS"] = ":".join(filter(None, [
        f"print_stacktrace=1:halt_on_error=1:log_path={logs}/report", old["UBSAN_OPTIONS"]]))
    yield logs
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    left = _take_reports(logs)
    if left:
        pytest.fail(f"sanitizer report(s) after the last test:\n{left}")


@pytest.fixture(autouse=True)
def sanitizer_logs(sanitizer_log_dir):
    """Fails the test after which a sanitizer report appeared (set up first, so checked after
    every agent of the test has stopped)."""
    yield
    if sanitizer_log_dir is not None:
        text = _take_reports(sanitizer_log_dir)
        if text:
            pytest.fail(f"sanitizer report(s):\n{text}")


@pytest.fixture(scope="session")
def rexec_bin():
    path = BIN_DIR / "rexec"
    assert path.is_file(), f"{path} missing: run packaging/zig build first"
    return str(path)


@pytest.fixture(scope="session")
def agent_bin():
    path = BIN_DIR / "rexec-agent"
    assert path.is_file(), f"{path} missing: run packaging/zig build first"
    return str(path)


# ---------------------------------------------------------------------------------------------
# Polling helpers


def wait_for(pred, timeout, what, interval=0.02):
    """Poll PRED until it returns a truthy value (returned) or TIMEOUT seconds pass (fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rindex(b")") + 2:][:1] == b"Z"


def pids_with_arg(arg, prefix=False, rexec_too=False):
    """Live (non-zombie) pids on this host whose argv holds ARG as one exact word (PREFIX: a
    word that starts with ARG), rexec clients left out (REXEC_TOO: in)."""
    want = arg.encode() if isinstance(arg, str) else arg
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        words = _cmdline(name)
        # The client's own argv carries the marker too; a marker finds the remote process.
        if words and os.path.basename(words[0]) == b"rexec" and not rexec_too:
            continue
        hit = any(w.startswith(want) for w in words) if prefix else want in words
        if hit and not _is_zombie(name):
            found.append(int(name))
    return found


def masters(client):
    """Pids of the control masters started for CLIENT's config (`rexec --control-master
    CONFIG HOST FD`; a run names its config through $REXEC_CONFIG, not in its argv)."""
    return pids_with_arg(str(client.config), rexec_too=True)


@pytest.fixture
def stop_masters():
    """Stops (by pid) any control master a test leaves behind, for the clients it registers
    (`stop_masters(client)`), whatever happened in the test."""
    clients = []
    yield clients.append
    for c in clients:
        for pid in masters(c):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_present(arg, timeout=20.0):
    """Poll until a process carrying ARG exists; return its pids."""
    return wait_for(lambda: pids_with_arg(arg), timeout, f"a process with argument {arg!r}")


def wait_gone(arg, timeout):
    """Poll until no process carries ARG (fails with the survivors' pids after TIMEOUT)."""
    deadline = time.monotonic() + timeout
    while True:
        left = pids_with_arg(arg)
        if not left:
            return
        if time.monotonic() >= deadline:
            pytest.fail(f"process(es) {left} with argument {arg!r} still alive after {timeout:g}s")
        time.sleep(0.05)


def send_until_seen(child, text, expected, timeout=30.0, attempt=3.0):
    """Type TEXT into a pexpect CHILD until EXPECTED shows up, like a person who presses Enter
    again when nothing happens: keys typed before the session is up may be dropped."""
    import pexpect
    deadline = time.monotonic() + timeout
    while True:
        child.send(text)
        try:
            child.expect_exact(expected, timeout=attempt)
            return
        except pexpect.TIMEOUT:
            if time.monotonic() >= deadline:
                pytest.fail(f"no {expected!r} after typing {text!r} for {timeout:g}s;"
                            f" screen: {child.before[-300:]!r}")


def shell_ready(child, tag="ready"):
    """Sync with an interactive remote shell: its output of a computed word proves it reads us
    (the echoed input shows `$((40+2))`, only the shell's output shows 42)."""
    send_until_seen(child, f"echo {tag}-$((40+2))\r", f"{tag}-42")


def finish(child):
    """Wait for a pexpect CHILD to end; its exit code (128+N when killed by signal N)."""
    import pexpect
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus if child.signalstatus is None else 128 + child.signalstatus


def close_child(child):
    """Ends a pexpect CHILD, alive or not. close(force=True) gives each signal 0.1 s, which a
    loaded machine can miss (it then raises with the child still there): SIGKILL, reaped by
    pexpect's own wait(), so that its isalive() and exit status stay true afterwards."""
    import pexpect
    try:
        child.close(force=True)
    except pexpect.ExceptionPexpect:
        child.kill(signal.SIGKILL)
        child.wait()


def wait_remote_size(child, rows, cols, what):
    """Ask the remote shell `stty size` until it reports ROWS COLS (a resize travels
    asynchronously)."""
    def remote_size():
        child.send("stty size\r")
        child.expect(r"(\d+) (\d+)\r\n")
        return (int(child.match.group(1)), int(child.match.group(2))) == (rows, cols)

    wait_for(remote_size, 20, f"`stty size` in {what} to show {rows} {cols}", interval=0.2)


@contextlib.contextmanager
def tmpfs(path, options):
    """A tmpfs of OPTIONS ("size=12k") mounted on the new directory PATH, unmounted at the end:
    a disk a test can fill."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)]).returncode != 0:
            subprocess.run(["umount", "-l", str(path)])


def fill(path):
    """Write PATH until the file system is full."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 1024)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e


def vm_status_kib(pid, field):
    """A `VmXXX:` figure in KiB from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


# ---------------------------------------------------------------------------------------------
# The agent


@dataclasses.dataclass
class Agent:
    proc: subprocess.Popen
    state_dir: pathlib.Path
    stderr_path: pathlib.Path
    port: int = 0
    grace: str = ""
    expected_exit: bool = False  # a test ended the agent on purpose (kill())

    @property
    def pid(self):
        return self.proc.pid

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    @property
    def config(self):
        return self.state_dir / "client.conf"

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def vm_hwm_kib(self):
        return vm_status_kib(self.pid, "VmHWM")

    def kill(self, sig=signal.SIGKILL):
        """End the agent on purpose (the fixture then does not report its death)."""
        self.expected_exit = True
        if self.alive():
            os.kill(self.pid, sig)
            self.proc.wait(timeout=AGENT_STOP_TIMEOUT)

    def assert_alive(self):
        assert self.alive(), (f"agent pid {self.pid} died (status {self.proc.returncode});"
                              f" its log:\n{self.log()}")


def _read_listen_line(agent, timeout):
    """Read the agent's stdout until its one `listening on` line, with a bound."""
    sel = selectors.DefaultSelector()
    sel.register(agent.proc.stdout, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"agent printed no listening line within {timeout:g}s;"
                            f" stdout so far {buf!r}; log:\n{agent.log()}")
            if not sel.select(left):
                continue
            chunk = os.read(agent.proc.stdout.fileno(), 4096)
            if not chunk:
                agent.proc.wait(timeout=AGENT_STOP_TIMEOUT)
                pytest.fail(f"agent exited ({agent.proc.returncode}) before listening;"
                            f" stdout {buf!r}; log:\n{agent.log()}")
            buf += chunk
    finally:
        sel.close()
    line, _, rest = buf.partition(b"\n")
    m = LISTEN_RE.match(line + b"\n")
    assert m, f"unexpected first stdout line from the agent: {line!r}"
    assert int(m.group(2)) > 0, line
    return int(m.group(2)), rest


def _drain(stream, sink):
    """Keep reading the agent's stdout after the ready line so it can never block on it."""
    try:
        while True:
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                return
            sink.append(chunk)
    except OSError:
        return


def _stop(agent):
    """Teardown: SIGTERM the agent by pid, SIGKILL if it does not go. Returns an error or None."""
    if agent.expected_exit:
        return None
    died = agent.proc.poll()
    if died is not None:
        return f"agent pid {agent.pid} died during the test (status {died}); log:\n{agent.log()}"
    os.kill(agent.pid, signal.SIGTERM)
    try:
        agent.proc.wait(timeout=AGENT_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(agent.pid, signal.SIGKILL)
        agent.proc.wait(timeout=AGENT_STOP_TIMEOUT)
        return f"agent pid {agent.pid} ignored SIGTERM for {AGENT_STOP_TIMEOUT:g}s; log:\n{agent.log()}"
    return None


@pytest.fixture(scope="session", autouse=True)
def ticket_cache(tmp_path_factory):
    """Clients keep TLS session tickets under $XDG_CACHE_HOME/rexec/tickets: a directory of the
    test run's own, not the home directory of whoever runs the tests. Every client started by
    the tests inherits it (a test that looks at tickets sets its own)."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    old = os.environ.get("XDG_CACHE_HOME")
    # Zig finds its global cache (each target's musl and compiler_rt: minutes to rebuild) by
    # $XDG_CACHE_HOME too: the `zig build` of test_packages keeps the one it would have used.
    old_zig = os.environ.get("ZIG_GLOBAL_CACHE_DIR")
    if not old_zig:
        home_cache = pathlib.Path(old or pathlib.Path.home() / ".cache")
        os.environ["ZIG_GLOBAL_CACHE_DIR"] = str(home_cache / "zig")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    yield cache
    for var, value in (("XDG_CACHE_HOME", old), ("ZIG_GLOBAL_CACHE_DIR", old_zig)):
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value


@pytest.fixture
def start_agent(agent_bin, tmp_path_factory):
    """Factory for agents. dev=True: `--dev --state-dir DIR --listen 127.0.0.1:0 --grace 1s`
    plus EXTRA; dev=False: EXTRA (the non-dev form), plus --allow-all unless EXTRA gives a
    --policy or allow_all=False. Waits for the listening line
    (wait_ready=False: the caller waits, e.g. for a refusal). Stopped by pid at teardown; a test
    fails if an agent died that it did not end itself."""
    started = []

    def start(*extra, dev=True, state_dir=None, grace="1s", wait_ready=True, allow_all=True):
        sd = pathlib.Path(state_dir) if state_dir else tmp_path_factory.mktemp("agent")
        argv = [agent_bin]
        if dev:
            argv += ["--dev", "--state-dir", str(sd), "--listen", "127.0.0.1:0"]
            if grace:
                argv += ["--grace", grace]
        argv += [str(a) for a in extra]
        if not dev and allow_all and "--policy" not in argv and "--allow-all" not in argv:
            argv.append("--allow-all")
        err_path = sd / "agent.stderr"
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err, cwd=sd)
        agent = Agent(proc=proc, state_dir=sd, stderr_path=err_path, grace=grace if dev else "")
        started.append(agent)
        if wait_ready:
            agent.port, rest = _read_listen_line(agent, AGENT_READY_TIMEOUT)
            extra_out = [rest] if rest else []
            threading.Thread(target=_drain, args=(proc.stdout, extra_out), daemon=True).start()
            if dev:
                for name in ("ca.pem", "agent.pem", "agent-key.pem", "client.pem",
                             "client-key.pem", "client.conf"):
                    assert (sd / name).is_file(), f"--dev did not create {sd / name}"
        return agent

    yield start

    errors = [e for e in (_stop(a) for a in started) if e]
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def dev_agent(start_agent):
    """A fresh dev agent (127.0.0.1:0, --grace 1s) for one test."""
    return start_agent()


# ---------------------------------------------------------------------------------------------
# The client


class Client:
    """Runs the real `rexec` against an agent with REXEC_CONFIG pointing at its client.conf."""

    def __init__(self, bin, agent, config=None):
        self.bin = bin
        self.agent = agent
        self.config = pathlib.Path(config) if config else agent.config
        self.env = dict(os.environ)
        self.env["REXEC_CONFIG"] = str(self.config)
        self.env.pop("REXEC_BIN_DIR", None)

    def argv(self, *args):
        return [self.bin] + [str(a) for a in args]

    def run(self, *args, input=b"", stdin=None, timeout=CLIENT_TIMEOUT, env=None):
        """Run `rexec ARGS...` to completion with pipes; bytes in, bytes out.
        INPUT goes to stdin (empty: immediate EOF) unless STDIN (a file) is given."""
        kw = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                  env=self._env(env), start_new_session=True)
        if stdin is not None:
            kw["stdin"] = stdin
        else:
            kw["input"] = input
        return subprocess.run(self.argv(*args), **kw)

    def popen(self, *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE, env=None, **kw):
        """Start `rexec ARGS...` in its own session (signals sent to it reach only it)."""
        return subprocess.Popen(self.argv(*args), stdin=stdin, stdout=stdout, stderr=stderr,
                                env=self._env(env), start_new_session=True, **kw)

    def _env(self, extra):
        env = dict(self.env)
        if extra:
            env.update(extra)
        return env


@pytest.fixture
def client(rexec_bin, dev_agent):
    return Client(rexec_bin, dev_agent)


@pytest.fixture
def marker():
    """A unique `sleep` argument (e.g. "1000.4821937"): tag a remote process, find it in /proc.
    Whatever still carries it (or MARKER + more digits) at teardown, a test having failed, is
    killed by pid."""
    value = f"1000.{random.randrange(10**8, 10**9)}"
    yield value
    for pid in pids_with_arg(value, prefix=True):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextlib.contextmanager
def ended(p):
    """Yields the Popen P; whatever happens in the block, P does not outlive it (killed and
    reaped if it still runs), so that a failing test leaves no client behind."""
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


def read_until(stream, needle, timeout):
    """Read a pipe (raw fd reads) until NEEDLE is seen; returns everything read so far."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while needle not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out after {timeout:g}s waiting for {needle!r}; got {buf!r}")
            if not sel.select(left):
                continue
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                pytest.fail(f"EOF while waiting for {needle!r}; got {buf!r}")
            buf += chunk
    finally:
        sel.close()
    return buf


# ---------------------------------------------------------------------------------------------
# Containers (issue #4): one real Docker Engine per pytest run, agents that talk to it
#
#   docker_engine   session: DockerEnv (tests/e2e/docker_env.py) with dockerd started in a temp
#                   dir, the busybox image imported, compose projects shop and blog up; dockerd
#                   stopped by its pid at the end. Fails (never skips) with the dockerd log tail.
#   podman_engine   session: the same with podman's API service (tests/e2e/podman_env.py),
#                   started only when a test runs against podman
#   engine_kind     module: "docker", or each of ENGINES for a test marked `both_engines`
#                   (pytest ids [docker], [podman])
#   engine_env      module: docker_engine or podman_engine, as engine_kind says
#   engine          per test: engine_env, stacks checked/restarted before the test;
#                   containers the test created (run, docker run, ...) removed after it
#   engine_agent    `rexec-agent --dev ... --engine unix://D/sock` (start_agent with --engine)
#   engine_client   Client bound to engine_agent (host `dev`)


def _start_engine(module, what):
    """MODULE's start_env() (docker_env, podman_env), or the test fails with why."""
    try:
        return module.start_env()
    except module.DockerEnvError as e:
        pytest.fail(f"the test {what} could not be set up: {e}", pytrace=False)


@pytest.fixture(scope="session")
def docker_engine():
    import docker_env
    env = _start_engine(docker_env, "Docker Engine")
    yield env
    env.cleanup()


@pytest.fixture(scope="session")
def podman_engine():
    import podman_env
    env = _start_engine(podman_env, "podman API service")
    yield env
    env.cleanup()


# Tests (or modules, by `pytestmark = both_engines`) that run against both engines: ids
# [docker] and [podman]. Module scope: a module's module fixtures (its containers) are made
# once per engine, and pytest runs a module's docker tests, then its podman ones.
ENGINES = ("docker", "podman")
both_engines = pytest.mark.parametrize("engine_kind", ENGINES, indirect=True)


@pytest.fixture(scope="module")
def engine_kind(request):
    """"docker", or the engine of a test marked both_engines."""
    return getattr(request, "param", "docker")


@pytest.fixture(scope="module")
def engine_env(request, engine_kind):
    """The session's engine of ENGINE_KIND (docker_engine or podman_engine)."""
    return request.getfixturevalue(f"{engine_kind}_engine")


@pytest.fixture
def engine(engine_env):
    engine_env.ensure_up()
    before = set(engine_env.ids())
    yield engine_env
    made = [i for i in engine_env.ids() if i not in before]
    engine_env.remove(*made)


@pytest.fixture
def engine_agent(start_agent, engine):
    return start_agent("--engine", engine.host)


@pytest.fixture
def engine_client(rexec_bin, engine_agent):
    return Client(rexec_bin, engine_agent)


@pytest.fixture
def engine_spawn(engine_client):
    """engine_spawn(*rexec_args, dims=(rows, cols), client=None) -> a pexpect child running the
    real client on a PTY (TERM=xterm) against engine_agent; closed at teardown."""
    import pexpect

    children = []

    def start(*args, dims=(24, 80), client=None, timeout=30):
        c = client or engine_client
        argv = c.argv(*args)
        child = pexpect.spawn(argv[0], argv[1:], env=dict(c.env, TERM="xterm"),
                              dimensions=dims, timeout=timeout)
        children.append(child)
        return child

    yield start
    for child in children:
        close_child(child)
