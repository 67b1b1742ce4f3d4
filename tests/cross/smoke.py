#!/usr/bin/python3
"""tests/cross/smoke.py AGENT CLIENT: a host-session smoke test of the aarch64 build on an x86_64
machine, run by `packaging/zig build cross-test`. Both programs run under Debian's
qemu-user-static, called explicitly (`qemu-aarch64-static BINARY`): binfmt_misc is not needed
and not used. It checks that `file` sees static aarch64 executables, starts the aarch64
`rexec-agent --dev` on loopback, then drives the aarch64 `rexec` through pipes and a real PTY:
a command's output, an exact exit code, stdin bytes through `cat`, an interactive shell.

Every wait has a bound (qemu-user is slow: the agent's start-up key generation takes seconds).
Exits 0 when every check held, 1 with the failed check and the agent's log otherwise.
"""
import os
import pathlib
import random
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time

import pexpect

QEMU = "qemu-aarch64-static"
AGENT_READY_TIMEOUT = 180.0
CLIENT_TIMEOUT = 120.0
LISTEN_RE = re.compile(rb"^rexec-agent: listening on 127\.0\.0\.1:(\d+)$")


class Failed(Exception):
    """A check that did not hold; the message says which and what was seen."""


def check(cond, what):
    """Raise Failed(WHAT) unless COND; print the passed check otherwise."""
    if not cond:
        raise Failed(what)
    print(f"cross-smoke: ok: {what.splitlines()[0]}", flush=True)


def check_file(path):
    """`file` says PATH is a statically linked ARM aarch64 executable with no interpreter."""
    out = subprocess.run(["file", "-L", path], capture_output=True, text=True,
                         timeout=30).stdout
    check("ARM aarch64" in out and ("statically linked" in out or "static-pie linked" in out)
          and "interpreter" not in out,
          f"{os.path.basename(path)} is a static aarch64 executable\n  file: {out.strip()}")


def start_agent(agent, state):
    """Start the aarch64 dev agent under qemu on 127.0.0.1:0; return (Popen, port, log path)."""
    log = state / "agent.stderr"
    with open(log, "wb") as err:
        proc = subprocess.Popen([QEMU, agent, "--dev", "--state-dir", str(state),
                                 "--listen", "127.0.0.1:0", "--grace", "1s"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                cwd=state)
    started = time.monotonic()
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    try:
        while b"\n" not in buf:
            left = AGENT_READY_TIMEOUT - (time.monotonic() - started)
            if left <= 0:
                raise Failed(f"the agent printed no listening line in {AGENT_READY_TIMEOUT:g} s;"
                             f" stdout {buf!r}")
            if not sel.select(left):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise Failed(f"the agent exited ({proc.wait(timeout=30)}) before listening;"
                             f" stdout {buf!r}")
            buf += chunk
    finally:
        sel.close()
    m = LISTEN_RE.match(buf.partition(b"\n")[0])
    check(m is not None, f"the aarch64 agent listens ({time.monotonic() - started:.1f} s"
                         f" under qemu)\n  stdout: {buf!r}")
    return proc, int(m.group(1)), log


def client(rexec, env, *args, data=b""):
    """Run the aarch64 `rexec ARGS...` under qemu with pipes; return CompletedProcess (bytes)."""
    return subprocess.run([QEMU, rexec, *args], input=data, capture_output=True, env=env,
                          timeout=CLIENT_TIMEOUT)


def pipe_checks(rexec, env):
    """A command's output, who ran it, an exact exit code and stdin bytes through `cat`."""
    # The remote command is the host's own uname: the agent's execve(2) reaches the kernel,
    # which runs the x86_64 program natively (qemu-user emulates only the aarch64 process).
    r = client(rexec, env, "dev", "--host", "--", "uname", "-m")
    host = os.uname().machine
    check(r.returncode == 0 and r.stdout == f"{host}\n".encode(),
          f"`rexec dev --host -- uname -m` prints this host's {host}\n  {r}")
    # The process that spawned the session is the aarch64 agent inside qemu-user.
    r = client(rexec, env, "dev", "--host", "--", "sh", "-c",
               'readlink /proc/$PPID/exe; tr "\\0" " " </proc/$PPID/cmdline')
    lines = r.stdout.decode(errors="replace").splitlines()
    check(r.returncode == 0 and len(lines) == 2 and lines[0].endswith("/" + QEMU)
          and "rexec-agent" in lines[1],
          f"the session's parent is the agent under {QEMU}\n  {r}")
    r = client(rexec, env, "dev", "--host", "--", "sh", "-c", "exit 7")
    check(r.returncode == 7, f"`sh -c 'exit 7'` exits 7 through rexec\n  {r}")
    data = bytes(range(256)) + random.Random(17).randbytes(256 * 1024)
    r = client(rexec, env, "dev", "--host", "cat", data=data)
    check(r.returncode == 0 and r.stdout == data,
          f"{len(data)} stdin bytes come back unchanged through `rexec dev --host cat`\n"
          f"  rc {r.returncode}, {len(r.stdout)} bytes back, stderr {r.stderr[-500:]!r}")


def tty_checks(rexec, env):
    """An interactive login shell on a real PTY: a TTY, its size, a command, `exit 3`."""
    child = pexpect.spawn(QEMU, [rexec, "dev", "--host"], env=env, dimensions=(30, 100),
                          timeout=CLIENT_TIMEOUT)
    try:
        # The typed line echoes `%s`, the answer carries the values: only the answer matches.
        child.sendline("printf 'tty=%s size=%s\\n' \"$(tty)\" \"$(stty size)\"")
        child.expect(r"tty=(/dev/pts/\d+) size=(\d+ \d+)\r\n")
        pts, size = child.match.group(1).decode(), child.match.group(2).decode()
        check(size == "30 100", f"the remote shell has a TTY ({pts}) of the client's size"
                                f" 30x100 (got {size})")
        child.sendline("exit 3")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    check(child.exitstatus == 3, f"`exit 3` in the TTY session exits the client with 3"
                                 f" (got {child.exitstatus}, signal {child.signalstatus})")


def main():
    agent, rexec = (os.path.abspath(a) for a in sys.argv[1:3])
    started = time.monotonic()
    binfmt = os.path.exists("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    print(f"cross-smoke: binfmt_misc has {'a' if binfmt else 'no'} qemu-aarch64 entry;"
          f" every binary runs as `{QEMU} BINARY` either way", flush=True)
    with tempfile.TemporaryDirectory(prefix="rexec-cross-") as tmp:
        state = pathlib.Path(tmp) / "agent"
        state.mkdir()
        env = dict(os.environ, REXEC_CONFIG=str(state / "client.conf"),
                   XDG_CACHE_HOME=str(pathlib.Path(tmp) / "cache"))
        proc = log = None
        try:
            check_file(agent)
            check_file(rexec)
            proc, _, log = start_agent(agent, state)
            pipe_checks(rexec, env)
            tty_checks(rexec, env)
            check(proc.poll() is None, "the agent is still running")
        except (Failed, subprocess.TimeoutExpired, pexpect.ExceptionPexpect) as e:
            print(f"cross-smoke: FAILED: {e}", file=sys.stderr)
            if log is not None:
                print(f"cross-smoke: agent log:\n{log.read_text(errors='replace')[-4000:]}",
                      file=sys.stderr)
            return 1
        finally:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)
    print(f"cross-smoke: all checks passed in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
