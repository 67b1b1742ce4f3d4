"""Podman's Docker-compatible API for the container tests: the twin of docker_env.DockerEnv.

PodmanEnv starts Debian's `podman system service` (podman 4.3) with everything in a short temp
dir D (storage D/root, run state D/run, socket unix://D/sock, a containers.conf D/containers.conf
of its own via CONTAINERS_CONF) and drives it with the same docker CLI and docker-compose 1.29
as dockerd (DOCKER_HOST=unix://D/sock): image import, compose projects, inspect and ps are
DockerEnv's own. What differs is only how the engine starts and stops, and why:
  - A network namespace of its own (`unshare --net`, loopback up): podman's CNI plugins add
    bridges and iptables rules (firewall, portmap) and podman has no `--iptables=false` as
    dockerd has; in a namespace of its own they touch nothing of the host's and go with it.
    The unix socket is a file, so the agent and the CLI reach it all the same; published ports
    are bound in that namespace (the tests only read the bindings the engine reports).
  - `--storage-driver overlay`: the kernel's overlayfs works here for root (no fuse-overlayfs);
    vfs would copy the image per container.
  - containers.conf: `cgroup_manager = "cgroupfs"` and `events_logger = "file"` (PID 1 is not
    systemd here: no systemd cgroup manager, no journald), `log_driver = "k8s-file"` (same),
    `tmp_dir` and the events log under D (not /run/libpod, shared by every podman on the
    machine), CNI (`network_backend = "cni"`: Debian 12's podman has no netavark by default)
    with its network files under D (not /etc/cni/net.d) and a subnet pool of its own, so that
    a run leaves nothing behind and does not collide with dockerd's 10.213/16.
  - `default_ulimits`: podman gives containers RLIMIT_NOFILE 1048576 (and lowers its own
    RLIMIT_NPROC to 32768 at start-up); a sandbox whose hard nofile limit is lower and that
    lacks CAP_SYS_RESOURCE cannot raise them ("runc: error setting rlimit type 7: operation not
    permitted"). The containers get min(podman's default, this process's hard limit), which is
    what podman itself falls back to for a rootless user. A `docker run --ulimit` replaces
    that list (nproc would be 1048576 again): run_args() adds the nproc limit to such a run.
  - Stop: the containers' conmon monitors outlive the API service (podman has no daemon that
    owns them), so the containers are removed before the service is stopped, and a conmon left
    with D in its command line (a killed service) is killed by pid.
"""
import os
import resource
import signal
import time

import docker_env
from docker_env import BUSYBOX, COMPOSE, DOCKER, DockerEnv, DockerEnvError

PODMAN = "/usr/bin/podman"
UNSHARE = "/usr/bin/unshare"  # util-linux
NOFILE_DEFAULT = 1048576  # podman's RLimitDefaultValue for root
NPROC_DEFAULT = 32768     # what podman sets its own RLIMIT_NPROC to at start-up


class PodmanEnv(DockerEnv):
    NAME = "podman"
    KIND = "podman"
    TOOLS = (PODMAN, UNSHARE, "/usr/sbin/ip", DOCKER, COMPOSE, BUSYBOX)
    DEBS = "podman iproute2 docker.io docker-compose busybox-static"

    def __init__(self, base=None, api_port=None, pool=None):
        super().__init__(base=base, api_port=api_port, pool=pool)
        self.conf = self.dir / "containers.conf"
        self.nproc = NPROC_DEFAULT

    def write_conf(self):
        """D/containers.conf (see the module's docstring for each setting)."""
        pool = self.pool or os.environ.get("REXEC_TEST_PODMAN_POOL", "10.214.0.0/16")
        hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        hard_nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        nofile = NOFILE_DEFAULT if hard_nofile == resource.RLIM_INFINITY else \
            min(NOFILE_DEFAULT, hard_nofile)
        nproc = NPROC_DEFAULT if hard_nproc == resource.RLIM_INFINITY else \
            min(NPROC_DEFAULT, hard_nproc)
        self.nproc = nproc
        for d in ("tmp", "net"):
            (self.dir / d).mkdir(exist_ok=True)
        self.conf.write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
            'log_driver = "k8s-file"\n'
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.dir}/events.log"\n'
            f'tmp_dir = "{self.dir}/tmp"\n'
            "[network]\n"
            'network_backend = "cni"\n'
            f'network_config_dir = "{self.dir}/net"\n'
            f'default_subnet_pools = [{{"base" = "{pool}", "size" = 24}}]\n')

    def run_args(self, args):
        """A `--ulimit` of a `docker run` replaces containers.conf's default_ulimits, and podman
        then gives RLIMIT_NPROC 1048576 again: the nproc limit this machine allows goes too."""
        if "--ulimit" in args and not any(str(a).startswith("nproc=") for a in args):
            return ["--ulimit", f"nproc={self.nproc}:{self.nproc}"]
        return []

    def engine_argv(self):
        """`podman system service` on D/sock, never timing out, with D's storage, in a network
        namespace of its own (see the module's docstring)."""
        self.write_conf()
        podman = [PODMAN, "--root", str(self.dir / "root"), "--runroot", str(self.dir / "run"),
                  "--storage-driver", "overlay", "system", "service", "--time=0", self.host]
        return [UNSHARE, "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] + \
            podman

    def engine_env(self):
        env = dict(os.environ)
        env["CONTAINERS_CONF"] = str(self.conf)
        return env

    def conmon_pids(self):
        """Pids of the conmon monitors of this engine's containers (their argv names D)."""
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    words = f.read().split(b"\0")
            except OSError:
                continue
            if words and os.path.basename(words[0]) == b"conmon" and \
                    any(str(self.dir).encode() + b"/" in w for w in words):
                found.append(int(name))
        return found

    def stop(self):
        """Remove every container (each has a conmon of its own), stop the API service by its
        pid, then kill by pid any conmon of D still there."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                ids = self.docker("ps", "-aq", check=False).stdout.split()
                if ids:
                    self.docker("rm", "-f", *ids, check=False)
            except (OSError, DockerEnvError) as e:
                print(f"podman_env: removing the containers failed: {e}")
        super().stop()
        deadline = time.monotonic() + docker_env.ENGINE_STOP_TIMEOUT
        while (left := self.conmon_pids()) and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)


def start_env():
    """docker_env.start_env() with podman."""
    return docker_env.start_env(PodmanEnv)


if __name__ == "__main__":
    # Manual check: python3 tests/e2e/podman_env.py  (starts, lists, tears down)
    docker_env.main(PodmanEnv)
