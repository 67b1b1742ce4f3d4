"""A real Docker Engine for the container tests and the container benchmark.

DockerEnv starts Debian's `dockerd` (docker.io) with everything in a short temp dir D
(data-root D/data, exec-root D/exec, pidfile D/pid, socket unix://D/sock; `--iptables=false
--ip6tables=false --bridge=none`: no host firewall changes, no default bridge shared with any
other engine on this machine), imports a tiny image made from busybox-static, brings up the
compose projects in tests/e2e/compose with Debian's `docker-compose` (1.29), and stops the
engine by its pid (SIGTERM, then SIGKILL). Plain Python, no pytest: tests/e2e/conftest.py
wraps it in a session fixture, tests/bench/container_bench.py uses it directly. Failures raise
DockerEnvError with the engine's log tail.

Compose projects (see compose/*/docker-compose.yml):
  shop  web x2 (environment GREETING/SHOP_ROLE, working_dir /srv/web), worker (prints a tick
        line a second), api (depends_on db, ports 127.0.0.1:$REXEC_TEST_API_PORT:80), db,
        console (stdin_open + tty, command sh: for attach)
  blog  web (a second project with a service named web: `web` alone is ambiguous)
Every main process exits at once on SIGTERM, so stop/down are fast.
"""
import json
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
COMPOSE_DIR = HERE / "compose"
IMAGE = "rexec-busybox:test"
DOCKER = "/usr/bin/docker"          # Debian's CLI (20.10), the engine's own version
DOCKERD = "/usr/sbin/dockerd"
COMPOSE = "/usr/bin/docker-compose"  # Debian's docker-compose 1.29
BUSYBOX = "/bin/busybox"             # from busybox-static
PROJECTS = ("shop", "blog")
SCALE = {"shop": {"web": 2}}
# The image's applets (symlinks to /bin/busybox). Nothing that talks to a network.
APPLETS = """sh ash ls cat echo sleep id stty env pwd true false ps kill mkdir hostname grep
    egrep wc head tail tr printf touch test [ [[ sed awk cut sort uniq cp mv rm rmdir ln chmod
    chown readlink realpath basename dirname date seq timeout tty whoami uname xargs tee yes dd
    od hexdump stat mktemp nproc sync which expr setsid usleep cmp diff find md5sum su
    setpriv""".split()

ENGINE_READY_TIMEOUT = 90.0
ENGINE_STOP_TIMEOUT = 30.0
CMD_TIMEOUT = 180.0


class DockerEnvError(RuntimeError):
    pass


def free_port():
    """A TCP port free right now on all addresses, below the kernel's ephemeral range (so no
    outgoing connection takes it meanwhile): for a published port."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        s = socket.socket()
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            continue
        finally:
            s.close()
        return port
    raise DockerEnvError("no free port in 20000-32000")


class DockerEnv:
    NAME = "dockerd"  # the engine, as logs and messages name it; the pytest id is KIND
    KIND = "docker"
    TOOLS = (DOCKERD, DOCKER, COMPOSE, BUSYBOX)
    DEBS = "docker.io docker-compose busybox-static"

    def __init__(self, base=None, api_port=None, userns_remap=False, pool=None,
                 compose_dir=COMPOSE_DIR, projects=PROJECTS):
        # Unix socket paths must stay short (< 108 bytes): a temp dir right under /tmp.
        self.dir = pathlib.Path(base) if base else pathlib.Path(
            tempfile.mkdtemp(prefix="rxd", dir="/tmp"))
        self.sock = self.dir / "sock"
        self.host = f"unix://{self.sock}"
        self.log_path = self.dir / f"{self.NAME}.log"
        # userns-remap: containers in a user namespace of their own (root is the host's
        # 100000, dockerd's `dockremap` range, which dockerd adds to /etc/passwd and
        # /etc/subuid itself on first use)
        self.userns_remap = userns_remap
        self.pool = pool
        # COMPOSE_DIR/PROJECT/docker-compose.yml for each of PROJECTS (the demo has its own)
        self.compose_dir = pathlib.Path(compose_dir).resolve()
        self.projects = tuple(projects)
        self.proc = None
        self.api_port = api_port or free_port()
        self.env = dict(os.environ)
        self.env["DOCKER_HOST"] = self.host
        self.env["REXEC_TEST_API_PORT"] = str(self.api_port)
        self.env["COMPOSE_INTERACTIVE_NO_CLI"] = "1"
        self.env.pop("DOCKER_CONTEXT", None)
        self.env.pop("DOCKER_CONFIG", None)
        self.env["DOCKER_CONFIG"] = str(self.dir / "cli")  # no user config, no credential helper

    # --- the engine ---------------------------------------------------------------------

    def log_tail(self, lines=40):
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"(no {self.NAME} log)"
        return "\n".join(text.splitlines()[-lines:])

    def fail(self, msg):
        raise DockerEnvError(f"{msg}\n--- {self.NAME} log tail ({self.log_path}) ---\n"
                             f"{self.log_tail()}")

    def engine_argv(self):
        """The engine's command line (dockerd here; PodmanEnv's is podman's API service)."""
        # Compose networks come from a pool of its own (256 /24s in 10.213/16), so an engine
        # left over from an earlier run (its bridges stay) cannot exhaust docker's default pools.
        # REXEC_TEST_ADDRESS_POOL gives a second engine run at the same time a pool of its own.
        pool = self.pool or os.environ.get("REXEC_TEST_ADDRESS_POOL", "10.213.0.0/16")
        argv = [DOCKERD, "--iptables=false", "--ip6tables=false", "--bridge=none",
                "--default-address-pool", f"base={pool},size=24",
                "--data-root", str(self.dir / "data"), "--exec-root", str(self.dir / "exec"),
                "--pidfile", str(self.dir / "pid"), "--host", self.host]
        if self.userns_remap:
            argv.append("--userns-remap=default")
            # the remapped root must be able to reach its layers under the data root
            os.chmod(self.dir, 0o755)
        return argv

    def engine_env(self):
        """The engine's environment (None: this process's)."""
        return None

    def start(self, timeout=ENGINE_READY_TIMEOUT):
        for tool in self.TOOLS:
            if not os.path.exists(tool):
                raise DockerEnvError(f"{tool} missing: install {self.DEBS}"
                                     " (tests/run-e2e does)")
        argv = self.engine_argv()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.dir,
                                         env=self.engine_env(), start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.fail(f"{self.NAME} exited ({self.proc.returncode}) before it was ready")
            if self.sock.exists():
                r = subprocess.run([DOCKER, "version", "--format", "{{.Server.APIVersion}}"],
                                   env=self.env, capture_output=True, text=True, timeout=30)
                if r.returncode == 0:
                    self.api_version = r.stdout.strip()
                    return self
            if time.monotonic() >= deadline:
                self.fail(f"{self.NAME} not answering on {self.sock} after {timeout:g}s")
            time.sleep(0.1)

    def stop(self):
        """SIGTERM dockerd by its pid (it stops its containers and its containerd), SIGKILL if it
        lingers. Only the engine this object started."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=ENGINE_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=ENGINE_STOP_TIMEOUT)

    def cleanup(self):
        """Take the projects down (their networks' bridges would outlive the engine), stop
        the engine, then remove its directory (container layers included)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.down_all()
                self.docker("network", "prune", "-f", check=False)
            except (OSError, subprocess.SubprocessError, DockerEnvError):
                pass
        self.stop()
        # Leftover mounts under data/ (a killed engine) would make rmtree fail: unmount first.
        try:
            with open("/proc/self/mounts") as f:
                mounts = [l.split()[1] for l in f if l.split()[1].startswith(str(self.dir) + "/")]
            for m in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)
        except OSError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- CLI wrappers --------------------------------------------------------------------

    def docker(self, *args, check=True, timeout=CMD_TIMEOUT, input=None):
        """`docker ARGS` against this engine; returns CompletedProcess (text)."""
        r = subprocess.run([DOCKER] + [str(a) for a in args], env=self.env, capture_output=True,
                           text=True, timeout=timeout, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and r.returncode != 0:
            self.fail(f"docker {' '.join(map(str, args))} exited {r.returncode}:"
                      f" {r.stderr.strip()}")
        return r

    def compose(self, project, *args, check=True, timeout=CMD_TIMEOUT):
        f = self.compose_dir / project / "docker-compose.yml"
        r = subprocess.run([COMPOSE, "--no-ansi", "-p", project, "-f", str(f)]
                           + [str(a) for a in args], env=self.env, capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                           cwd=f.parent)
        if check and r.returncode != 0:
            self.fail(f"docker-compose -p {project} {' '.join(map(str, args))} exited"
                      f" {r.returncode}: {r.stderr.strip()}")
        return r

    def inspect(self, *names):
        """`docker inspect` as parsed JSON: one dict per name (a list for several)."""
        r = self.docker("inspect", *names)
        data = json.loads(r.stdout)
        return data[0] if len(names) == 1 else data

    def exists(self, name):
        return self.docker("inspect", "--type", "container", name, check=False).returncode == 0

    def state(self, name):
        return self.inspect(name)["State"]

    def running(self, name):
        return self.state(name)["Running"]

    def ids(self, *filters, all=True):
        """Container ids matching `docker ps --filter F` for each F (e.g. "label=a=b")."""
        args = ["ps", "-q", "--no-trunc"] + (["-a"] if all else [])
        for f in filters:
            args += ["--filter", f]
        return self.docker(*args).stdout.split()

    def containers(self, project=None, service=None, oneoff=None, all=True):
        """Inspect dicts of compose containers, filtered by label."""
        filters = ["label=com.docker.compose.project" + (f"={project}" if project else "")]
        if service:
            filters.append(f"label=com.docker.compose.service={service}")
        if oneoff is not None:
            filters.append(f"label=com.docker.compose.oneoff={'True' if oneoff else 'False'}")
        ids = self.ids(*filters, all=all)
        if not ids:
            return []
        found = self.inspect(*ids)
        return found if isinstance(found, list) else [found]

    def name_of(self, project, service, number=1):
        """The container name of replica NUMBER of a service (compose 1.29: P_S_N)."""
        for c in self.containers(project, service, oneoff=False):
            if c["Config"]["Labels"].get("com.docker.compose.container-number") == str(number):
                return c["Name"].lstrip("/")
        raise DockerEnvError(f"no container {project}/{service}#{number}")

    def run_args(self, args):
        """What a `docker run ARGS` needs besides ARGS on this engine (nothing for dockerd)."""
        return []

    def remove(self, *names_or_ids):
        if names_or_ids:
            self.docker("rm", "-f", *names_or_ids, check=False)

    def host_pid(self, name):
        """The host pid of a container's main process (0 when not running)."""
        return self.state(name)["Pid"]

    # --- image and projects ----------------------------------------------------------------

    def build_image(self, tag=IMAGE):
        """A rootfs with busybox-static's /bin/busybox and applet symlinks, a passwd with root
        and app (1000:1000), imported as TAG."""
        root = self.dir / "rootfs"
        if root.exists():
            shutil.rmtree(root)
        for d in ("bin", "etc", "tmp", "root", "home/app", "srv", "proc", "sys", "dev", "mnt",
                  "var/tmp"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(BUSYBOX, root / "bin/busybox")
        for applet in APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                         "app:x:1000:1000::/home/app:/bin/sh\n"
                                         "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        (root / "etc/group").write_text("root:x:0:\napp:x:1000:\nnogroup:x:65534:\n")
        (root / "etc/hosts").write_text("127.0.0.1 localhost\n")
        os.chmod(root / "tmp", 0o1777)
        os.chmod(root / "var/tmp", 0o1777)
        os.chmod(root / "root", 0o700)
        os.chown(root / "home/app", 1000, 1000)
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(root), "-c", "."],
                               stdout=subprocess.PIPE)
        imp = subprocess.run([DOCKER, "import", "-", tag], stdin=tar.stdout, env=self.env,
                             capture_output=True, text=True, timeout=CMD_TIMEOUT)
        tar.stdout.close()
        tar.wait(timeout=CMD_TIMEOUT)
        if tar.returncode != 0 or imp.returncode != 0:
            self.fail(f"image import failed: tar {tar.returncode}, docker import"
                      f" {imp.returncode}: {imp.stderr.strip()}")
        shutil.rmtree(root)
        return tag

    def up(self, project):
        args = ["up", "-d", "--no-color", "--quiet-pull"]
        for service, n in SCALE.get(project, {}).items():
            args += ["--scale", f"{service}={n}"]
        self.compose(project, *args)

    def up_all(self):
        for p in self.projects:
            self.up(p)
        self.ensure_up()
        return self

    def ensure_up(self):
        """Start any stopped container of the compose projects (not one-off ones): a test that
        stopped a service or ended the console shell leaves the next one a whole stack."""
        stopped = [c["Id"] for c in self.containers(oneoff=False)
                   if not c["State"]["Running"]
                   and c["Config"]["Labels"].get("com.docker.compose.project") in self.projects]
        if stopped:
            self.docker("start", *stopped)
        want = {(p, s): n for p in self.projects for s, n in SCALE.get(p, {}).items()}
        running = self.containers(oneoff=False, all=False)
        for (p, s), n in want.items():
            have = sum(1 for c in running
                       if c["Config"]["Labels"]["com.docker.compose.project"] == p
                       and c["Config"]["Labels"]["com.docker.compose.service"] == s)
            if have < n:
                self.fail(f"{p}/{s}: {have} of {n} replicas running")

    def down_all(self):
        for p in self.projects:
            self.compose(p, "down", "--remove-orphans", "-t", "5", check=False)


def start_env(cls=DockerEnv):
    """Engine (CLS: DockerEnv, or podman_env.PodmanEnv) + image + both projects up; on failure
    the engine is stopped and the error (with the engine's log tail) raised."""
    env = cls()
    try:
        env.start()
        env.build_image()
        env.up_all()
    except BaseException:
        env.cleanup()
        raise
    return env


def main(cls=DockerEnv):
    """Manual check: starts CLS's engine with the projects, lists them, tears down."""
    e = start_env(cls)
    try:
        print(f"{e.NAME}: engine API {e.api_version} on {e.host}")
        print(e.docker("ps", "-a", "--format", "{{.Names}}\t{{.Status}}\t{{.Ports}}").stdout)
    finally:
        e.down_all()
        e.cleanup()


if __name__ == "__main__":
    # Manual check: python3 tests/e2e/docker_env.py  (starts, lists, tears down)
    main()
