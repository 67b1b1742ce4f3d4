#!/usr/bin/python3
"""rexec into a container vs `docker exec` vs `ssh host docker exec`, on this machine, in one
run (a benchmark, not a test: it prints figures and asserts nothing about speed).

Median wall time of N runs each (interleaved in a shuffled order, after one warm-up each; a
new connection every run), all against the same container (replica 1 of compose service `web`,
project `shop`). Each timed run starts on a settled machine: the bench waits (up to 2 s) for a
50 ms window in which the CPUs were at least 90% idle, so that no case pays for the work the
one before it left running (sshd's and the engine's clean-up after an ssh or docker exec run
may still hold a CPU, of 2); --no-settle times back to back, as the bench used to:

  rexec dev web true                       client -> TLS -> agent -> direct exec, the     
                                           connection resuming the TLS session of the last
                                           one (a session ticket); also with a full handshake
                                           every time, and through the Engine API's exec
  docker exec shop_web_1 true              Debian's docker CLI straight on the engine socket
  ssh 127.0.0.1 docker exec shop_web_1 true  what people do today
  rexec dev --host true                    reference: the same client/agent, no engine at all
  Engine API exec, in process              reference: exec create + start (hijacked) + inspect
                                           from this Python process on the socket: the floor of
                                           any engine-path implementation

It starts its own processes and stops only those, by pid: a Docker Engine in a temp dir with
the busybox image and compose project `shop` (tests/e2e/docker_env.py, the same setup as the
end-to-end tests), a `rexec-agent --dev --engine unix://D/sock`, and an sshd from Debian's
openssh-server on a free loopback port with a generated host key, key-only auth for root (the
ssh user needs the engine socket, which only root may use here; the key lives in the run's
temp dir and nowhere else), no PAM.
Run as root:  /usr/bin/python3 tests/bench/container_bench.py [--runs 20] [--no-ssh]
              [--baseline-bin-dir DIR] (the direct path of other binaries, same run)
              [--no-rexec] (the engine, docker exec and ssh parts alone) [--agent-arg=-v]
"""
import argparse
import json
import os
import pathlib
import random
import socket
import statistics
import subprocess
import sys
import time

TOP = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / "tests/e2e"))
sys.path.insert(0, str(TOP / "tests/bench"))

import docker_env  # noqa: E402
import exec_bench  # noqa: E402
from exec_bench import run, stop  # noqa: E402

READY_TIMEOUT = 30.0
CONTAINER = "shop_web_1"
SETTLE_WINDOW = 0.05  # s
SETTLE_IDLE = 0.90    # share of the CPUs' time idle in one window
SETTLE_MAX = 2.0      # s


def cpu_times():
    """(idle, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[3] + v[4], sum(v)  # idle + iowait


def settle():
    """Wait for a SETTLE_WINDOW in which the CPUs were SETTLE_IDLE idle (at most SETTLE_MAX).
    Returns the seconds waited."""
    t0 = time.perf_counter()
    idle0, total0 = cpu_times()
    while time.perf_counter() - t0 < SETTLE_MAX:
        time.sleep(SETTLE_WINDOW)
        idle1, total1 = cpu_times()
        if total1 > total0 and (idle1 - idle0) / (total1 - total0) >= SETTLE_IDLE:
            break
        idle0, total0 = idle1, total1
    return time.perf_counter() - t0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class EngineApi:
    """A minimal Engine API client (one connection per request, like the CLI)."""

    def __init__(self, sock, version):
        self.sock = str(sock)
        self.version = version

    def _send(self, method, path, body=None, upgrade=False):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(60)
        s.connect(self.sock)
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} /v{self.version}{path} HTTP/1.1\r\nHost: docker\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n")
        if upgrade:
            head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
        s.sendall(head.encode() + b"\r\n" + data)
        return s

    def request(self, method, path, body=None):
        s = self._send(method, path, body)
        buf = b""
        with s:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                head, sep, rest = buf.partition(b"\r\n\r\n")
                if sep:
                    lower = head.lower()
                    if b"transfer-encoding: chunked" in lower:
                        if rest.endswith(b"0\r\n\r\n"):
                            break
                    else:
                        n = [int(l.split(b":")[1]) for l in lower.split(b"\r\n")
                             if l.startswith(b"content-length:")]
                        if not n or len(rest) >= n[0]:
                            break
        head, _, rest = buf.partition(b"\r\n\r\n")
        if b"transfer-encoding: chunked" in head.lower():
            body, rest2 = b"", rest
            while rest2:
                size, _, rest2 = rest2.partition(b"\r\n")
                size = int(size, 16)
                if size == 0:
                    break
                body, rest2 = body + rest2[:size], rest2[size + 2:]
            rest = body
        status = int(head.split(b" ")[1])
        return status, json.loads(rest) if rest.strip() else None

    def exec_true(self, container):
        """exec create + start (attached, no TTY) + read to EOF + inspect: exit code."""
        st, created = self.request("POST", f"/containers/{container}/exec",
                                   {"Cmd": ["true"], "AttachStdout": True, "AttachStderr": True})
        if st != 201:
            raise SystemExit(f"container_bench: exec create: {st} {created}")
        s = self._send("POST", f"/exec/{created['Id']}/start", {"Detach": False, "Tty": False},
                       upgrade=True)
        with s:
            while s.recv(65536):
                pass
        st, info = self.request("GET", f"/exec/{created['Id']}/json")
        if info["ExitCode"] != 0:
            raise SystemExit(f"container_bench: exec exit {info['ExitCode']}")


class Bench(exec_bench.Bench):
    """exec_bench's agent and sshd set-up, with the engine in front: the agent gets --engine
    and the ssh login is root (the engine socket is root's only)."""
    ssh_user = "root"
    name = "container_bench"

    def __init__(self, args):
        super().__init__(args)
        self.engine = None

    @property
    def agent_args(self):
        return ["--engine", self.engine.host] + self.args.agent_arg

    # --- setup -------------------------------------------------------------------------------

    def start_engine(self):
        log("container_bench: starting dockerd, importing the image, compose up shop")
        self.engine = docker_env.DockerEnv()
        self.engine.start()
        self.engine.build_image()
        self.engine.up("shop")
        if not self.engine.running(CONTAINER):
            raise SystemExit(f"container_bench: {CONTAINER} not running")
        self.api = EngineApi(self.engine.sock, self.engine.api_version)
        self.docker_env = dict(self.engine.env)
        log(f"container_bench: engine API {self.engine.api_version} on {self.engine.host}")

    # --- measurements ------------------------------------------------------------------------

    def time_cmd(self, argv, env=None):
        t0 = time.perf_counter()
        r = run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, timeout=120)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"container_bench: {argv} exited {r.returncode}: {r.stderr!r}"
                             f"{self.agent_state()}")
        return dt

    def agent_state(self):
        if self.agent is None:
            return ""
        status = "running" if self.agent.poll() is None else f"exited {self.agent.returncode}"
        try:
            tail = (self.tmp / "agent.log").read_text(errors="replace").splitlines()[-15:]
        except OSError:
            tail = []
        return f"\nagent (pid {self.agent.pid}) {status}; its log tail:\n" + "\n".join(tail)

    def time_fn(self, fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def cases(self):
        docker_exec = [docker_env.DOCKER, "exec", CONTAINER, "true"]
        c = {}
        if not self.args.no_rexec:
            c["rexec dev web true"] = lambda: self.time_cmd(
                [self.rexec, "dev", "web", "true"], self.rexec_env)
            c["rexec dev web true (full TLS handshake)"] = lambda: self.time_cmd(
                [self.rexec, "dev", "web", "true"], self.rexec_full_env)
            c["rexec dev web true (control master)"] = lambda: self.time_cmd(
                [self.rexec, "dev", "web", "true"], self.rexec_mux_env)
            c["rexec dev web true (engine path)"] = lambda: self.time_cmd(
                [self.rexec, "dev", "web", "true"], self.engine_path_env)
            if self.args.baseline_bin_dir:
                env, mux = self.baseline_envs
                c["baseline: rexec dev web true"] = lambda: self.time_cmd(
                    [self.baseline_rexec, "dev", "web", "true"], env)
                c["baseline: rexec dev web true (control master)"] = lambda: self.time_cmd(
                    [self.baseline_rexec, "dev", "web", "true"], mux)
        c["docker exec <c> true"] = lambda: self.time_cmd(docker_exec, self.docker_env)
        pid = self.engine.host_pid(CONTAINER)
        c["nsenter -a -t PID true"] = lambda: self.time_cmd(["nsenter", "-a", "-t", str(pid),
                                                             "true"])
        if not self.args.no_ssh:
            remote = f"DOCKER_HOST={self.engine.host} {' '.join(docker_exec)}"
            c["ssh 127.0.0.1 docker exec <c> true"] = lambda: self.time_cmd(self.ssh + [remote])
        if not self.args.no_rexec:
            c["rexec dev --host true (no engine)"] = lambda: self.time_cmd(
                [self.rexec, "dev", "--host", "true"], self.rexec_env)
        c["Engine API exec, in process (floor)"] = lambda: self.time_fn(
            lambda: self.api.exec_true(CONTAINER))
        return c

    def measure(self):
        cases = self.cases()
        for name, fn in cases.items():  # warm-up (page cache, image layers), and a check
            log(f"container_bench: warm-up: {name}")
            fn()
        times = {name: [] for name in cases}
        # A new order every round (seeded: the same in every run of the bench): a case that
        # always followed the in-process engine exec would pay for the engine's clean-up of
        # it, and always the same one.
        order = list(cases)
        shuffle = random.Random(5).shuffle
        waited = []
        for i in range(self.args.runs):
            shuffle(order)
            for name in order:
                if not self.args.no_settle:
                    waited.append(settle())
                times[name].append(cases[name]())
        if waited:
            log(f"container_bench: settling took {statistics.median(waited) * 1000:.0f} ms"
                f" (median), {max(waited) * 1000:.0f} ms at most")
        return times

    def main(self):
        build = "?"
        if not self.args.no_rexec:
            v = run([self.rexec, "--version"], capture_output=True, text=True, timeout=30)
            build = next((l for l in v.stdout.splitlines() if l.startswith("build:")),
                         v.stdout.strip().splitlines()[0] if v.stdout.strip() else "?")
        self.start_engine()
        if not self.args.no_rexec:
            # One agent held to the direct path (auto takes the engine's for now) and one
            # held to the engine path.
            self.start_agent("agent-engine", ["--exec-path", "engine"])
            self.engine_path_agent, self.engine_path_env = self.agent, self.rexec_env
            if self.args.baseline_bin_dir:
                # The same cases through other binaries (main as it was), in the same run.
                base = pathlib.Path(self.args.baseline_bin_dir).resolve()
                own, self.agent_bin = self.agent_bin, str(base / "rexec-agent")
                self.start_agent("agent-baseline", ["--exec-path", "direct"])
                self.agent_bin = own
                self.baseline_agent = self.agent
                self.baseline_rexec = str(base / "rexec")
                self.baseline_envs = (self.rexec_env, self.rexec_mux_env)
            self.start_agent(extra=["--exec-path", "direct"])
        if not self.args.no_ssh:
            self.start_sshd()
        ssh_version = run(["ssh", "-V"], capture_output=True, text=True, timeout=30).stderr.strip()
        dv = self.engine.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
        print(f"machine: {os.cpu_count()} cores, {os.uname().release}; rexec {build};"
              f" docker engine {dv} (API {self.engine.api_version}); {ssh_version}")
        log(f"container_bench: {self.args.runs} runs of each case, interleaved")
        times = self.measure()
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"\ncold `true` in container {CONTAINER}, median of {self.args.runs}"
              " (new connection / new process each run; "
              + ("back to back" if self.args.no_settle else "each on a settled machine") + "):")
        width = max(len(k) for k in med)
        for name, dt in med.items():
            v = times[name]
            print(f"  {name:<{width}}  {dt * 1000:8.1f} ms   (min {min(v) * 1000:.1f},"
                  f" max {max(v) * 1000:.1f})")
        rx = med.get("rexec dev web true")
        if rx:
            print()
            for other in ("docker exec <c> true", "ssh 127.0.0.1 docker exec <c> true",
                          "Engine API exec, in process (floor)"):
                if other in med:
                    print(f"  ratio rexec / {other:<36} {rx / med[other]:6.2f}")
            host = med.get("rexec dev --host true (no engine)")
            floor = med["Engine API exec, in process (floor)"]
            eng = med.get("rexec dev web true (engine path)", rx)
            if host:
                print(f"\n  where the time goes (medians): the engine's own exec work (create,"
                      f" start, runc exec, inspect) {floor * 1000:.1f} ms; the engine path adds"
                      f" {(eng - floor) * 1000:.1f} ms above it, of which a whole host-path"
                      f" session (client start, TLS, agent spawn) is {host * 1000:.1f} ms;"
                      f" the direct path skips the engine's exec: {rx * 1000:.1f} ms,"
                      f" {(rx - host) * 1000:.1f} ms over a host session")
        eng = med.get("rexec dev web true (engine path)")
        ns = med.get("nsenter -a -t PID true")
        if rx and eng and ns:
            print(f"  direct path vs engine path: {rx * 1000:.1f} vs {eng * 1000:.1f} ms"
                  f" ({eng / rx:.1f}x); direct minus nsenter -a: {(rx - ns) * 1000:.1f} ms")
        cm = med.get("rexec dev web true (control master)")
        if cm and ns:
            print(f"  direct path through a control master: {cm * 1000:.1f} ms, minus nsenter"
                  f" -a: {(cm - ns) * 1000:.1f} ms")
        for case in ("rexec dev web true", "rexec dev web true (control master)"):
            b = med.get("baseline: " + case)
            if b and med.get(case):
                print(f"  {case}: {med[case] * 1000:.1f} ms vs the baseline's"
                      f" {b * 1000:.1f} ms ({med[case] / b:.2f}x)")
        mib = self.args.stream_size / (1 << 20)
        log(f"container_bench: {mib:.0f} MiB of stdout, {self.args.stream_runs} runs each")
        smed = self.streams()
        print(f"\n`head -c {self.args.stream_size} /dev/zero` in {CONTAINER}, median of"
              f" {self.args.stream_runs}:")
        for name, dt in smed.items():
            print(f"  {name:<32} {dt:8.2f} s  {mib / dt:9.0f} MiB/s")
        d = smed.get("rexec -T dev web (direct)")
        if d:
            for other in smed:
                if other != "rexec -T dev web (direct)":
                    print(f"  speed direct / {other:<32} {smed[other] / d:6.2f}x")

    def streams(self):
        """SIZE bytes of stdout through each path, median of --stream-runs (seconds)."""
        size = self.args.stream_size
        cmd = ["sh", "-c", f"head -c {size} /dev/zero"]
        docker_exec = [docker_env.DOCKER, "exec", CONTAINER] + cmd
        cases = {}
        if not self.args.no_rexec:
            cases["rexec -T dev web (direct)"] = ([self.rexec, "-T", "dev", "web", "--"] + cmd,
                                                  self.rexec_env)
            cases["rexec -T dev web (engine path)"] = (
                [self.rexec, "-T", "dev", "web", "--"] + cmd, self.engine_path_env)
        cases["docker exec <c>"] = (docker_exec, self.docker_env)
        if not self.args.no_ssh:
            remote = f"DOCKER_HOST={self.engine.host} {docker_exec[0]} exec {CONTAINER}" \
                     f" sh -c 'head -c {size} /dev/zero'"
            cases["ssh 127.0.0.1 docker exec <c>"] = (self.ssh + [remote], None)
        times = {k: [] for k in cases}
        for _ in range(self.args.stream_runs):
            for name, (argv, env) in cases.items():
                t0 = time.perf_counter()
                with subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE) as p:
                    got = 0
                    while True:
                        chunk = p.stdout.read(1 << 20)
                        if not chunk:
                            break
                        got += len(chunk)
                if p.returncode != 0 or got != size:
                    raise SystemExit(f"container_bench: {name}: exit {p.returncode},"
                                     f" {got} of {size} bytes")
                times[name].append(time.perf_counter() - t0)
        return {k: statistics.median(v) for k, v in times.items()}

    def cleanup(self):
        stop(getattr(self, "engine_path_agent", None), "rexec-agent (engine path)")
        stop(getattr(self, "baseline_agent", None), "rexec-agent (baseline)")
        if self.engine is not None:
            self.engine.cleanup()
        super().cleanup()


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.environ.get("REXEC_BIN_DIR", str(TOP / "zig-out/bin")))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--baseline-bin-dir", help="also time `true` through these binaries' direct"
                    " path (e.g. main as it was), in the same run")
    ap.add_argument("--stream-size", type=int, default=1 << 30, help="bytes (default 1 GiB)")
    ap.add_argument("--stream-runs", type=int, default=3)
    ap.add_argument("--no-ssh", action="store_true", help="leave out the ssh case")
    ap.add_argument("--no-settle", action="store_true",
                    help="time runs back to back, without waiting for an idle machine")
    ap.add_argument("--agent-arg", action="append", default=[],
                    help="an extra argument for rexec-agent (repeatable, e.g. -v)")
    ap.add_argument("--no-rexec", action="store_true",
                    help="leave out the rexec cases (checks the engine, docker and ssh parts)")
    return ap.parse_args()


def main():
    args = parse_args()
    if os.geteuid() != 0:
        raise SystemExit("container_bench: run as root (it starts dockerd and sshd)")
    bench = Bench(args)
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if not args.no_rexec:
            for b in (bench.rexec, bench.agent_bin):
                if not os.path.isfile(b):
                    raise SystemExit(f"container_bench: {b} missing: run packaging/zig build")
        bench.main()
    except docker_env.DockerEnvError as e:
        raise SystemExit(f"container_bench: {e}")
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
