"""Proof of equivalence of the direct exec path (issue #5) with the engine's exec.

Two agents talk to the same test engine (module fixture engine_env: dockerd, and podman too for
the tests marked both_engines, ids [podman]): one started with `--exec-path engine` (the
engine's exec API: the reference), one with `--exec-path direct` (the agent joins the
container's namespaces and cgroup itself). Every test runs the same thing through both, in the
same container, and compares what the process sees.

Containers: one per configuration in CONFIGS (`docker run -d --network none ... sh` idling, or
the init of INITS), created on first use by a module fixture and removed (`docker rm -f`) at its
end. The engine's exec starts from the container's OCI spec (config.json), not from what its init
has become: one init drops its own privileges to show that the direct path does the same.

What "the same" means, and every place where it does not:
  - The probe (PROBE) prints, section by section, what the exec'd process itself (`$$`, the
    `sh` the agent started) sees: its fds, id, the Uid/Gid/Groups/Cap*/NoNewPrivs/Seccomp lines
    of /proc/$$/status, cgroups, hostname, namespace links, mountinfo, cwd, environment,
    rlimits, umask, oom_score_adj, LSM label, whether / is writable, and whether unshare(2) of
    a user namespace (blocked by Docker's default seccomp profile, allowed by the kernel
    otherwise) works. Each section's stdout+stderr and exit status are compared exactly.
  - Environment: read from /proc/$$/environ (exactly what the agent passed to execve; no
    PWD/SHLVL of the shell's own). Compared sorted: the order of environ entries is not part
    of the execution context (docker puts PATH, HOSTNAME first and runc appends HOME).
  - fds: pipe/socket inode numbers and the pty index are normalised to N (new objects per
    session); the kind of object and the open mode are compared.
  - Known difference, asserted as such: `--ulimit nofile=SOFT:HARD`. runc 1.1 (Debian 12's
    1.1.5, built with Go 1.19) sets an exec's rlimits with prlimit(2) on `runc init` after the
    Go runtime in it has already raised its RLIMIT_NOFILE soft limit to the hard limit
    (opencontainers/runc#4195, fixed by runc PR #4266): `docker exec` gets soft ==
    hard (always, on this machine) or, racing, the configured soft. The direct path must give
    exactly what the container was configured with and its init has (SOFT:HARD); the engine
    may show SOFT or HARD as its soft limit, nothing else.
Every compared session runs with `-v`: the direct agent's must say it went `direct` (so a silent
fall-back to the engine cannot pass), the engine agent's must not; the test of `-v` itself also
wants `engine` from the engine agent. A separate test checks on the host that a direct session
really bypasses the engine (no exec of the engine has its pid; the agent is its ancestor).

Waits are bounded; no test asserts a duration."""
import http.client
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import uuid

import pytest

from conftest import (Client, both_engines, ended, pids_with_arg, read_until, wait_for,
                      wait_gone, wait_present)
from test_exec_tty import tail_held_in_the_pty

IMAGE = "rexec-busybox:test"
IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
PATHS = ("engine", "direct")
# Grace (1 s) + HUP->KILL escalation + engine round trips + scheduling slack: a hang guard.
GONE_TIMEOUT = 30.0

# --- the containers -------------------------------------------------------------------------------

CONFIGS = {
    "default": [],
    "user-1000": ["--user", "1000"],
    # a user by name, a group by name and one by number (not in /etc/group)
    "user-app-group-add": ["--user", "app", "--group-add", "4242", "--group-add", "nogroup"],
    "user-uid-gid": ["--user", "1000:4242"],
    "cap-drop-all-add-net-bind": ["--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"],
    "no-new-privileges": ["--security-opt", "no-new-privileges"],
    # no_new_privs and a non-root user: the seccomp filter is installed after the caps drop
    "no-new-privileges-user-1000": ["--security-opt", "no-new-privileges", "--user", "1000"],
    "read-only": ["--read-only"],
    "group-add": ["--group-add", "4242"],
    "ulimit-nofile": ["--ulimit", "nofile=1234:2345"],
    "workdir-env": ["-w", "/tmp", "-e", "FOO=bar"],
    # no seccomp filter at all: the unshare probe must then succeed through both paths (this is
    # what shows that the seccomp section can tell a missing filter from a present one)
    "seccomp-unconfined": ["--security-opt", "seccomp=unconfined"],
    # an init that changes its own context once running (see INITS)
    "init-dropped-privileges": [],
}
# Inits other than IDLE. This one lowers its nofile limit, sets no_new_privs and becomes user
# app (losing its capabilities) after the runtime started it, as entrypoints that drop
# privileges (gosu, su-exec) do. `docker exec` starts from the container's spec, not from the
# init: the direct path must read the spec (config.json) too, not /proc/<init>.
INITS = {
    "init-dropped-privileges": ["sh", "-c", "ulimit -n 777; exec setpriv --nnp su -s /bin/sh app"
                                " -c " + shlex.quote(IDLE[2])],
}
# No --privileged container: on this machine the engine itself cannot create one (runc: "unable
# to apply caps: operation not permitted", the host's bounding set lacks capabilities).

# What each configuration must show through the engine (the reference), so that a comparison
# is never between two equally wrong contexts: (section, substring of its output).
ANCHORS = {
    "default": [("id", "uid=0(root) gid=0(root)"), ("status", "Seccomp:\t2"),
                ("unshare_user", "unshare rc=1")],
    "user-1000": [("id", "uid=1000(app) gid=1000(app)"), ("status", "CapEff:\t0000000000000000")],
    "user-app-group-add": [("id", "uid=1000(app)"), ("id", "4242"), ("id", "65534(nogroup)")],
    "user-uid-gid": [("id", "uid=1000(app) gid=4242")],
    "cap-drop-all-add-net-bind": [("status", "CapBnd:\t0000000000000400"),
                                  ("status", "CapEff:\t0000000000000400")],
    "no-new-privileges": [("status", "NoNewPrivs:\t1"), ("status", "Seccomp:\t2")],
    "no-new-privileges-user-1000": [("status", "NoNewPrivs:\t1"), ("id", "uid=1000(app)")],
    "read-only": [("write_root", "Read-only file system")],
    "group-add": [("id", "uid=0(root)"), ("id", "4242")],
    "ulimit-nofile": [("limits", "2345")],
    "workdir-env": [("cwd", "/tmp\n"), ("env", "FOO=bar\n")],
    "seccomp-unconfined": [("status", "Seccomp:\t0"), ("unshare_user", "unshare rc=0")],
    "init-dropped-privileges": [("id", "uid=0(root) gid=0(root)"), ("status", "NoNewPrivs:\t0"),
                                ("status", "CapEff:\t00000000a80425fb")],
}


class Containers:
    """Creates the container of a configuration on first use; remembers it for the module."""

    def __init__(self, env):
        self.env = env
        self.tag = uuid.uuid4().hex[:8]
        self.made = {}

    def __call__(self, config):
        if config not in self.made:
            name = f"rexec-direct-{config}-{self.tag}"
            self.env.docker("run", "-d", "--name", name, "--network", "none",
                            *CONFIGS[config], *self.env.run_args(CONFIGS[config]), IMAGE,
                            *INITS.get(config, IDLE))
            self.made[config] = name
        return self.made[config]


@pytest.fixture(scope="module")
def containers(engine_env):
    c = Containers(engine_env)
    yield c
    engine_env.remove(*c.made.values())


# --- the two agents -------------------------------------------------------------------------------


@pytest.fixture
def clients(start_agent, rexec_bin, engine_env):
    """{"engine": Client, "direct": Client}: one agent per exec path, same engine."""
    return {path: Client(rexec_bin, start_agent("--engine", engine_env.host,
                                                "--exec-path", path))
            for path in PATHS}


def says_path(r, path, strict=False):
    """`rexec -v` stderr says the session went `direct` through the direct agent (and not
    `engine`), and never `direct` through the engine agent. STRICT: the engine agent's must also
    say `engine` (only the test of -v itself asks that, so that the equivalence tests do not
    hang on the wording of the engine's side)."""
    text = r.stderr.decode(errors="replace")
    other = "engine" if path == "direct" else "direct"
    if path == "direct" or strict:
        assert re.search(rf"\b{path}\b", text), \
            f"`rexec -v` through the {path} agent does not say '{path}': stderr {text!r}"
    assert not re.search(rf"\b{other}\b", text), \
        f"`rexec -v` through the {path} agent says '{other}': stderr {text!r}"


def run_both(clients, container, *opts, cmd, input=b"", env=None, verbose=True):
    """The same `rexec [-v] -T OPTS dev --container C -- CMD` through both agents."""
    res = {}
    for path in PATHS:
        v = ("-v",) if verbose else ()
        res[path] = clients[path].run(*v, "-T", *opts, "dev", "--container", container, "--",
                                      *cmd, input=input, env=env)
        if verbose:
            says_path(res[path], path)
    return res


# --- the probe ------------------------------------------------------------------------------------

# (section, shell command). `$$` is the process the agent exec'd. Its own /proc files are opened
# by the shell itself (`{ cmd <&3; } 3< /proc/$$/FILE`: a redirection of a brace group, no fork)
# and only read by a child: with `-u 0` in a container whose user is 1000 the exec'd shell is not
# dumpable (through both paths), so a child could not open them (nor readlink its fds, cwd or
# namespaces: those come from the child's own /proc/self, which fork leaves the same: fds without
# close-on-exec, cwd, namespaces). Each section's stderr joins its stdout, then its exit status.
PROBE = [
    ("fds", "ls -l /proc/self/fd"),
    ("id", "id"),
    ("status", "{ grep -E '^(Uid|Gid|Groups|Cap[A-Za-z]+|NoNewPrivs|Seccomp|Seccomp_filters):'"
               " <&3; } 3< /proc/$$/status"),
    ("cgroup", "{ cat <&3; } 3< /proc/$$/cgroup"),
    ("hostname", "hostname"),
    # every namespace the kernel has (cgroup ipc mnt net pid pid_for_children time
    # time_for_children user uts): all joined, none new
    ("ns", "for n in $(ls /proc/self/ns); do echo \"$n $(readlink /proc/self/ns/$n)\"; done"),
    ("mountinfo", "{ cat <&3; } 3< /proc/$$/mountinfo"),
    ("cwd", "pwd; readlink /proc/self/cwd"),
    ("env", "{ tr '\\0' '\\n' <&3 | sort; } 3< /proc/$$/environ"),
    ("limits", "{ cat <&3; } 3< /proc/$$/limits"),
    ("umask", "umask"),
    ("oom_score_adj", "{ cat <&3; } 3< /proc/$$/oom_score_adj"),
    # the LSM label (AppArmor/SELinux); without an LSM both read EINVAL
    ("lsm_label", "{ cat <&3; } 3< /proc/$$/attr/current"),
    ("write_root", "touch /.rexec-direct-probe; echo \"touch rc=$?\"; rm -f /.rexec-direct-probe"),
    # unshare(CLONE_NEWUSER) needs no capability; Docker's default seccomp profile refuses it
    # (EPERM): it fails the same way through both paths only if the filter is the same
    ("unshare_user", "busybox unshare -U true; echo \"unshare rc=$?\""),
]
PROBE_SCRIPT = "\n".join(f"echo '@@ {name}'; {{ {cmd} ; }} 2>&1; echo \"rc=$?\""
                         for name, cmd in PROBE)
NUM = re.compile(r"\d+")


def sections(stdout):
    out, cur = {}, None
    for line in stdout.decode(errors="replace").splitlines(keepends=True):
        if line.startswith("@@ "):
            cur = line[3:].strip()
            out[cur] = ""
        elif cur is not None:
            out[cur] += line
    return out


def normalise_fds(text):
    """`ls -l` of an fd directory -> "MODE FD -> TARGET" with numbers in TARGET as N (pipe and
    socket inodes, pty index). The line of ls's own directory fd (no target) is dropped."""
    rows = []
    for line in text.splitlines():
        if " -> " not in line:
            if line.startswith("rc="):
                rows.append(line)
            continue
        left, target = line.split(" -> ", 1)
        words = left.split()
        rows.append(f"{words[0]} {words[-1]} -> {NUM.sub('N', target)}")
    return "\n".join(rows) + "\n"


def probe(clients, container, *opts):
    res = run_both(clients, container, *opts, cmd=["sh", "-c", PROBE_SCRIPT])
    got = {}
    for path, r in res.items():
        assert r.returncode == 0, (f"{path}: probe exit {r.returncode}; stdout {r.stdout!r};"
                                   f" stderr {r.stderr!r}")
        s = sections(r.stdout)
        assert list(s) == [name for name, _ in PROBE], f"{path}: probe output {r.stdout!r}"
        s["fds"] = normalise_fds(s["fds"])
        readable(path, s)
        got[path] = s
    return got["engine"], got["direct"]


def readable(path, s):
    """Each section read what it should: no comparison of two identical errors."""
    ns = s["ns"].splitlines()
    assert ns[-1] == "rc=0" and all(re.fullmatch(r"(\w+) (\w+):\[\d+\]", l) for l in ns[:-1]), \
        f"{path}: ns {s['ns']!r}"
    assert {l.split()[0] for l in ns[:-1]} >= {"cgroup", "ipc", "mnt", "net", "pid", "uts"}, ns
    fds = s["fds"].splitlines()
    assert [l.split()[1] for l in fds[:3]] == ["0", "1", "2"] and fds[-1] == "rc=0", \
        f"{path}: fds {s['fds']!r}"
    for name, what in (("status", "CapEff:\t"), ("cgroup", ":/"), ("mountinfo", " / / "),
                       ("env", "PATH="), ("limits", "Max open files"), ("cwd", "/"),
                       ("oom_score_adj", "\n")):
        assert what in s[name] and s[name].endswith("rc=0\n"), f"{path}: {name} {s[name]!r}"


NOFILE = re.compile(r"^Max open files\s+(\S+)\s+(\S+)\s+files\s*$", re.M)


def nofile(limits_text):
    m = NOFILE.search(limits_text)
    assert m, f"no 'Max open files' line in {limits_text!r}"
    return m.group(1), m.group(2)


def differences(engine, direct, skip=()):
    return [f"--- {k}\n  engine: {engine[k]!r}\n  direct: {direct[k]!r}"
            for k in engine if k not in skip and engine[k] != direct[k]]


# podman's default seccomp profile (containers-common's) allows unshare(CLONE_NEWUSER), which
# Docker's refuses: under podman every configuration may unshare (the two paths must still agree).
UNSHARE_REFUSED = {"docker": True, "podman": False}


def check_anchors(config, engine, kind):
    for section, text in ANCHORS.get(config, []):
        if text == "unshare rc=1" and not UNSHARE_REFUSED[kind]:
            text = "unshare rc=0"
        assert text in engine[section], \
            (f"the {config} container does not look configured (engine path, section"
             f" {section}): expected {text!r} in {engine[section]!r}")


# --- per container configuration: the whole context -----------------------------------------------


@both_engines
@pytest.mark.parametrize("config", list(CONFIGS))
def test_direct_exec_context_equals_engine_exec(clients, containers, engine_env, config):
    name = containers(config)
    engine, direct = probe(clients, name)
    check_anchors(config, engine, engine_env.KIND)
    skip = ()
    if config == "ulimit-nofile":
        # runc 1.1's nofile soft-limit bug (runc#4195; see the module docstring): the direct
        # path has exactly the configured 1234:2345 (as the container's init has), the engine's
        # exec the configured soft or the hard limit as its soft limit; the other limits agree.
        assert nofile(direct["limits"]) == ("1234", "2345"), direct["limits"]
        assert nofile(engine["limits"]) in {("1234", "2345"), ("2345", "2345")}, engine["limits"]
        assert NOFILE.sub("", engine["limits"]) == NOFILE.sub("", direct["limits"]), \
            differences(engine, direct)
        skip = ("limits",)
    diffs = differences(engine, direct, skip)
    assert not diffs, f"{config}: the direct path differs from the engine's exec:\n" + \
        "\n".join(diffs)


def _status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)


@both_engines
def test_direct_exec_takes_the_spec_not_what_the_init_made_of_itself(clients, containers,
                                                                      engine_env):
    # The init really did change itself (else the comparison in the test above proves
    # nothing for this container) ...
    name = containers("init-dropped-privileges")
    init = engine_env.host_pid(name)
    st = _status(init)
    assert (st["Uid"].split()[0], st["NoNewPrivs"], st["CapEff"]) == \
        ("1000", "1", "0000000000000000"), st
    with open(f"/proc/{init}/limits") as f:
        assert nofile(f.read()) == ("777", "777")
    # ... and the exec, through both paths, has none of it.
    res = run_both(clients, name, cmd=["sh", "-c", "id -u; grep -E '^(NoNewPrivs|CapEff):' "
                                       "/proc/self/status; ulimit -n"])
    for path, r in res.items():
        assert r.returncode == 0, (path, r.stderr)
        assert r.stdout.decode().split("\n")[:3] == \
            ["0", "CapEff:\t00000000a80425fb", "NoNewPrivs:\t0"], (path, r.stdout)
        assert r.stdout.split(b"\n")[3] != b"777", (path, r.stdout)


@both_engines
@pytest.mark.parametrize("config", ["default", "ulimit-nofile", "user-1000"])
def test_direct_exec_rlimits_are_the_inits(clients, containers, engine_env, config):
    """The direct path's limits are those of the container's spec over the runtime's own
    (which the init inherited too): for an init that left them alone, its /proc/PID/limits."""
    name = containers(config)
    with open(f"/proc/{engine_env.host_pid(name)}/limits") as f:
        init_limits = f.read()
    r = clients["direct"].run("-T", "dev", "--container", name, "--", "cat", "/proc/self/limits")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == init_limits


SPEC_KEPT = b"the container's spec, as read before"


def test_direct_exec_keeps_the_spec_per_init_only(start_agent, rexec_bin, engine_env):
    """The direct agent keeps what it took from a container's spec per init (pid and start
    time): its second exec in a container takes it from memory (its -vv log says so) and
    still has the engine's context; a container recreated under the same name, with another
    spec, is read afresh and the exec has the new context, not the remembered one."""
    direct_agent = start_agent("--engine", engine_env.host, "--exec-path", "direct", "-vv")
    clients = {"engine": Client(rexec_bin, start_agent("--engine", engine_env.host,
                                                       "--exec-path", "engine")),
               "direct": Client(rexec_bin, direct_agent)}
    name = f"rexec-direct-respec-{uuid.uuid4().hex[:8]}"

    def kept():
        return direct_agent.stderr_path.read_bytes().count(SPEC_KEPT)

    def same_as_engine(what):
        engine, direct = probe(clients, name)
        diffs = differences(engine, direct)
        assert not diffs, f"{what}: the direct path differs from the engine's exec:\n" + \
            "\n".join(diffs)
        return direct

    try:
        engine_env.docker("run", "-d", "--name", name, "--network", "none",
                             *CONFIGS["no-new-privileges-user-1000"], "--cap-drop", "ALL",
                             "--cap-add", "NET_BIND_SERVICE", IMAGE, *IDLE)
        first = same_as_engine("the first exec")
        assert kept() == 0
        again = same_as_engine("the second exec, from the kept spec")
        assert kept() == 1, "the second exec in the same init read the spec again"
        assert again == first
        assert "NoNewPrivs:\t1" in first["status"] and "uid=1000(app)" in first["id"], first
        engine_env.docker("rm", "-f", name)
        engine_env.docker("run", "-d", "--name", name, "--network", "none", IMAGE, *IDLE)
        second = same_as_engine("an exec in the container recreated under the same name")
        assert kept() == 1, "the recreated container's spec was taken from memory"
        assert "NoNewPrivs:\t0" in second["status"] and "uid=0(root)" in second["id"], second
    finally:
        engine_env.remove(name)


# --- exec options (-u -w -e) through both paths ---------------------------------------------------

OVERRIDES = [
    ("default", ("-u", "1000")),
    ("default", ("-u", "app")),
    ("default", ("-u", "1000:4242")),
    ("default", ("-u", "app:nogroup")),
    ("default", ("-u", "4321")),                # a uid without a passwd entry (HOME=/ from runc)
    ("user-1000", ("-u", "0")),                 # root again in a container whose user is 1000
    ("user-1000", ("-u", "root")),
    ("cap-drop-all-add-net-bind", ("-u", "1000")),
    ("no-new-privileges", ("-u", "1000")),
    ("group-add", ("-u", "1000")),              # does the container's --group-add apply to -u?
    ("default", ("-w", "/tmp")),
    ("default", ("-e", "FOO=bar", "-e", "HOSTNAME=over", "-e", "PATH=/bin:/usr/bin")),
    ("workdir-env", ("-w", "/home/app", "-e", "FOO=baz")),
    ("default", ("-u", "1000", "-w", "/home/app", "-e", "X=y")),
]


@pytest.mark.parametrize("config,opts", OVERRIDES,
                         ids=[f"{c}:{' '.join(o)}" for c, o in OVERRIDES])
def test_direct_exec_options_give_the_engines_context(clients, containers, config, opts):
    engine, direct = probe(clients, containers(config), *opts)
    diffs = differences(engine, direct)
    assert not diffs, (f"{config} with {' '.join(opts)}: the direct path differs from the"
                       " engine's exec:\n" + "\n".join(diffs))


def test_direct_exec_options_take_effect(clients, containers):
    # The comparison above is only worth something if the options do something: the reference.
    engine, direct = probe(clients, containers("default"), "-u", "1000", "-w", "/home/app",
                           "-e", "X=y")
    for s in (engine, direct):
        assert s["id"].startswith("uid=1000(app) gid=1000(app)"), s["id"]
        assert s["cwd"] == "/home/app\n/home/app\nrc=0\n", s["cwd"]
        assert "X=y\n" in s["env"] and "HOME=/home/app\n" in s["env"], s["env"]


@pytest.mark.parametrize("user,want", [
    ("app", b"uid=1000(app) gid=1000(app)"),
    # a group named: no groups that list the user, as runc does it
    ("app:nogroup", b"uid=1000(app) gid=65534(nogroup) groups=65534(nogroup)\n"),
    ("1000:4242", b"uid=1000(app) gid=4242 groups=4242\n"),
])
def test_direct_exec_user_and_group_as_runc_resolves_them(clients, containers, user, want):
    res = run_both(clients, containers("default"), "-u", user, cmd=["id"])
    assert res["engine"].returncode == 0 and res["engine"].stdout.startswith(want), \
        res["engine"]
    assert (res["direct"].returncode, res["direct"].stdout) == \
        (0, res["engine"].stdout), res["direct"].stderr


def test_direct_exec_finds_a_user_past_the_first_pages_of_passwd(clients, engine_env):
    """A user and group listed after 8 KiB of others (the agent reads small files on the stack
    and larger ones again into a buffer of their size limit): both paths agree."""
    name = f"rexec-direct-bigpasswd-{uuid.uuid4().hex[:8]}"
    engine_env.docker("run", "-d", "--name", name, "--network", "none", IMAGE, *IDLE)
    try:
        fill = "; ".join([
            "for i in $(seq 1 400); do echo \"filler$i:x:$((3000 + i)):$((3000 + i))::/:/bin/sh\""
            " >> /etc/passwd; echo \"fgroup$i:x:$((3000 + i)):\" >> /etc/group; done",
            "echo late:x:2345:2346::/late:/bin/sh >> /etc/passwd",
            "echo lategrp:x:2346: >> /etc/group",
            "echo extra:x:2347:late >> /etc/group",
            "wc -c /etc/passwd /etc/group"])
        sizes = engine_env.docker("exec", name, "sh", "-c", fill).stdout.split()
        assert int(sizes[0]) > 8192 and int(sizes[2]) > 4096, sizes
        res = run_both(clients, name, "-u", "late", cmd=["id"])
        for path, r in res.items():
            assert (r.returncode, r.stdout) == (
                0, b"uid=2345(late) gid=2346(lategrp) groups=2346(lategrp),2347(extra)\n"), \
                (path, r.stdout, r.stderr)
    finally:
        engine_env.remove(name)


# --- the seccomp filter: a blocked syscall fails the same way -------------------------------------


EPERM_UNSHARE = (b"unshare: unshare(0x10000000): Operation not permitted\n", 1)


@pytest.mark.parametrize("config,expect", [
    ("default", EPERM_UNSHARE),
    ("no-new-privileges-user-1000", EPERM_UNSHARE),
    ("cap-drop-all-add-net-bind", EPERM_UNSHARE),
    ("seccomp-unconfined", (b"", 0)),
])
@both_engines
def test_direct_exec_seccomp_blocks_the_same_syscalls(clients, containers, engine_kind, config,
                                                      expect):
    """unshare(CLONE_NEWUSER) needs no capability: only the seccomp filter refuses it (EPERM in
    Docker's default profile, allowed by podman's). Without a filter (seccomp=unconfined) it
    works, through both."""
    if not UNSHARE_REFUSED[engine_kind]:
        expect = (b"", 0)
    res = run_both(clients, containers(config), cmd=["busybox", "unshare", "-U", "true"])
    for path, r in res.items():
        err = b"".join(l for l in r.stderr.splitlines(keepends=True)
                       if not l.startswith(b"rexec:"))
        assert (err, r.returncode) == expect, f"{path}: stderr {r.stderr!r}"


# --- which path, really ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_direct_exec_verbose_names_the_path(clients, containers, path):
    r = clients[path].run("-v", "-T", "dev", "--container", containers("default"), "--", "true")
    assert r.returncode == 0, r.stderr
    says_path(r, path, strict=True)


def test_auto_takes_the_engine_path_and_direct_warns(start_agent, agent_bin, rexec_bin,
                                                      containers, engine_env):
    # Until the direct path passes the hostile-container tests, `auto` (the default) takes
    # the engine's exec; `direct` must be asked for, and the agent says at start-up that it is
    # not yet proven safe, in its log and in --help.
    auto = Client(rexec_bin, start_agent("--engine", engine_env.host))
    r = auto.run("-v", "-T", "dev", "--container", containers("default"), "--", "true")
    assert r.returncode == 0, r.stderr
    says_path(r, "engine", strict=True)
    direct = start_agent("--engine", engine_env.host, "--exec-path", "direct")
    assert re.search(r"exec path direct: .*not yet proven safe", direct.log()), direct.log()
    assert "not yet proven safe" not in auto.agent.log()
    h = subprocess.run([str(agent_bin), "--help"], capture_output=True, text=True, timeout=30)
    assert re.search(r"--exec-path[^\n]*auto[^-]*direct \(WARNING", h.stdout), h.stdout


def _ancestors(pid):
    seen = []
    while pid > 1:
        try:
            with open(f"/proc/{pid}/status") as f:
                pid = int(next(l for l in f if l.startswith("PPid:")).split()[1])
        except (OSError, StopIteration):
            break
        seen.append(pid)
    return seen


def _engine_get(engine_env, url):
    """GET URL from the test engine's API socket (JSON)."""
    conn = http.client.HTTPConnection("localhost", timeout=30)
    conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.sock.settimeout(30)
    conn.sock.connect(str(engine_env.sock))
    try:
        conn.request("GET", url)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, (url, resp.status, body)
        return json.loads(body)
    finally:
        conn.close()


def _exec_pids(engine_env, name):
    """Host pids of the execs the engine runs in container NAME."""
    ids = engine_env.inspect(name)["ExecIDs"] or []
    return {_engine_get(engine_env, f"/exec/{i}/json").get("Pid") for i in ids}


@both_engines
@pytest.mark.parametrize("path", PATHS)
def test_direct_exec_bypasses_the_engine(clients, containers, engine_env, marker, path):
    """On the host: a direct session is the agent's descendant and no exec of the engine; an
    engine session is an exec the engine knows (by its host pid), not the agent's child."""
    name = containers("default")
    client = clients[path]
    p = client.popen("-T", "dev", "--container", name, "--", "sleep", marker)
    try:
        (pid,) = wait_present(marker)
        if path == "engine":
            # the engine records the exec's pid a moment after the process exists: wait for it
            engine_exec = bool(wait_for(lambda: pid in _exec_pids(engine_env, name), 20.0,
                                        f"the engine to list pid {pid} as an exec of {name}"))
        else:
            engine_exec = pid in _exec_pids(engine_env, name)
        in_agent = client.agent.pid in _ancestors(pid)
        init = engine_env.host_pid(name)
        same_ns = {n: os.readlink(f"/proc/{pid}/ns/{n}") == os.readlink(f"/proc/{init}/ns/{n}")
                   for n in ("pid", "mnt", "net", "ipc", "uts", "cgroup", "user")}
    finally:
        p.kill()
        p.wait(timeout=10)
    wait_gone(marker, GONE_TIMEOUT)
    assert all(same_ns.values()), f"namespaces shared with the container's init: {same_ns}"
    want = (False, True) if path == "direct" else (True, False)
    assert (engine_exec, in_agent) == want, \
        (f"{path} session: an exec of the engine: {engine_exec};"
         f" agent {client.agent.pid} among its ancestors: {in_agent}")


# --- stdio, exit codes, signals, no orphans: what the engine path guarantees ----------------------


@both_engines
@pytest.mark.parametrize("path", PATHS)
def test_direct_exec_stdin_bytes_are_exact(clients, containers, path):
    blob = os.urandom(1 << 20) + b"\0\r\n\x03\x04\xff"
    r = clients[path].run("-T", "dev", "--container", containers("default"), "--", "cat",
                          input=blob)
    assert (r.returncode, len(r.stdout), r.stdout == blob) == (0, len(blob), True), r.stderr


@pytest.mark.parametrize("path", PATHS)
def test_direct_exec_stdin_eof_and_pipe(clients, containers, path):
    r = clients[path].run("-T", "dev", "--container", containers("default"), "--", "cat",
                          input=b"hi\n")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hi\n", b"")
    r = clients[path].run("-T", "dev", "--container", containers("default"), "--", "wc", "-l",
                          input=b"a\nb\nc\n")
    assert (r.returncode, r.stdout.strip()) == (0, b"3"), r.stderr


@pytest.mark.parametrize("path", PATHS)
def test_direct_exec_stdin_from_dev_null_is_dev_null(clients, containers, path):
    p = clients[path].popen("-T", "dev", "--container", containers("default"), "--", "sh", "-c",
                            "readlink /proc/self/fd/0; cat", stdin=subprocess.DEVNULL)
    out, err = p.communicate(timeout=60)
    assert (p.returncode, out) == (0, b"/dev/null\n"), err


@pytest.mark.parametrize("path", PATHS)
def test_direct_exec_stdout_and_stderr_stay_apart(clients, containers, path):
    r = clients[path].run("-T", "dev", "--container", containers("default"), "--", "sh", "-c",
                          "echo to-out; echo to-err >&2; echo more-out")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"to-out\nmore-out\n", b"to-err\n")


@pytest.mark.parametrize("path", PATHS)
def test_direct_exec_no_command_runs_sh(clients, containers, path):
    r = clients[path].run("-T", "dev", "--container", containers("default"),
                          input=b"echo from-sh-$((6*7)); exit 4\n")
    assert (r.returncode, r.stdout) == (4, b"from-sh-42\n"), r.stderr


@both_engines
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("code", [0, 1, 3, 42, 255])
def test_direct_exec_exit_code(clients, containers, path, code):
    r = clients[path].run("-T", "dev", "--container", containers("default"), "--", "sh", "-c",
                          f"exit {code}")
    assert r.returncode == code, r.stderr


@both_engines
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("sig,code", [("KILL", 137), ("TERM", 143), ("INT", 130)])
def test_direct_exec_killed_by_signal_gives_128_plus_n(clients, containers, path, sig, code):
    r = clients[path].run("-T", "dev", "--container", containers("default"), "--", "sh", "-c",
                          f"trap - {sig}; kill -{sig} $$; sleep 5")
    assert r.returncode == code, r.stderr


# rexec(1), EXIT STATUS: command not found 127; not executable or could not start (e.g. -w to
# a missing directory) 126; refused by the agent (no such user) 125. The same through both paths.
START_FAILURES = {
    "not-found": ((), ["no-such-command"], 127),
    "not-executable": ((), ["/etc/passwd"], 126),
    "unknown-user": (("-u", "nosuch"), ["true"], 125),
    "missing-workdir": (("-w", "/no/such/dir"), ["true"], 126),
}


@both_engines
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", list(START_FAILURES))
def test_direct_exec_start_failure_exit_code(clients, containers, case, path):
    opts, cmd, want = START_FAILURES[case]
    r = clients[path].run("-T", *opts, "dev", "--container", containers("default"), "--", *cmd)
    assert (r.returncode, r.stdout) == (want, b""), r.stderr
    assert r.stderr.startswith(b"rexec:"), r.stderr


TRAP = "trap 'echo got-{sig}; exit 42' {sig}; echo ready; while :; do sleep 1; done"


@both_engines
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("sig", ["TERM", "INT", "HUP", "USR1"])
def test_direct_exec_signal_to_the_client_reaches_a_trap(clients, containers, path, sig):
    p = clients[path].popen("-T", "dev", "--container", containers("default"), "--", "sh", "-c",
                            TRAP.format(sig=sig))
    with ended(p):
        early = read_until(p.stdout, b"ready\n", 30)
        p.send_signal(getattr(signal, "SIG" + sig))
        stdout, stderr = p.communicate(timeout=30)
        stdout = early + stdout
    assert (p.returncode, stdout) == (42, f"ready\ngot-{sig}\n".encode()), stderr


@pytest.mark.parametrize("path", PATHS)
def test_direct_exec_sigterm_ends_an_untrapping_process_with_143(clients, containers, marker,
                                                                  path):
    p = clients[path].popen("-T", "dev", "--container", containers("default"), "--",
                            "sleep", marker)
    with ended(p):
        wait_present(marker)
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
    assert p.returncode == 143
    wait_gone(marker, GONE_TIMEOUT)


@both_engines
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("tty", ["-T", "-t"])
def test_direct_exec_sigkill_client_leaves_no_orphans(clients, containers, engine_env,
                                                      marker, path, tty):
    name = containers("default")
    main_before = engine_env.state(name)
    other = marker + "1"
    p = clients[path].popen(tty, "dev", "--container", name, "--", "sh", "-c",
                            f"sleep {other} & trap '' HUP TERM INT; exec sleep {marker}")
    try:
        wait_present(marker)
        wait_present(other)
    finally:
        p.kill()
        p.wait(timeout=10)
    wait_gone(marker, GONE_TIMEOUT)
    wait_gone(other, GONE_TIMEOUT)
    clients[path].agent.assert_alive()
    after = engine_env.state(name)
    assert (after["Running"], after["Pid"], after["StartedAt"]) == \
        (True, main_before["Pid"], main_before["StartedAt"]), "the container itself must stay up"


@pytest.mark.parametrize("path", PATHS)
def test_direct_exec_leaves_the_main_process_alone(clients, containers, engine_env, path):
    name = containers("default")
    before = engine_env.state(name)
    r = clients[path].run("-T", "dev", "--container", name, "--", "sh", "-c", "kill -TERM $$")
    assert r.returncode == 143, r.stderr
    after = engine_env.state(name)
    assert (after["Running"], after["Pid"], after["StartedAt"]) == \
        (True, before["Pid"], before["StartedAt"])


# --- with a TTY -----------------------------------------------------------------------------------

TTY_PROBE = ("tty; [ -t 0 ] && [ -t 1 ] && echo is-tty;"
             " for f in 0 1 2; do readlink /proc/self/fd/$f; done; ls /dev/pts;"
             " { tr '\\0' '\\n' <&3 | sort; } 3< /proc/$$/environ")


@both_engines
def test_direct_exec_tty_is_the_containers(clients, containers):
    """-t: the process's terminal is a pty of the container's own devpts (/dev/pts/N inside,
    so ttyname() works and `tty` names it), as runc's console is; TERM as the engine sets it.
    Numbers are normalised (the pty index is the session's)."""
    name = containers("default")
    got = {}
    for path in PATHS:
        r = clients[path].run("-v", "-t", "dev", "--container", name, "--", "sh", "-c",
                              TTY_PROBE, env={"TERM": "xterm"})
        assert r.returncode == 0, (path, r.stdout, r.stderr)
        says_path(r, path)
        got[path] = NUM.sub("N", r.stdout.decode(errors="replace").replace("\r\n", "\n"))
    assert got["engine"].startswith("/dev/pts/N\nis-tty\n/dev/pts/N\n"), got["engine"]
    assert "TERM=xterm\n" in got["engine"], got["engine"]
    assert got["direct"] == got["engine"]


@pytest.mark.parametrize("tty", ["-t", "-T"])
@pytest.mark.parametrize("path", PATHS)
def test_direct_exec_burst_then_exit_arrives_whole(clients, containers, path, tty):
    """A burst larger than the pty's buffers, then an exit at once: every byte arrives, run
    after run (a regression guard: the tail-held test below is the one that fails every time
    when a PTY master's tail is lost)."""
    name = containers("default")
    short = []
    for i in range(10):
        r = clients[path].run(tty, "dev", "--container", name, "--", "sh", "-c",
                              "head -c 300000 /dev/zero | tr '\\0' x; exit")
        assert r.returncode == 0, (path, r.stderr)
        if r.stdout != b"x" * 300000:
            short.append((i, len(r.stdout)))
    assert short == [], f"{path} {tty}: runs (index, bytes) that lost output: {short}"


@pytest.mark.parametrize("path", PATHS)
def test_direct_exec_tail_held_in_the_pty_at_exit_arrives(clients, containers, path, marker):
    """The same with the tail still in the pty when the process exits (the client is behind):
    the agent drains the master (direct) or the engine does (engine)."""
    tail_held_in_the_pty(clients[path], ["--container", containers("default")], marker)


@pytest.mark.parametrize("mode", ["engine", "auto", "direct"])
def test_direct_exec_detach_leaves_the_process_running(start_agent, rexec_bin, containers,
                                                       engine_env, marker, mode):
    """-d: the engine path and `auto` (which may hand -d to the engine) leave the process
    running in the container; a forced direct path does the same or refuses (125, one line)."""
    client = Client(rexec_bin, start_agent("--engine", engine_env.host, "--exec-path", mode))
    name = containers("default")
    r = client.run("-d", "dev", "--container", name, "--", "sleep", marker)
    if mode == "direct" and r.returncode == 125:
        lines = r.stderr.decode(errors="replace").splitlines()
        assert len(lines) == 1 and lines[0].startswith("rexec:"), r.stderr
        assert not pids_with_arg(marker), "refused, yet the process was started"
        return
    assert (r.returncode, r.stdout) == (0, b""), r.stderr
    (pid,) = wait_present(marker)
    init = engine_env.host_pid(name)
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{init}/ns/pid")
    assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink(f"/proc/{init}/ns/mnt")
    client.agent.assert_alive()
