#!/usr/bin/python3
"""Bulk streams through rexec next to their physical floors and anchors, on this machine, in
one run (a benchmark, not a test: it prints figures and asserts nothing about speed).

SIZE bytes (default 1 GiB) down (the remote process's stdout, read here in 1 MiB reads) and up
(stdin, from a `dd bs=1M` on this host into the remote `dd of=/dev/null bs=1M
iflag=fullblock`, whose record count proves every byte arrived):

  floors     a plain pipe between two local dd; one loopback TCP connection (a dd of 1 MiB
             writes into the socket, 1 MiB reads here); the writer (or reader) itself inside
             the container through `nsenter -a` into a local pipe: what no relay can beat
  rexec      a host session (`rexec -T dev --host`), a direct exec (`rexec -T dev web`), a
             host session through a control master
  anchors    `docker exec`, `ssh 127.0.0.1` (the host), `ssh 127.0.0.1 docker exec`

The workload is busybox `dd` in the container and coreutils `dd` on the host (1 MiB blocks):
busybox `head -c` is slower than rexec itself and so measured busybox, not the relay (the
numbers published before this bench did). Each case runs in two modes, interleaved in a seeded
shuffle: "settled" (each run waits for an idle 50 ms window first, so no case pays for the one
before; but each then pays the idle CPU's wake-up latency, which this VM's idle states make
large) and "back to back". Ratios are taken pair by pair (the runs of one round) and their
median printed. For the rexec cases the agent's CPU time per GiB (utime+stime of its process,
threads included, its children not) and the client's (its rusage) are printed, and the agent's
peak RSS over the streams (VmHWM reset first).

Last, the round trip of a keystroke in a TTY session through a control master, idle and while
a bulk stream runs on the same connection.

It starts its own dockerd, agent and sshd (container_bench's setup) and stops only those.
Run as root:  /usr/bin/python3 tests/bench/stream_bench.py [--size 1G] [--runs 3] [--no-ssh]
"""
import argparse
import os
import pty
import random
import select
import socket
import statistics
import subprocess
import sys
import threading
import time

import container_bench
from container_bench import CONTAINER, settle
from exec_bench import parse_size, run, vm_kib

BLOCK = 1 << 20
CMD_TIMEOUT = 600.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cpu_seconds(pid):
    """utime + stime of PID (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_rusage(p):
    """Wait for Popen P; returns its own user+system CPU seconds."""
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return ru.ru_utime + ru.ru_stime


def keystroke_rtts(rexec, env, keys, bulk=None):
    """Round trips (s) of KEYS single bytes through a TTY session (`rexec -t dev --host`, with
    ENV: a control master's, so that it shares the bulk's connection), idle or while BULK (a
    callable: one bulk stream) runs again and again on a thread."""
    stop = threading.Event()
    bulk_thread = None
    if bulk is not None:
        def pump():
            while not stop.is_set():
                bulk()
        bulk_thread = threading.Thread(target=pump, daemon=True)
        bulk_thread.start()
        time.sleep(0.5)
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.clear()
        os.environ.update(env)
        os.execv(rexec, [rexec, "-t", "dev", "--host", "--", "sh", "-c",
                         "stty raw -echo; echo READY; exec cat"])
    rtts = []
    try:
        buf = b""
        deadline = time.monotonic() + 30
        while b"READY" not in buf:
            if time.monotonic() > deadline:
                raise SystemExit(f"stream_bench: the TTY session never started: {buf!r}")
            if select.select([fd], [], [], 1)[0]:
                buf += os.read(fd, 4096)
        time.sleep(0.2)
        for i in range(keys):
            ch = bytes([0x61 + i % 26])
            t0 = time.perf_counter()
            os.write(fd, ch)
            got = b""
            while ch not in got:
                if not select.select([fd], [], [], 10)[0]:
                    raise SystemExit("stream_bench: a keystroke never came back")
                got += os.read(fd, 4096)
            rtts.append(time.perf_counter() - t0)
            time.sleep(0.02)
    finally:
        os.write(fd, b"\x04")
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
        stop.set()
        if bulk_thread:
            bulk_thread.join(timeout=CMD_TIMEOUT)
    return rtts


class StreamBench(container_bench.Bench):
    name = "stream_bench"

    def __init__(self, args):
        super().__init__(args)
        self.count = args.size // BLOCK
        self.size = self.count * BLOCK

    # --- one run of each kind ----------------------------------------------------------------

    def down(self, argv, env=None):
        """ARGV writes SIZE bytes to its stdout; read here. (seconds, client CPU s)."""
        buf = bytearray(BLOCK)
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
        cpu = wait_rusage(p)
        dt = time.perf_counter() - t0
        err = p.stderr.read()
        p.stderr.close()
        if p.returncode != 0 or total != self.size:
            raise SystemExit(f"stream_bench: {argv}: exit {p.returncode}, {total} of"
                             f" {self.size} bytes: {err[-300:]!r}{self.agent_state()}")
        return dt, cpu

    def up(self, argv, env=None):
        """A local dd writes SIZE bytes into ARGV's stdin; ARGV is a `dd iflag=fullblock` whose
        stderr must count every block. (seconds, client CPU s)."""
        t0 = time.perf_counter()
        w = subprocess.Popen(["dd", "if=/dev/zero", f"bs={BLOCK}", f"count={self.count}"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        p = subprocess.Popen(argv, env=env, stdin=w.stdout, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        w.stdout.close()
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        cpu = wait_rusage(p)
        w.wait(timeout=CMD_TIMEOUT)
        dt = time.perf_counter() - t0
        if p.returncode != 0 or f"{self.count}+0 records in" not in err:
            raise SystemExit(f"stream_bench: {argv}: exit {p.returncode}: {err[-300:]!r}"
                             f"{self.agent_state()}")
        return dt, cpu

    def tcp(self):
        """The loopback floor: a dd of 1 MiB writes straight into one TCP connection on
        127.0.0.1, read here in 1 MiB reads (the same both ways: the kernel's path is
        symmetric). (seconds, 0)."""
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        out = socket.create_connection(ls.getsockname(), timeout=60)
        conn, _ = ls.accept()
        ls.close()
        out.settimeout(None)
        conn.settimeout(None)
        buf = bytearray(BLOCK)
        total = 0
        t0 = time.perf_counter()
        p = subprocess.Popen(["dd", "if=/dev/zero", f"bs={BLOCK}", f"count={self.count}"],
                             stdin=subprocess.DEVNULL, stdout=out.fileno(),
                             stderr=subprocess.DEVNULL)
        out.close()  # dd holds the only writer: its exit is our EOF
        with conn:
            while True:
                n = conn.recv_into(buf)
                if not n:
                    break
                total += n
        p.wait(timeout=CMD_TIMEOUT)
        dt = time.perf_counter() - t0
        if p.returncode != 0 or total != self.size:
            raise SystemExit(f"stream_bench: loopback TCP: {total} of {self.size} bytes")
        return dt, 0.0

    # --- the cases ---------------------------------------------------------------------------

    def cases(self):
        """name -> (direction, fn, the rexec agent to charge, or None)."""
        n = self.count
        dd_out = ["dd", "if=/dev/zero", f"bs={BLOCK}", f"count={n}"]
        dd_in = ["dd", "of=/dev/null", f"bs={BLOCK}", "iflag=fullblock"]
        pid = str(self.engine.host_pid(CONTAINER))
        nsenter = ["nsenter", "-a", "-t", pid]
        docker = [container_bench.docker_env.DOCKER, "exec"]
        dh = f"DOCKER_HOST={self.engine.host} {docker[0]} exec"
        ag = self.agent
        c = {}
        for way, fn, inner, flag in (("down", self.down, dd_out, []),
                                     ("up", self.up, dd_in, ["-i"])):
            c[f"{way}: pipe (floor)"] = (way, lambda fn=fn, a=inner: fn(a), None)
            c[f"{way}: container dd alone, nsenter -a (floor)"] = (
                way, lambda fn=fn, a=inner: fn(nsenter + a), None)
            if not self.args.no_rexec:
                c[f"{way}: rexec --host"] = (way, lambda fn=fn, a=inner: fn(
                    [self.rexec, "-T", "dev", "--host", "--"] + a, self.rexec_env), ag)
                c[f"{way}: rexec web (direct)"] = (way, lambda fn=fn, a=inner: fn(
                    [self.rexec, "-T", "dev", "web", "--"] + a, self.rexec_env), ag)
                c[f"{way}: rexec --host (control master)"] = (way, lambda fn=fn, a=inner: fn(
                    [self.rexec, "-T", "dev", "--host", "--"] + a, self.rexec_mux_env), ag)
            c[f"{way}: docker exec"] = (way, lambda fn=fn, a=inner, f=flag: fn(
                docker + f + [CONTAINER] + a, self.docker_env), None)
            if not self.args.no_ssh:
                c[f"{way}: ssh 127.0.0.1 (host)"] = (way, lambda fn=fn, a=inner: fn(
                    self.ssh + [" ".join(a)]), None)
                c[f"{way}: ssh 127.0.0.1 docker exec"] = (way, lambda fn=fn, a=inner, f=flag: fn(
                    self.ssh + [" ".join([dh] + f + [CONTAINER] + a)]), None)
        c["both: loopback TCP (floor)"] = ("both", self.tcp, None)
        return c

    # --- the run -----------------------------------------------------------------------------

    def measure(self):
        cases = self.cases()
        for name, (_, fn, _) in cases.items():
            log(f"stream_bench: warm-up: {name}")
            fn()
        modes = ("settled", "back to back")
        # times[mode][name] = [seconds per round]; cpu[name] = [(agent s, client s)]
        times = {m: {k: [] for k in cases} for m in modes}
        cpu = {k: [] for k in cases}
        for ag in {a for (_, _, a) in cases.values() if a is not None}:
            try:
                with open(f"/proc/{ag.pid}/clear_refs", "w") as f:
                    f.write("5")  # VmHWM from here: the streams, not start-up
            except OSError:
                log("stream_bench: cannot reset the agent's VmHWM; peak includes start-up")
        order = list(cases)
        shuffle = random.Random(18).shuffle
        for r in range(self.args.runs):
            for mode in modes:
                shuffle(order)
                log(f"stream_bench: round {r + 1}/{self.args.runs}, {mode}")
                for name in order:
                    _, fn, ag = cases[name]
                    if mode == "settled":
                        settle()
                    a0 = cpu_seconds(ag.pid) if ag else 0.0
                    dt, client_cpu = fn()
                    a1 = cpu_seconds(ag.pid) if ag else 0.0
                    times[mode][name].append(dt)
                    if ag:
                        cpu[name].append((a1 - a0, client_cpu))
        hwm = vm_kib(self.agent.pid, "VmHWM") if self.agent else 0
        return cases, times, cpu, hwm

    def keystrokes(self, bulk):
        """Round trips (s) of keystrokes on the control master, idle or during a bulk download
        on the same connection."""
        down = [self.rexec, "-T", "dev", "--host", "--", "dd", "if=/dev/zero", f"bs={BLOCK}",
                f"count={self.count}"]
        return keystroke_rtts(self.rexec, self.rexec_mux_env, self.args.keys,
                              (lambda: self.down(down, self.rexec_mux_env)) if bulk else None)

    def report(self, cases, times, cpu, hwm):
        gib = self.size / (1 << 30)
        mib = self.size / (1 << 20)
        med = {m: {k: statistics.median(v) for k, v in t.items()} for m, t in times.items()}
        width = max(len(k) for k in cases)
        print(f"\n{mib:.0f} MiB each way, median of {self.args.runs} runs (seconds, MiB/s):")
        print(f"  {'case':<{width}}  {'settled':>14}  {'back to back':>14}")
        for name in cases:
            s, b = med["settled"][name], med["back to back"][name]
            print(f"  {name:<{width}}  {s:6.2f} {mib / s:7.0f}  {b:6.2f} {mib / b:7.0f}")

        def ratio(mode, a, b):
            ta, tb = times[mode].get(a), times[mode].get(b)
            if not ta or not tb:
                return None
            return statistics.median(x / y for x, y in zip(ta, tb))

        print("\nratios, pair by pair (median of each round's ratio; < 1 is faster):")
        for way in ("down", "up"):
            for rx in ("rexec --host", "rexec web (direct)", "rexec --host (control master)"):
                a = f"{way}: {rx}"
                if a not in cases:
                    continue
                for other in ("both: loopback TCP (floor)", f"{way}: pipe (floor)",
                              f"{way}: docker exec", f"{way}: ssh 127.0.0.1 (host)",
                              f"{way}: ssh 127.0.0.1 docker exec"):
                    if other not in cases:
                        continue
                    rs = ratio("settled", a, other)
                    rb = ratio("back to back", a, other)
                    print(f"  {a:<40} / {other:<34} {rs:6.2f} settled {rb:6.2f} back to back")
        print("\nCPU seconds per GiB (median over both modes):")
        for name, v in cpu.items():
            if v:
                ag = statistics.median(x for x, _ in v) / gib
                cl = statistics.median(y for _, y in v) / gib
                print(f"  {name:<{width}}  agent {ag:5.2f}  client {cl:5.2f}")
        print(f"\nthe agent's peak RSS during the streams (VmHWM): {hwm / 1024:.1f} MiB")

    def main(self):
        v = run([self.rexec, "--version"], capture_output=True, text=True, timeout=30)
        build = next((l for l in v.stdout.splitlines() if l.startswith("build:")), "?")
        self.start_engine()
        self.start_agent(extra=["--exec-path", "direct"])
        if not self.args.no_ssh:
            self.start_sshd()
        print(f"machine: {os.cpu_count()} cores, {os.uname().release}; rexec {build}")
        if "Debug" in build:
            print("WARNING: a Debug build (mbedTLS unoptimised): build with"
                  " -Doptimize=ReleaseSafe for figures worth comparing")
        cases, times, cpu, hwm = self.measure()
        self.report(cases, times, cpu, hwm)
        if self.args.keys > 0:
            idle = self.keystrokes(False)
            busy = self.keystrokes(True)
            mi, mb = statistics.median(idle), statistics.median(busy)
            print(f"\nkeystroke round trip, TTY session on a control master, median of"
                  f" {self.args.keys}: idle {mi * 1000:.2f} ms, during a bulk download on the"
                  f" same connection {mb * 1000:.2f} ms ({mb / mi:.1f}x; max"
                  f" {max(busy) * 1000:.1f} ms)")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.environ.get(
        "REXEC_BIN_DIR", str(container_bench.TOP / "zig-out/bin")))
    ap.add_argument("--size", type=parse_size, default=1 << 30, help="bytes (1G, 256M)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keys", type=int, default=50, help="keystrokes timed (0: none)")
    ap.add_argument("--no-ssh", action="store_true", help="leave out the ssh anchors")
    ap.add_argument("--agent-arg", action="append", default=[])
    args = ap.parse_args()
    args.no_rexec = False
    return args


def main():
    args = parse_args()
    if os.geteuid() != 0:
        raise SystemExit("stream_bench: run as root (it starts dockerd and sshd)")
    bench = StreamBench(args)
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench.main()
    except container_bench.docker_env.DockerEnvError as e:
        raise SystemExit(f"stream_bench: {e}")
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
