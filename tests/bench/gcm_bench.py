#!/usr/bin/python3
"""Two builds of rexec streaming the same bytes, in one run (a benchmark, not a test: it asserts
nothing about speed, it prints figures). Made to compare the AES-GCM of TLS records:

  packaging/zig build -Doptimize=ReleaseSafe --prefix /tmp/rexec-alt
  packaging/zig build -Doptimize=ReleaseSafe -Dgcm=mbedtls --prefix /tmp/rexec-mbedtls
  /usr/bin/python3 tests/bench/gcm_bench.py A=/tmp/rexec-alt/bin B=/tmp/rexec-mbedtls/bin \\
      [--runs 7] [--size 1G] [--up]

Each build gets its own `rexec-agent --dev` (temp state dir, loopback) and streams SIZE bytes of
`head -c SIZE /dev/zero` through `rexec -T dev --host` (its own client to its own agent: a host
session, the real TLS channel both ways); with --up, SIZE bytes the other way, from a local
`dd if=/dev/zero bs=1M` into the remote `dd of=/dev/null bs=1M iflag=fullblock`, whose record
count proves every byte arrived. The builds alternate run by run (A B, then B A, ...),
so drift in the machine's load falls on both. For each build: the median wall time, and the
median CPU seconds of the client (its rusage) and of the agent (utime + stime from /proc), which
a busy shared machine disturbs less than wall time. Stops only the agents it started, by pid.

With --keys N, it compares instead the round trip of N keystrokes in a TTY session through each
build's control master (stream_bench's measure), idle and while SIZE-byte streams (down, or up
with --up) run again and again through the same master, round by round, the builds alternating.
Beside them, the same keystrokes (the first build's) while a local `dd | dd` pipe of 4 GiB, not
rexec, keeps both cores busy: what the scheduler alone adds to a round trip.
"""
import argparse
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import exec_bench  # noqa: E402  (its agent start-up, stop and size parsing)
from stream_bench import keystroke_rtts  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of PID itself (not its children), in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Side(exec_bench.Bench):
    """One build: its own agent in its own temp dir."""

    def __init__(self, label, bin_dir):
        args = argparse.Namespace(bin_dir=bin_dir)
        super().__init__(args)
        self.label = label
        self.name = f"gcm_bench {label}"
        for b in (self.rexec, self.agent_bin):
            if not os.path.isfile(b):
                raise SystemExit(f"gcm_bench: {b} missing")

    def stream(self, size, up=False, env=None):
        """One stream of SIZE bytes, down or UP, with ENV (default: a connection of its own):
        (wall s, client CPU s, agent CPU s)."""
        env = env or self.rexec_env
        if up:
            return self.upload(size, env)
        argv = [self.rexec, "-T", "dev", "--host", "--", "head", "-c", str(size), "/dev/zero"]
        buf = bytearray(1 << 20)
        total = 0
        agent0 = cpu_seconds(self.agent.pid)
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        with p.stdout as out:
            while True:
                n = out.readinto(buf)
                if not n:
                    break
                total += n
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        dt = time.perf_counter() - t0
        agent_cpu = cpu_seconds(self.agent.pid) - agent0
        if p.returncode != 0 or total != size:
            raise SystemExit(f"gcm_bench: {self.label}: {argv} exited {p.returncode} after"
                             f" {total} of {size} bytes")
        return dt, ru.ru_utime + ru.ru_stime, agent_cpu

    def upload(self, size, env):
        """SIZE bytes (whole MiB) up: (wall s, client CPU s, agent CPU s)."""
        count = size >> 20
        argv = [self.rexec, "-T", "dev", "--host", "--", "dd", "of=/dev/null", "bs=1M",
                "iflag=fullblock"]
        agent0 = cpu_seconds(self.agent.pid)
        t0 = time.perf_counter()
        src = subprocess.Popen(["dd", "if=/dev/zero", "bs=1M", f"count={count}"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        p = subprocess.Popen(argv, env=env, stdin=src.stdout,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        src.stdout.close()
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        dt = time.perf_counter() - t0
        src.wait()
        agent_cpu = cpu_seconds(self.agent.pid) - agent0
        if p.returncode != 0 or f"{count}+0 records in".encode() not in err:
            raise SystemExit(f"gcm_bench: {self.label}: upload exited {p.returncode}: {err!r}")
        return dt, ru.ru_utime + ru.ru_stime, agent_cpu

    def cleanup(self):
        exec_bench.stop(self.agent, f"rexec-agent {self.label}")
        self.agent = None
        super().cleanup()


def local_hog():
    """4 GiB through a local pipe (dd | dd): both cores busy, with wake-ups, and no rexec."""
    subprocess.run("dd if=/dev/zero bs=1M count=4096 2>/dev/null | dd of=/dev/null bs=1M"
                   " 2>/dev/null", shell=True, check=True)


def keystrokes(sides, args):
    """Keystroke round trips through each build's master, idle and during bulk (--keys)."""
    way = "upload" if args.up else "download"
    rtt = {s.label: {"idle": [], "bulk": []} for s in sides}
    hog = []
    for i in range(args.runs):
        for s in (sides if i % 2 == 0 else sides[::-1]):
            env = s.rexec_mux_env
            s.stream(1 << 20, env=env)  # the master up before the idle figure
            rtt[s.label]["idle"] += keystroke_rtts(s.rexec, env, args.keys)
            rtt[s.label]["bulk"] += keystroke_rtts(
                s.rexec, env, args.keys, lambda s=s, env=env: s.stream(args.size, args.up, env))
            exec_bench.log(f"gcm_bench: round {i + 1} {s.label}: idle"
                           f" {statistics.median(rtt[s.label]['idle']) * 1000:.2f} ms, bulk"
                           f" {statistics.median(rtt[s.label]['bulk']) * 1000:.2f} ms")
        hog += keystroke_rtts(sides[0].rexec, sides[0].rexec_mux_env, args.keys, local_hog)
    print(f"keystroke round trip through a control master, medians of {args.runs} x {args.keys}"
          f" (a {way} of {args.size >> 20} MiB at a time on the same connection):")
    for label, r in rtt.items():
        idle, bulk = statistics.median(r["idle"]), statistics.median(r["bulk"])
        q90 = statistics.quantiles(r["bulk"], n=10)[-1]
        print(f"  {label:<10} idle {idle * 1000:5.2f} ms, during the {way} {bulk * 1000:5.2f} ms"
              f" ({bulk / idle:.2f}x idle; 90th percentile {q90 * 1000:.2f} ms)")
    hm = statistics.median(hog)
    first = statistics.median(rtt[sides[0].label]["idle"])
    print(f"  {sides[0].label:<10} while a local dd | dd keeps the cores busy (no rexec bulk):"
          f" {hm * 1000:5.2f} ms ({hm / first:.2f}x idle)")
    print(f"load average {os.getloadavg()[0]:.1f} at end")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("builds", nargs=2, metavar="LABEL=BIN_DIR",
                    help="two builds' bin directories (rexec and rexec-agent), with a label")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--size", type=exec_bench.parse_size, default=1 << 30,
                    help="stream size (e.g. 1G, 256M; whole MiB with --up)")
    ap.add_argument("--up", action="store_true", help="stream stdin up instead of stdout down")
    ap.add_argument("--keys", type=int, default=0,
                    help="compare keystroke round trips instead (N keystrokes a round)")
    return ap.parse_args()


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sides = []
    try:
        for spec in args.builds:
            label, _, bin_dir = spec.partition("=")
            if not bin_dir:
                raise SystemExit(f"gcm_bench: {spec!r} is not LABEL=BIN_DIR")
            sides.append(Side(label, bin_dir))
        for s in sides:
            s.start_agent()
            s.stream(1 << 20)  # warm-up: page cache and a TLS ticket, not a measurement
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
        if args.keys:
            keystrokes(sides, args)
            return
        res = {s.label: [] for s in sides}
        for i in range(args.runs):
            for s in (sides if i % 2 == 0 else sides[::-1]):
                r = s.stream(args.size, args.up)
                res[s.label].append(r)
                exec_bench.log(f"gcm_bench: run {i + 1} {s.label}: {r[0]:.2f} s wall,"
                               f" client {r[1]:.2f} s CPU, agent {r[2]:.2f} s CPU")
        mib = args.size / (1 << 20)
        what = (f"`dd if=/dev/zero bs=1M count={args.size >> 20} | rexec -T dev --host -- dd"
                " of=/dev/null bs=1M iflag=fullblock`" if args.up else
                f"`rexec -T dev --host -- head -c {args.size} /dev/zero`")
        print(f"{what}, medians of {args.runs} interleaved runs:")
        med = {}
        for label, runs in res.items():
            wall, ccpu, acpu = (statistics.median(r[k] for r in runs) for k in range(3))
            med[label] = (wall, ccpu, acpu)
            print(f"  {label:<10} wall {wall:6.2f} s ({mib / wall:6.0f} MiB/s; min"
                  f" {min(r[0] for r in runs):.2f}, max {max(r[0] for r in runs):.2f})"
                  f"  client CPU {ccpu:5.2f} s  agent CPU {acpu:5.2f} s")
        a, b = (s.label for s in sides)
        print(f"  ratio {a}/{b}: wall {med[a][0] / med[b][0]:.2f}, client CPU"
              f" {med[a][1] / med[b][1]:.2f}, agent CPU {med[a][2] / med[b][2]:.2f}")
        print(f"load average {os.getloadavg()[0]:.1f} at end")
    finally:
        for s in sides:
            s.cleanup()


if __name__ == "__main__":
    main()
