#!/usr/bin/python3
"""Fan-out of `true` to 200 hosts on this machine: rexec vs pssh vs clush, in one run (a
benchmark, not a test: it asserts nothing about speed, it prints figures).

  rexec  200 real `rexec-agent`s on 127.0.0.10-209 sharing one CA (fleet_env.Fleet from the
         end-to-end suite), `rexec @fleet --host true` at its default --parallel 32, and at 64
  pssh   `parallel-ssh -p 32` through OpenSSH to one sshd on loopback
  clush  `clush -f 64` through OpenSSH to the same sshd

The OpenSSH side is exec_bench.py's (Debian's sshd on a free loopback port, generated host key,
key-only auth for a temporary `rexec-bench` user whose shell is /bin/sh, no PAM, no GSSAPI);
pssh and clush see 200 distinct host names (h000..h199) that an ssh_config maps to it. Each
tool runs N times, interleaved, after one warm-up run each; the medians and ratios are printed.
Installs Debian's pssh and clustershell when missing. Stops only what it started, by pid.
Run as root:  /usr/bin/python3 tests/bench/fleet_bench.py [--hosts 200] [--runs 5]
"""
import argparse
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
TOP = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(TOP / "tests" / "e2e"))

import exec_bench  # noqa: E402  (its sshd, test user and cleanup)
from fleet_env import Fleet  # noqa: E402

CMD_TIMEOUT = 600.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_debs(pkgs):
    """Installs the Debian packages PKGS that are missing."""
    missing = [p for p in pkgs if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
    ).stdout.find("install ok installed") < 0]
    if not missing:
        return
    log(f"fleet_bench: installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "-q"] + missing, env=env,
                       stdout=subprocess.DEVNULL, timeout=CMD_TIMEOUT)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL,
                       timeout=CMD_TIMEOUT)
        subprocess.run(["apt-get", "install", "-y", "-q"] + missing, env=env, check=True,
                       stdout=subprocess.DEVNULL, timeout=CMD_TIMEOUT)


class FleetBench(exec_bench.Bench):
    def __init__(self, args):
        args.runs_true = args.runs_stream = 0
        super().__init__(args)
        self.fleet = None

    def start_fleet(self):
        log(f"fleet_bench: starting {self.args.hosts} agents")
        self.fleet = Fleet(self.rexec, self.agent_bin, self.tmp / "fleet", self.args.hosts)
        (self.tmp / "fleet").mkdir()
        self.fleet.start()
        # session tickets in the run's own cache: after the warm-up every connection resumes
        self.rexec_env = dict(self.fleet.env(), XDG_CACHE_HOME=str(self.tmp / "xdg-cache"))

    def raise_max_startups(self):
        """exec_bench's sshd keeps OpenSSH's MaxStartups 10:30:100, which drops concurrent
        unauthenticated connections at random past 10: allow the fan-out's 64, then SIGHUP
        (sshd re-executes itself with the new setting) and wait until it answers again."""
        conf = self.tmp / "ssh" / "sshd_config"
        conf.write_text(conf.read_text() + "MaxStartups 512\n")
        os.kill(self.sshd.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while True:
            r = subprocess.run(self.ssh + ["true"], capture_output=True, timeout=60)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"fleet_bench: sshd did not come back after SIGHUP: {r.stderr!r}")
            time.sleep(0.1)

    def ssh_setup(self):
        """An ssh_config mapping h000..hNNN to the one sshd, for pssh and clush."""
        ssh_dir = self.tmp / "ssh"
        known = ssh_dir / "known_hosts"
        host_pub = (ssh_dir / "host_key.pub").read_text().split()
        known.write_text(f"bench-sshd {host_pub[0]} {host_pub[1]}\n")
        cfg = ssh_dir / "ssh_config"
        cfg.write_text("\n".join([
            "Host h*",
            "  HostName 127.0.0.1",
            f"  Port {self.ssh_port}",
            f"  User {exec_bench.BENCH_USER}",
            f"  IdentityFile {ssh_dir / 'client_key'}",
            "  IdentitiesOnly yes",
            "  HostKeyAlias bench-sshd",
            f"  UserKnownHostsFile {known}",
            "  StrictHostKeyChecking yes",
            "  BatchMode yes",
            "  GSSAPIAuthentication no",
            "  ControlMaster no",
            "  ControlPath none",
            "  Compression no",
            "",
        ]))
        self.ssh_cfg = str(cfg)
        names = [f"h{i:03d}" for i in range(self.args.hosts)]
        hosts = ssh_dir / "pssh_hosts"
        hosts.write_text("\n".join(names) + "\n")
        self.pssh_hosts = str(hosts)
        self.clush_nodes = f"h[000-{self.args.hosts - 1:03d}]"

    def commands(self):
        return {
            "rexec (--parallel 32)": ([self.rexec, "@fleet", "--host", "true"], self.rexec_env),
            "rexec --parallel 64": ([self.rexec, "@fleet", "--host", "--parallel", "64", "true"],
                                    self.rexec_env),
            "pssh -p 32": (["parallel-ssh", "-p", "32", "-t", "0", "-h", self.pssh_hosts,
                            "-x", f"-F {self.ssh_cfg}", "true"], None),
            "clush -f 64": (["clush", "-f", "64", "-w", self.clush_nodes, "-o",
                             f"-F {self.ssh_cfg}", "-S", "true"], None),
        }

    def time_one(self, name, argv, env):
        t0 = time.perf_counter()
        r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=CMD_TIMEOUT)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"fleet_bench: {name} exited {r.returncode}:"
                             f" {r.stderr.decode(errors='replace')[-2000:]}"
                             f" {r.stdout.decode(errors='replace')[-2000:]}")
        return dt

    def main(self):
        ensure_debs(["pssh", "clustershell"])
        version = exec_bench.run([self.rexec, "--version"], capture_output=True, text=True,
                                 timeout=30)
        build = next((l for l in version.stdout.splitlines() if l.startswith("build:")),
                     "build: ?")
        self.start_fleet()
        self.start_sshd()
        self.raise_max_startups()
        self.ssh_setup()
        cmds = self.commands()
        ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
        pssh_version = subprocess.run(["parallel-ssh", "--version"], capture_output=True,
                                      text=True).stdout.strip()
        clush_version = subprocess.run(["clush", "--version"], capture_output=True,
                                       text=True).stdout.strip()
        print(f"machine: {os.cpu_count()} cores, {os.uname().release}; rexec {build};"
              f" {ssh_version}; pssh {pssh_version}; {clush_version}")
        for name, (argv, env) in cmds.items():  # warm-up, and a check that each works
            log(f"fleet_bench: warm-up {name}")
            self.time_one(name, argv, env)
        times = {name: [] for name in cmds}
        for i in range(self.args.runs):
            log(f"fleet_bench: round {i + 1}/{self.args.runs}")
            for name, (argv, env) in cmds.items():
                times[name].append(self.time_one(name, argv, env))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"\n`true` on {self.args.hosts} hosts, median of {self.args.runs}"
              f" (wall time of the whole fan-out):")
        for name, dt in med.items():
            print(f"  {name:<22} {dt:8.2f} s   (min {min(times[name]):.2f},"
                  f" max {max(times[name]):.2f})")
        base = med["rexec (--parallel 32)"]
        print(f"  ratio rexec/pssh        {base / med['pssh -p 32']:6.2f}   (both 32 at once)")
        print(f"  ratio rexec64/clush     {med['rexec --parallel 64'] / med['clush -f 64']:6.2f}"
              f"   (both 64 at once)")
        print(f"  ratio rexec/clush       {base / med['clush -f 64']:6.2f}")

    def cleanup(self):
        if self.fleet is not None:
            self.fleet.stop()
        super().cleanup()


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.environ.get("REXEC_BIN_DIR", str(TOP / "zig-out/bin")))
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    return ap.parse_args()


def main():
    if os.geteuid() != 0:
        raise SystemExit("fleet_bench: run as root (it starts an sshd and adds a test user)")
    b = FleetBench(parse_args())
    try:
        b.main()
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
