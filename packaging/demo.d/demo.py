"""The rexec demo (`packaging/zig build demo`, through packaging/demo): real sessions against
real agents on this machine, each printed as `$ command`, its output and `[exit N]`.

1. A dev agent on loopback (`rexec-agent --dev`: a throwaway CA, certificates and policy in a
   temp dir) and host sessions against it, as the demo always showed.
2. When a container engine can be started: Debian's dockerd (docker.io, installed when missing
   with the e2e suite's packages), started as the e2e suite starts it (tests/e2e/docker_env.py:
   data-root, exec-root, pidfile and socket in the temp dir, --iptables=false
   --ip6tables=false --bridge=none), an image made offline from busybox-static and the compose
   project packaging/demo.d/site; then an exec with a TTY, a ^C and a SIGTERM reaching the
   process through it, a `run --rm` one-off and `rexec ps`. Otherwise one line says why.
3. A fan-out over three more dev agents (group `demo` of the inventory), plain and --group.

Environment: REXEC_BIN_DIR (rexec, rexec-agent; required); REXEC_DEMO_ENGINE=none skips the
container engine (step 2), unset or `docker` tries it.

Everything the demo starts (agents, dockerd with its containerd and containers, their mounts,
the temp dir) is ended by pid or removed on every way out: the end, an error, ^C, SIGTERM or
SIGHUP. It never talks to a system dockerd: every agent gets the demo's own engine socket (or
a path where nothing listens), never the default /var/run/docker.sock.
"""
import fcntl
import os
import pathlib
import pty
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time

TOP = pathlib.Path(__file__).resolve().parent.parent.parent
# The throwaway engine is the e2e suite's (plain Python, no pytest; tests/bench uses it too):
# one way of starting and stopping a dockerd that leaves the host's engine alone, not a copy.
sys.path.insert(0, str(TOP / "tests" / "e2e"))
import docker_env  # noqa: E402

ENGINE_DEBS = ("docker.io", "docker-compose", "busybox-static")  # as tests/run-e2e's list
IMAGE = "rexec-busybox:demo"  # packaging/demo.d/site/docker-compose.yml names it
PROJECT = "site"
NODES = ("node1", "node2", "node3")
READY_TIMEOUT = 30.0  # an agent's `listening on` line
STOP_TIMEOUT = 15.0   # an agent's exit after SIGTERM
STEP_TIMEOUT = 60.0   # one shown command


class Demo:
    """What the demo started, so that cleanup() can end it: agents (Popen), the engine
    (docker_env.DockerEnv) and the temp dir."""

    def __init__(self, bin_dir):
        self.bin = pathlib.Path(bin_dir)
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="rexec-demo.", dir="/tmp"))
        self.agents = {}  # name -> [Popen, state dir, "127.0.0.1:PORT" once listening]
        self.engine = None
        self.env = dict(os.environ)
        # The clients' session tickets and service cache stay in the temp dir, not in $HOME.
        for var, sub in (("XDG_CACHE_HOME", "cache"), ("XDG_RUNTIME_DIR", "run")):
            (self.dir / sub).mkdir(mode=0o700)
            self.env[var] = str(self.dir / sub)
        self.env["REXEC_CONFIG"] = str(self.dir / "demo.yaml")

    # --- the engine --------------------------------------------------------------------------

    def start_engine(self):
        """Starts the throwaway engine with project site up; returns None, or why there is none
        (one line)."""
        want = os.environ.get("REXEC_DEMO_ENGINE", "docker")
        if want == "none":
            return "REXEC_DEMO_ENGINE=none skips it"
        if want not in ("", "docker"):
            return f"REXEC_DEMO_ENGINE={want}: docker or none, not {want}"
        if os.geteuid() != 0:
            return f"not root (uid {os.geteuid()}): a throwaway dockerd needs root"
        r = subprocess.run([str(TOP / "packaging" / "apt-install"), *ENGINE_DEBS],
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            return f"{' '.join(ENGINE_DEBS)} missing and apt-get could not install them"
        say("starting a throwaway dockerd (its own data-root, exec-root and socket"
            f" under {self.dir}/engine)")
        (self.dir / "engine").mkdir()
        self.engine = docker_env.DockerEnv(base=self.dir / "engine",
                                           compose_dir=TOP / "packaging" / "demo.d",
                                           projects=(PROJECT,))
        try:
            self.engine.start()
            self.engine.build_image(IMAGE)
            self.engine.up(PROJECT)
        except docker_env.DockerEnvError as e:
            tail = [l for l in self.engine.log_tail(5).splitlines() if l.strip()]
            why = str(e).splitlines()[0] + (f" (dockerd: {tail[-1][:200]})" if tail else "")
            self.stop_engine()
            return why
        return None

    def stop_engine(self):
        """Projects down, dockerd stopped by its pid, leftover mounts unmounted, dir removed."""
        if self.engine is not None:
            self.engine.cleanup()
            self.engine = None

    # --- agents ------------------------------------------------------------------------------

    def start_agents(self, engine_url):
        """Starts the dev agent `dev` (with ENGINE_URL) and NODES (no engine) at once, each a
        `rexec-agent --dev` with its own state dir on 127.0.0.1:0, and waits for their
        `listening on` lines. node3 runs with umask 077, the others with 022: one host that
        differs, for --group."""
        no_engine = f"unix://{self.dir}/no-engine.sock"  # nothing listens there
        for name in ("dev",) + NODES:
            sd = self.dir / name
            sd.mkdir()
            argv = [str(self.bin / "rexec-agent"), "--dev", "--state-dir", str(sd),
                    "--listen", "127.0.0.1:0",
                    "--engine", engine_url if name == "dev" and engine_url else no_engine]
            with open(sd / "agent.out", "wb") as out, open(sd / "agent.log", "wb") as log:
                # A session of its own: a ^C at the terminal reaches the demo, which ends it.
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=log,
                                        start_new_session=True,
                                        umask=0o077 if name == "node3" else 0o022)
            self.agents[name] = [proc, sd, None]
        deadline = time.monotonic() + READY_TIMEOUT
        for name, a in self.agents.items():
            proc, sd, _ = a
            while a[2] is None:
                for line in (sd / "agent.out").read_text(errors="replace").splitlines():
                    if line.startswith("rexec-agent: listening on "):
                        a[2] = line.split()[-1]
                if a[2] is None:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log = (sd / "agent.log").read_text(errors="replace")
                        raise SystemExit(f"demo: the dev agent {name} did not start:\n{log}")
                    time.sleep(0.05)

    def write_inventory(self):
        """The client's config: host `dev`, and NODES in group `demo`; each agent has its own
        dev CA, so each host names its CA and client certificate."""
        lines = ["# The demo's inventory (packaging/demo.d/demo.py writes it).", "hosts:"]
        for name, (_, sd, addr) in self.agents.items():
            groups = "" if name == "dev" else ", groups: [demo]"
            lines.append(f'  {name}: {{ address: "{addr}", server_name: dev{groups},'
                         f' ca: {sd}/ca.pem, cert: {sd}/client.pem,'
                         f' key: {sd}/client-key.pem }}')
        (self.dir / "demo.yaml").write_text("\n".join(lines) + "\n")

    def stop_agents(self):
        """SIGTERM each agent by its pid, SIGKILL one that is still there after STOP_TIMEOUT."""
        for proc, _, _ in self.agents.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _, _ in self.agents.values():
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def cleanup(self):
        """Ends everything the demo started, then removes its temp dir. Signals are held off
        meanwhile: a second ^C must not leave an engine running."""
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
        pids = " ".join(str(p.pid) for p, _, _ in self.agents.values())
        engine_pid = self.engine.proc.pid if self.engine and self.engine.proc else None
        try:
            self.stop_agents()
        finally:
            self.stop_engine()  # when this fails, the dir stays: the engine's socket is in it
        shutil.rmtree(self.dir, ignore_errors=True)
        say(f"cleaned up: agents (pids {pids or 'none'})"
            + (f", dockerd (pid {engine_pid}) and its containers" if engine_pid else "")
            + f", {self.dir}")

    # --- showing commands --------------------------------------------------------------------

    def argv(self, args):
        return [str(self.bin / "rexec")] + list(args)

    def show(self, *args, note=None):
        """Runs `rexec ARGS` (stdin /dev/null, stderr with stdout) and prints it as a person
        would see it: the command, its output, its exit status."""
        shown(args, note)
        r = subprocess.run(self.argv(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=self.env, timeout=STEP_TIMEOUT)
        out(r.stdout, r.returncode)

    def show_pipe(self, text, *args):
        """`printf TEXT | rexec ARGS`: stdin is a pipe, its EOF reaches the remote process."""
        shown(args, None, pipe=text)
        r = subprocess.run(self.argv(args), input=text.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=self.env, timeout=STEP_TIMEOUT)
        out(r.stdout, r.returncode)

    def show_tty(self, *args, note=None, actions=()):
        """Runs `rexec ARGS` on a new pseudo-terminal of 24x80, its controlling terminal as in a
        terminal window (pty.fork, as script(1) does), so rexec gives the remote a TTY. ACTIONS:
        (TEXT, WHAT) pairs done in turn once the output shows TEXT: WHAT is "^C" (typed on the
        terminal) or a signal number (sent to rexec by its pid)."""
        shown(args, note)
        argv, env = self.argv(args), dict(self.env, TERM="xterm")
        pid, master = pty.fork()
        if pid == 0:
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        data, todo, done = b"", list(actions), False
        deadline = time.monotonic() + STEP_TIMEOUT
        try:
            while True:
                while todo and todo[0][0].encode() in data:
                    what = todo.pop(0)[1]
                    if what == "^C":
                        os.write(master, b"\x03")
                    else:
                        os.kill(pid, what)
                left = deadline - time.monotonic()
                if left <= 0:
                    data += b"\n(demo: gave up after %ds)\n" % STEP_TIMEOUT
                    break
                if select.select([master], [], [], min(left, 1.0))[0]:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # EIO: the terminal's other side is closed
                        chunk = b""
                    if not chunk:
                        done = True
                        break
                    data += chunk
        finally:
            if not done:  # interrupted or given up: rexec goes too
                os.kill(pid, signal.SIGKILL)
            os.close(master)
            _, st = os.waitpid(pid, 0)
        out(data.replace(b"\r\n", b"\n"), os.waitstatus_to_exitcode(st))

    # --- the demo ----------------------------------------------------------------------------

    def run(self):
        subprocess.run([str(self.bin / "rexec"), "--version"], check=True)
        why = self.start_engine()
        self.start_agents(self.engine.host if self.engine else None)
        self.write_inventory()
        agents = ", ".join(f"{n} {a[2]} (pid {a[0].pid})" for n, a in self.agents.items())
        say(f"temp dir {self.dir}; dev agents: {agents}")
        if self.engine:
            say(f"dockerd pid {self.engine.proc.pid} on {self.engine.host}, project"
                f" {PROJECT} up (packaging/demo.d/{PROJECT}/docker-compose.yml)")
        else:
            say(f"no container engine: {why}; showing host sessions only")
        say(f"rexec is {self.bin}/rexec; REXEC_CONFIG={self.dir}/demo.yaml (hosts dev,"
            f" {', '.join(NODES)} in group demo)")

        print("\n## Host sessions (ssh-style, on the agent's host)")
        self.show("dev", "--host", "--", "uname", "-sr")
        self.show("dev", "--host", "--", "sh", "-c",
                  "echo to stdout; echo to stderr >&2; exit 3")
        self.show_pipe("one\ntwo\nthree\n", "dev", "--host", "--", "sort", "-r")
        self.show("dev", "--host", "-u", "nobody", "-w", "/tmp", "-e", "GREETING=hello", "--",
                  "sh", "-c", 'echo "$GREETING from $(id -un) in $(pwd)"')
        self.show("dev", "--host", "--", "sh", "-c", "kill -9 $$")
        self.show("dev", "--host", "--", "no-such-command")

        if self.engine:
            print(f"\n## Containers (compose project {PROJECT} on the demo's dockerd)")
            self.show_tty("dev", "web", "sh", "-c",
                          'echo "$GREETING on $(tty) in $(pwd)"',
                          note="on a terminal: the exec gets a TTY")
            self.show_tty("dev", "web", "sh", "-c",
                          'trap "echo got INT" INT; trap "echo got TERM; exit 143" TERM;'
                          " echo waiting for signals; while :; do sleep 1; done",
                          note="the demo types ^C, then sends rexec SIGTERM: both reach"
                          " the process", actions=(("waiting for signals", "^C"),
                                                   ("got INT", signal.SIGTERM)))
            self.show("run", "--rm", "dev", "web", "sh", "-c",
                      'echo "one-off container $(hostname): GREETING=$GREETING"')
            self.show("ps", "dev", note="the one-off is gone: --rm removed it")
            print("\n# ssh into a service through the agent's SSH front: not yet, rexec has no"
                  " SSH front so far")

        print("\n## Fan-out over group demo (three more dev agents)")
        self.show("@demo", "--host", "--", "uname", "-s")
        self.show("@demo", "--group", "--host", "--", "sh", "-c", 'echo "umask $(umask)"',
                  note="node3's agent runs with umask 077: --group sets it apart")

        print("\nTry it yourself (interactive shell; ~. drops the session):")
        print(f"  {self.bin}/rexec-agent --dev --state-dir /tmp/rexec-dev &")
        print(f"  {self.bin}/rexec --config /tmp/rexec-dev/client.conf dev --host")


def say(text):
    print(f"demo: {text}")


def shown(args, note, pipe=None):
    """Prints the command as typed (`rexec` for the binary's path), with NOTE as a comment."""
    if note:
        print(f"\n# {note}")
    else:
        print()
    prefix = f"printf {shlex.quote(pipe)} | ".replace("\n", "\\n") if pipe is not None else ""
    print(f"$ {prefix}{shlex.join(['rexec'] + list(args))}")


def out(data, status):
    """A command's output, then its exit status (`[exit N]`, `[killed by SIG]` for rexec
    itself killed)."""
    text = data.decode(errors="replace")
    sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
    if status < 0:
        print(f"[killed by {signal.Signals(-status).name}]")
    else:
        print(f"[exit {status}]")


def on_signal(sig, _frame):
    """SIGTERM and SIGHUP end the demo as ^C does: through the finally that cleans up."""
    raise SystemExit(128 + sig)


def main():
    bin_dir = os.environ.get("REXEC_BIN_DIR")
    if not bin_dir:
        sys.exit("demo: REXEC_BIN_DIR must name the directory of rexec and rexec-agent")
    # Line by line: the output of the commands shown goes straight to the same stdout.
    sys.stdout.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    demo = Demo(bin_dir)
    try:
        demo.run()
    except KeyboardInterrupt:
        print("\ndemo: interrupted")
        return 130
    finally:
        demo.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
