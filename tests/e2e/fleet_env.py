"""A fleet on loopback for the fan-out tests and the fleet benchmark: one CA made by the real
`rexec ca init`, one agent certificate for all (`rexec cert issue --agent fleet-agent`, named
by each host's `server_name` in the inventory) and one client certificate, N real `rexec-agent` processes on 127.0.0.10, 127.0.0.11, ...
(port 0 each), started in parallel, and a client inventory (YAML) with groups.

Extra inventory entries stand for broken hosts:
  down    an address where nothing listens (connection refused)
  silent  a socket that accepts and never says a word (the handshake times out)

Fleet.stop() ends the agents by their pids (SIGTERM, then SIGKILL), never by name.
"""
import os
import pathlib
import re
import selectors
import signal
import socket
import subprocess
import threading
import time

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
AGENT_NAME = "fleet-agent"
LISTEN_RE = re.compile(rb"^rexec-agent: listening on (127\.[0-9.]+):(\d+)$")


def host_name(i):
    return f"h{i:03d}"


def host_ip(i):
    """127.0.0.10 + I (up to 245 agents)."""
    assert 0 <= i < 245, i
    return f"127.0.0.{10 + i}"


def groups_of(i):
    """Groups of host I: all in `fleet`; `even`/`odd`; the first ten also in `prod`."""
    g = ["fleet", "even" if i % 2 == 0 else "odd"]
    if i < 10:
        g.append("prod")
    return g


def run_ok(argv, timeout=60):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{argv} failed ({r.returncode}): {r.stderr}")
    return r.stdout


class Silent:
    """A TCP listener that accepts connections and never writes: a hung host.

    A thread accepts, unless ACCEPTING is false: then the kernel completes each handshake and
    keeps the connection in the listener's queue (to its peer, the same silent host), and
    queued() takes them in the order they came, with no thread to wait for.

    close() wakes the accepting thread (shutdown) and joins it before the socket's number is
    freed: a thread that outlived its listener could call accept() on the next test's socket
    that took the same number, and take that test's connections."""

    def __init__(self, ip="127.0.0.9", accepting=True):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, 0))
        self.sock.listen(64)
        self.addr = f"{ip}:{self.sock.getsockname()[1]}"
        self.conns = []
        self.closed = False
        self.thread = None
        if accepting:
            self.thread = threading.Thread(target=self._accept, daemon=True)
            self.thread.start()

    def queued(self, timeout):
        """Without the thread: waits up to TIMEOUT seconds for a connection to be queued,
        then takes every queued one. Returns their peers' addresses, oldest first."""
        assert self.thread is None, "the thread takes them"
        peers = []
        with selectors.DefaultSelector() as sel:
            sel.register(self.sock, selectors.EVENT_READ)
            if not sel.select(timeout):
                return peers
        self.sock.setblocking(False)
        try:
            while True:
                c, peer = self.sock.accept()
                self.conns.append(c)
                peers.append(peer)
        except BlockingIOError:
            return peers
        finally:
            self.sock.setblocking(True)

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except ConnectionAbortedError:
                continue  # a peer that left before we took it
            except OSError:
                return  # closed
            self.conns.append(c)  # held open, never answered

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
        except OSError:
            pass
        if self.thread:
            self.thread.join(10)
            assert not self.thread.is_alive(), "the silent listener's thread did not stop"
        self.sock.close()
        for c in self.conns:
            c.close()


def refused_addr(ip="127.0.0.8"):
    """An address where nothing listens: a port bound for a moment, then released."""
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return f"{ip}:{port}"


class Fleet:
    def __init__(self, rexec_bin, agent_bin, workdir, n, extra_hosts=None, agent_args=()):
        self.rexec = rexec_bin
        self.agent_bin = agent_bin
        self.dir = pathlib.Path(workdir)
        self.n = n
        self.extra_hosts = dict(extra_hosts or {})
        self.agent_args = [str(a) for a in agent_args]
        self.procs = []
        self.addrs = []
        self.config = self.dir / "fleet.yaml"

    # --- set-up ---------------------------------------------------------------------------

    def make_pki(self):
        pki = self.dir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        run_ok([self.rexec, "ca", "init", str(pki / "ca"), "--name", "fleet CA"])
        # One certificate for every agent; the inventory names it with server_name.
        run_ok([self.rexec, "cert", "issue", "--ca", str(pki / "ca"), "--agent", AGENT_NAME,
                "--out", str(pki / "agent")])
        run_ok([self.rexec, "cert", "issue", "--ca", str(pki / "ca"), "--client", "ops",
                "--out", str(pki / "ops")])
        self.pki = pki

    def start(self):
        self.make_pki()
        logs = self.dir / "logs"
        logs.mkdir(exist_ok=True)
        for i in range(self.n):
            argv = [self.agent_bin, "--listen", f"{host_ip(i)}:0",
                    "--cert", str(self.pki / "agent.pem"),
                    "--key", str(self.pki / "agent-key.pem"),
                    "--ca", str(self.pki / "ca" / "ca.pem"), "--grace", "1s"] + self.agent_args
            if "--policy" not in self.agent_args:
                argv.append("--allow-all")
            with open(logs / f"{host_name(i)}.log", "wb") as err:
                self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                                   stdout=subprocess.PIPE, stderr=err))
        self.addrs = self._wait_listening()
        self.write_config()
        return self

    def _wait_listening(self):
        """Reads every agent's `listening on` line (all at once, with one bound)."""
        sel = selectors.DefaultSelector()
        bufs = {}
        for i, p in enumerate(self.procs):
            sel.register(p.stdout, selectors.EVENT_READ, i)
            bufs[i] = b""
        addrs = [None] * len(self.procs)
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            while any(a is None for a in addrs):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [host_name(i) for i, a in enumerate(addrs) if a is None]
                    raise RuntimeError(f"agents not listening after {READY_TIMEOUT:g}s: {missing}")
                for key, _ in sel.select(left):
                    i = key.data
                    chunk = os.read(key.fileobj.fileno(), 4096)
                    if not chunk:
                        raise RuntimeError(f"agent {host_name(i)} exited: "
                                           f"{(self.dir / 'logs' / (host_name(i) + '.log')).read_text()}")
                    bufs[i] += chunk
                    if b"\n" in bufs[i]:
                        line = bufs[i].split(b"\n", 1)[0]
                        m = LISTEN_RE.match(line)
                        if not m:
                            raise RuntimeError(f"agent {host_name(i)} said {line!r}")
                        addrs[i] = f"{m.group(1).decode()}:{m.group(2).decode()}"
                        sel.unregister(key.fileobj)
        finally:
            sel.close()
        for p in self.procs:  # keep draining so that no agent ever blocks on stdout
            threading.Thread(target=_drain, args=(p.stdout,), daemon=True).start()
        return addrs

    def write_config(self, path=None, extra=None, broken=True):
        """The client's config + inventory; EXTRA: more NAME: "{ ... }" entries; BROKEN: with
        the extra hosts given at construction (the broken ones)."""
        lines = [f"ca: {self.pki / 'ca' / 'ca.pem'}",
                 f"cert: {self.pki / 'ops.pem'}",
                 f"key: {self.pki / 'ops-key.pem'}",
                 "hosts:"]
        for i, addr in enumerate(self.addrs):
            lines.append(f"  {host_name(i)}: {{ address: \"{addr}\", server_name: {AGENT_NAME},"
                         f" groups: [{', '.join(groups_of(i))}] }}")
        for name, spec in {**(self.extra_hosts if broken else {}), **(extra or {})}.items():
            lines.append(f"  {name}: {spec}")
        lines.append("defaults: { connect_timeout: 5s }")
        path = pathlib.Path(path) if path else self.config
        path.write_text("\n".join(lines) + "\n")
        return path

    # --- running the client -----------------------------------------------------------------

    def env(self, config=None):
        env = dict(os.environ)
        env["REXEC_CONFIG"] = str(config or self.config)
        env.pop("NO_COLOR", None)
        return env

    def run(self, *args, timeout=120, config=None, input=b""):
        return subprocess.run([self.rexec] + [str(a) for a in args], input=input,
                              capture_output=True, timeout=timeout, env=self.env(config),
                              start_new_session=True)

    def popen(self, *args, config=None):
        return subprocess.Popen([self.rexec] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.env(config), start_new_session=True)

    # --- teardown -------------------------------------------------------------------------

    def dead(self):
        return [host_name(i) for i, p in enumerate(self.procs) if p.poll() is not None]

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=STOP_TIMEOUT)


def _drain(stream):
    try:
        while os.read(stream.fileno(), 65536):
            pass
    except OSError:
        pass
