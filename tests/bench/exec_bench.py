#!/usr/bin/python3
"""rexec vs ssh on this machine, in one run (a benchmark, not a test: it asserts nothing about
speed, it prints figures).

  1. cold `rexec dev --host true` vs cold `ssh 127.0.0.1 true` (a new connection each run):
     median wall time of N runs each, interleaved, after one warm-up run each;
  2. SIZE bytes of `head -c SIZE /dev/zero` through `rexec -T`, through `ssh`, through a plain
     pipe and through a loopback TCP socket (the last two are the floor): median of M runs,
     byte counts checked;
  3. the agent's peak RSS (VmHWM, reset before the streams) while it streams.

It starts its own processes and stops only those, by pid: a `rexec-agent --dev` in a temp
state dir, and an sshd from Debian's openssh-server (installed with apt-get when missing) on a
free loopback port with a generated host key, key-only auth for a test user `rexec-bench`
whose shell is a plain /bin/sh (created for the run and removed afterwards), no PAM, no GSSAPI.
Run as root:  /usr/bin/python3 tests/bench/exec_bench.py [--runs-true 20] [--runs-stream 3]
"""
import argparse
import os
import pathlib
import pwd
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

TOP = pathlib.Path(__file__).resolve().parents[2]
BENCH_USER = "rexec-bench"
READY_TIMEOUT = 30.0
CMD_TIMEOUT = 600.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(argv, **kw):
    kw.setdefault("timeout", CMD_TIMEOUT)
    return subprocess.run(argv, **kw)


def wait_line(stream, pred, timeout, what):
    """Read lines from STREAM (a pipe) until PRED(line) holds; returns the lines read."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    buf, lines = b"", []
    deadline = time.monotonic() + timeout
    try:
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                lines.append(line.decode(errors="replace"))
                if pred(lines[-1]):
                    return lines
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"exec_bench: no {what} within {timeout:g}s; got {lines}")
            if sel.select(left):
                chunk = os.read(stream.fileno(), 4096)
                if not chunk:
                    raise SystemExit(f"exec_bench: EOF before {what}; got {lines}")
                buf += chunk
    finally:
        sel.close()


def drain(stream):
    threading.Thread(target=lambda: [None for _ in iter(lambda: os.read(stream.fileno(), 65536), b"")],
                     daemon=True).start()


def stop(proc, name):
    """SIGTERM one process we started (by its pid), SIGKILL it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        log(f"exec_bench: {name} (pid {proc.pid}) ignored SIGTERM; SIGKILL")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def children_of(pid):
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2:].split()[1]) == pid:
                kids.append(int(name))
    return kids


def wait_no_children(proc, timeout=10.0):
    """Let a server finish (and reap) its per-connection children before it is stopped, so
    none is orphaned mid-exit."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and children_of(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin_dir = pathlib.Path(args.bin_dir).resolve()
        self.rexec = str(self.bin_dir / "rexec")
        self.agent_bin = str(self.bin_dir / "rexec-agent")
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="rexec-bench-"))
        self.agent = None
        self.sshd = None
        self.created_user = False
        self.created_privsep = False

    # --- setup ---------------------------------------------------------------------------

    # Subclasses (container_bench) set these: the agent's extra flags, the ssh login (root
    # needs no account of its own) and the log prefix.
    agent_args = ()
    ssh_user = BENCH_USER
    name = "exec_bench"

    def start_agent(self, subdir="agent", extra=()):
        """A --dev agent in tmp/SUBDIR (with EXTRA flags): self.agent and self.rexec_env."""
        sd = self.tmp / subdir
        sd.mkdir()
        self.agent = subprocess.Popen(
            [self.agent_bin, "--dev", "--state-dir", str(sd), "--listen", "127.0.0.1:0"]
            + list(self.agent_args) + list(extra),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=open(self.tmp / f"{subdir}.log", "wb"))
        lines = wait_line(self.agent.stdout, lambda l: l.startswith("rexec-agent: listening on "),
                          READY_TIMEOUT, "agent listening line")
        drain(self.agent.stdout)
        # TLS session tickets in the run's own cache (resumed connections, the default), and
        # a second config next to the dev one that keeps none (every connection a full
        # handshake): rexec_full_env.
        cache = self.tmp / "xdg-cache"
        self.rexec_env = dict(os.environ, REXEC_CONFIG=str(sd / "client.conf"),
                              XDG_CACHE_HOME=str(cache))
        full = sd / "client-full-handshake.conf"
        full.write_text((sd / "client.conf").read_text() + "\ndefaults: { tls_resume: false }\n")
        self.rexec_full_env = dict(self.rexec_env, REXEC_CONFIG=str(full))
        # and one with a control master (control_persist): the runs after the first go
        # through the master's connection, no TLS handshake of their own. The master leaves
        # when the agent stops.
        mux = sd / "client-control-master.conf"
        mux.write_text((sd / "client.conf").read_text() + "\ndefaults: { control_persist: 10m }\n")
        self.rexec_mux_env = dict(self.rexec_env, REXEC_CONFIG=str(mux))
        log(f"{self.name}: agent pid {self.agent.pid}: {lines[-1]}")

    def ensure_openssh_server(self):
        if os.path.exists("/usr/sbin/sshd"):
            return
        log(f"{self.name}: installing openssh-server")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = run(["apt-get", "install", "-y", "-q", "openssh-server"], env=env,
                stdout=subprocess.DEVNULL)
        if r.returncode != 0:
            run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
            run(["apt-get", "install", "-y", "-q", "openssh-server"], env=env, check=True,
                stdout=subprocess.DEVNULL)

    def ensure_user(self):
        try:
            pw = pwd.getpwnam(BENCH_USER)
        except KeyError:
            run(["useradd", "--create-home", "--shell", "/bin/sh", BENCH_USER], check=True)
            self.created_user = True
            pw = pwd.getpwnam(BENCH_USER)
        if pw.pw_shell != "/bin/sh":
            raise SystemExit(f"exec_bench: user {BENCH_USER} exists with shell {pw.pw_shell},"
                             " not /bin/sh")
        # Without PAM a locked password ('!') blocks even key auth; '*' is "no password".
        run(["usermod", "-p", "*", BENCH_USER], check=True)

    def start_sshd(self):
        self.ensure_openssh_server()
        if self.ssh_user != "root":
            self.ensure_user()
        ssh_dir = self.tmp / "ssh"
        ssh_dir.mkdir()
        os.chmod(self.tmp, 0o711)  # the session user must reach authorized_keys
        os.chmod(ssh_dir, 0o755)
        for name in ("host_key", "client_key"):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh_dir / name)],
                check=True)
        auth = ssh_dir / "authorized_keys"
        shutil.copy(ssh_dir / "client_key.pub", auth)
        os.chmod(auth, 0o644)
        if not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755)
            self.created_privsep = True
        self.ssh_port = free_port()
        conf = ssh_dir / "sshd_config"
        conf.write_text("\n".join([
            f"Port {self.ssh_port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {ssh_dir / 'host_key'}",
            f"PidFile {ssh_dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {auth}",
            f"AllowUsers {self.ssh_user}",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "GSSAPIAuthentication no",
            "KerberosAuthentication no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "LogLevel INFO",
            "",
        ]))
        self.sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        wait_line(self.sshd.stderr,
                  lambda l: f"Server listening on 127.0.0.1 port {self.ssh_port}" in l,
                  READY_TIMEOUT, "sshd listening line")
        drain(self.sshd.stderr)
        known = ssh_dir / "known_hosts"
        host_pub = (ssh_dir / "host_key.pub").read_text().split()
        known.write_text(f"[127.0.0.1]:{self.ssh_port} {host_pub[0]} {host_pub[1]}\n")
        self.ssh = ["ssh", "-F", "/dev/null", "-T", "-i", str(ssh_dir / "client_key"),
                    "-p", str(self.ssh_port), "-l", self.ssh_user,
                    "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                    "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
                    "-o", "GSSAPIAuthentication=no", "-o", "ControlMaster=no",
                    "-o", "ControlPath=none", "-o", "Compression=no", "127.0.0.1"]
        log(f"{self.name}: sshd pid {self.sshd.pid} on 127.0.0.1:{self.ssh_port}"
            f" (user {self.ssh_user})")

    def check_both_work(self):
        r = run(self.ssh + ["true"], capture_output=True, timeout=60)
        if r.returncode != 0:
            raise SystemExit(f"exec_bench: `ssh ... true` failed ({r.returncode}): {r.stderr!r}")
        r = run([self.rexec, "dev", "--host", "true"], env=self.rexec_env, capture_output=True,
                stdin=subprocess.DEVNULL, timeout=60)
        if r.returncode != 0:
            raise SystemExit(f"exec_bench: `rexec dev --host true` failed ({r.returncode}):"
                             f" {r.stderr!r}")

    # --- measurements ------------------------------------------------------------------------

    def time_cmd(self, argv, env=None):
        t0 = time.perf_counter()
        r = run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, timeout=120)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"exec_bench: {argv} exited {r.returncode}: {r.stderr!r}")
        return dt

    def bench_true(self):
        n = self.args.runs_true
        rexec_argv = [self.rexec, "dev", "--host", "true"]
        ssh_argv = self.ssh + ["true"]
        self.time_cmd(rexec_argv, self.rexec_env)  # warm-up: page cache, not a connection
        self.time_cmd(ssh_argv)
        rx, sx = [], []
        for _ in range(n):
            rx.append(self.time_cmd(rexec_argv, self.rexec_env))
            sx.append(self.time_cmd(ssh_argv))
        return statistics.median(rx), statistics.median(sx), rx, sx

    def count_stream(self, argv, env=None, sample_pid=None):
        """Run ARGV, read its stdout to EOF in 1 MiB reads; returns (seconds, bytes, peak KiB)."""
        peak = [0]
        done = threading.Event()

        def sampler():
            while not done.wait(0.05):
                try:
                    peak[0] = max(peak[0], vm_kib(sample_pid, "VmRSS"))
                except OSError:
                    return

        if sample_pid:
            threading.Thread(target=sampler, daemon=True).start()
        buf = bytearray(1 << 20)
        total = 0
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        with p.stdout as out:
            while True:
                n = out.readinto(buf)
                if not n:
                    break
                total += n
        rc = p.wait(timeout=CMD_TIMEOUT)
        dt = time.perf_counter() - t0
        done.set()
        err = p.stderr.read()
        p.stderr.close()
        if rc != 0:
            raise SystemExit(f"exec_bench: {argv} exited {rc}: {err!r}")
        return dt, total, peak[0]

    def count_tcp(self, size):
        """SIZE bytes of zeros written by `head` straight into a loopback TCP socket (its stdout),
        read by this process: the kernel's loopback with no relay in between."""
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        out = socket.create_connection(ls.getsockname(), timeout=60)
        conn, _ = ls.accept()
        ls.close()
        out.settimeout(None)
        conn.settimeout(None)
        t0 = time.perf_counter()
        p = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdin=subprocess.DEVNULL,
                             stdout=out.fileno())
        out.close()  # head holds the only writer now: its exit is our EOF
        buf = bytearray(1 << 20)
        total = 0
        with conn:
            while True:
                n = conn.recv_into(buf)
                if not n:
                    break
                total += n
        rc = p.wait(timeout=CMD_TIMEOUT)
        dt = time.perf_counter() - t0
        if rc != 0:
            raise SystemExit(f"exec_bench: head into loopback TCP exited {rc}")
        return dt, total, 0

    def bench_stream(self):
        size = self.args.size
        head = ["head", "-c", str(size), "/dev/zero"]
        cases = {
            "rexec -T": lambda: self.count_stream([self.rexec, "-T", "dev", "--host", "--"] + head,
                                                  self.rexec_env, sample_pid=self.agent.pid),
            "ssh": lambda: self.count_stream(self.ssh + [" ".join(head)]),
            "pipe": lambda: self.count_stream(head),
            "loopback TCP": lambda: self.count_tcp(size),
        }
        try:
            with open(f"/proc/{self.agent.pid}/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM: measure the stream, not start-up
            hwm_reset = True
        except OSError:
            hwm_reset = False
        results = {name: [] for name in cases}
        peak_rss = 0
        for _ in range(self.args.runs_stream):
            for name, fn in cases.items():
                dt, total, peak = fn()
                if total != size:
                    raise SystemExit(f"exec_bench: {name} delivered {total} bytes, not {size}")
                results[name].append(dt)
                peak_rss = max(peak_rss, peak)
        hwm = vm_kib(self.agent.pid, "VmHWM")
        return {k: statistics.median(v) for k, v in results.items()}, results, peak_rss, hwm, hwm_reset

    # --- report ---------------------------------------------------------------------------

    def main(self):
        version = run([self.rexec, "--version"], capture_output=True, text=True, timeout=30)
        build = next((l for l in version.stdout.splitlines() if l.startswith("build:")), "build: ?")
        self.start_agent()
        self.start_sshd()
        self.check_both_work()
        ssh_version = run(["ssh", "-V"], capture_output=True, text=True, timeout=30).stderr.strip()
        print(f"machine: {os.cpu_count()} cores, {os.uname().release}; rexec {build};"
              f" {ssh_version}")

        log(f"exec_bench: cold true, {self.args.runs_true} runs each")
        r_med, s_med, rx, sx = self.bench_true()
        print(f"\ncold `true`, median of {self.args.runs_true} (new connection each run):")
        print(f"  rexec dev --host true   {r_med * 1000:8.1f} ms   (min {min(rx) * 1000:.1f},"
              f" max {max(rx) * 1000:.1f})")
        print(f"  ssh 127.0.0.1 true      {s_med * 1000:8.1f} ms   (min {min(sx) * 1000:.1f},"
              f" max {max(sx) * 1000:.1f})")
        print(f"  ratio rexec/ssh         {r_med / s_med:8.2f}")

        size = self.args.size
        log(f"exec_bench: streams of {size} bytes, {self.args.runs_stream} runs each")
        med, _, peak_rss, hwm, hwm_reset = self.bench_stream()
        mib = size / (1 << 20)
        print(f"\n`head -c {size} /dev/zero`, median of {self.args.runs_stream}:")
        for name, dt in med.items():
            print(f"  {name:<14} {dt:8.2f} s  {mib / dt:9.0f} MiB/s")
        print(f"  ratio rexec/ssh          {med['rexec -T'] / med['ssh']:6.2f}")
        print(f"  ratio rexec/pipe         {med['rexec -T'] / med['pipe']:6.2f}")
        print(f"  ratio rexec/loopback TCP {med['rexec -T'] / med['loopback TCP']:6.2f}")
        print(f"\nagent memory during the rexec streams: peak RSS (VmHWM"
              f"{', reset before the streams' if hwm_reset else ', since start'})"
              f" {hwm / 1024:.1f} MiB; highest sampled VmRSS {peak_rss / 1024:.1f} MiB")

    def cleanup(self):
        if self.sshd is not None:
            wait_no_children(self.sshd)
        stop(self.sshd, "sshd")
        stop(self.agent, "rexec-agent")
        if self.created_user:
            run(["userdel", "--remove", BENCH_USER], stderr=subprocess.DEVNULL, timeout=60)
        if self.created_privsep:
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.environ.get("REXEC_BIN_DIR", str(TOP / "zig-out/bin")))
    ap.add_argument("--runs-true", type=int, default=20)
    ap.add_argument("--runs-stream", type=int, default=3)
    ap.add_argument("--size", type=parse_size, default=1 << 30, help="stream size (e.g. 1G, 256M)")
    ap.add_argument("--ssh-only", action="store_true",
                    help="start sshd, run `ssh ... true` once, tear down (checks the ssh side)")
    return ap.parse_args()


def main():
    args = parse_args()
    if os.geteuid() != 0:
        raise SystemExit("exec_bench: run as root (it starts sshd and creates a test user)")
    bench = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if args.ssh_only:
            bench.start_sshd()
            t = bench.time_cmd(bench.ssh + ["true"])
            print(f"ssh 127.0.0.1 true: ok ({t * 1000:.1f} ms)")
        else:
            for b in (bench.rexec, bench.agent_bin):
                if not os.path.isfile(b):
                    raise SystemExit(f"exec_bench: {b} missing: run packaging/zig build first")
            bench.main()
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
