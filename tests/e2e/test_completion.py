"""Shell completion (packaging/completions/, client/complete.c) in the real shells, from the
files the default install step put under zig-out/share: bash (the function driven through
COMP_WORDS, with bash-completion and without; an interactive bash pressing TAB twice), zsh (an
interactive `zsh -f` with compinit, TAB) and fish (`complete -C`). The candidates come from a
real inventory, the parser's option table (checked against `--help`) and a real service cache
(filled by the real client asking a real agent with the compose fixture; hostile entries are
written into the file directly, in svccache.c's format, since no client writes them). Every
inventory here points at hosts that never answer: completion must not dial."""
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import BIN_DIR, CLIENT_TIMEOUT, close_child
from fleet_env import Silent, refused_addr

TOP = pathlib.Path(__file__).resolve().parents[2]
SRC = TOP / "packaging" / "completions"
# A sanitized build's binaries live in zig-out/san/bin; the scripts in zig-out/share either way.
SHARE = BIN_DIR.parent / "share" if (BIN_DIR.parent / "share").is_dir() else TOP / "zig-out" / "share"
INSTALLED = {
    "rexec.bash": SHARE / "bash-completion" / "completions" / "rexec",
    "_rexec": SHARE / "zsh" / "vendor-completions" / "_rexec",
    "rexec.fish": SHARE / "fish" / "vendor_completions.d" / "rexec.fish",
}
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9]|[=>])")
HOSTS = ["web-1", "web-2", "db-1"]
GROUPS = ["@all", "@prod", "@eu", "@db"]
VERBS = ["exec", "run", "attach", "ps", "ca", "cert", "version"]


def shell_env(base, tmp_path, config):
    """BASE with a home and a runtime directory (the service cache's) of the test's own, the
    installed scripts found through XDG_DATA_DIRS, rexec on PATH and REXEC_CONFIG=CONFIG."""
    home, run = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    run.mkdir(mode=0o700)
    env = dict(base, HOME=str(home), XDG_RUNTIME_DIR=str(run), XDG_DATA_DIRS=str(SHARE),
               REXEC_CONFIG=str(config), PATH=f"{BIN_DIR}:{os.environ['PATH']}", TERM="xterm")
    for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "BASH_COMPLETION_USER_DIR", "ZDOTDIR"):
        env.pop(k, None)
    return env


class Shells:
    """The back end and the real shells, run with ENV."""

    def __init__(self, env):
        self.env = env
        self.cache = pathlib.Path(env["XDG_RUNTIME_DIR"]) / "rexec-services"

    def run(self, argv, env=None):
        return subprocess.run(argv, capture_output=True, env=env or self.env,
                              timeout=CLIENT_TIMEOUT)

    def raw(self, *words, env=None):
        """`rexec __complete WORDS...`: (candidates without descriptions, directive)."""
        r = self.run(["rexec", "__complete", *words], env=env or self.env)
        assert r.returncode == 0 and r.stderr == b"", r
        lines = r.stdout.decode().splitlines()
        assert lines and lines[-1].startswith(":"), lines
        return [l.split("\t")[0] for l in lines[:-1]], lines[-1]

    def bash(self, *words, lib=True, env=None):
        """COMPREPLY of _rexec for the command line WORDS (the last the word being completed),
        with bash-completion loaded (it finds the installed script through XDG_DATA_DIRS, as
        it finds /usr/share's) or, LIB false, the script sourced into a plain bash."""
        load = (f"source {BASH_COMPLETION}; __load_completion rexec || exit 9"
                if lib else f"source {INSTALLED['rexec.bash']}")
        script = (load + '; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; '
                  'COMP_POINT=${#COMP_LINE}; _rexec; printf "%s\\n" "${COMPREPLY[@]}"')
        r = self.run(["bash", "--norc", "--noprofile", "-c", script, "bash", *words],
                     env=env or self.env)
        assert r.returncode == 0 and r.stderr == b"", r
        return [l for l in r.stdout.decode().splitlines() if l]

    def fish(self, line, env=None):
        """What fish completes for LINE (`complete -C`), the installed script found on
        fish_complete_path through XDG_DATA_DIRS."""
        r = self.run(["fish", "-c", "complete -C $argv[1]", line], env=env or self.env)
        assert r.returncode == 0 and r.stderr == b"", r
        return [l.split("\t")[0] for l in r.stdout.decode().splitlines()]

    def spawn(self, shell, lib=True):
        """An interactive SHELL (bash with bash-completion, LIB false: with the script alone;
        or zsh -f with compinit and the installed _rexec on fpath) on a PTY, at its prompt
        "CP> "."""
        import pexpect
        if shell == "zsh":
            child = pexpect.spawn("zsh", ["-f"], env=self.env, encoding="utf-8",
                                  dimensions=(40, 200), timeout=CLIENT_TIMEOUT)
            setup = (f"PS1='CP> '; fpath=({INSTALLED['_rexec'].parent} $fpath); "
                     "autoload -Uz compinit; compinit -u -D; echo SET''UP")
        else:
            child = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], env=self.env,
                                  encoding="utf-8", dimensions=(40, 200), timeout=CLIENT_TIMEOUT)
            setup = (f"PS1='CP> '; source {BASH_COMPLETION}; echo SET''UP" if lib else
                     f"PS1='CP> '; source {INSTALLED['rexec.bash']}; echo SET''UP")
        child.sendline(setup)
        child.expect("SETUP")
        child.expect("CP> ")
        return child


class Env(Shells):
    """An inventory whose hosts never answer (web-1 accepts and stays silent, the others
    refuse: a dial would hang or fail), in a directory of the test's own."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.silent = Silent(accepting=False)
        self.config = tmp_path / "inv.yaml"
        down = refused_addr()
        self.config.write_text(
            "hosts:\n"
            f"  web-1: {{ address: \"{self.silent.addr}\", groups: [prod, eu] }}\n"
            f"  web-2: {{ address: \"{down}\", groups: [prod] }}\n"
            f"  db-1: {{ address: \"{down}\", groups: [db, eu] }}\n"
            "defaults: { connect_timeout: 5s }\n")
        super().__init__(shell_env(os.environ, tmp_path, self.config))

    def close(self):
        self.silent.close()

    def cache_lines(self, *entries):
        """Writes the service cache: (SERVICE, HOSTS) pairs under our config, in the format
        client/svccache.c reads, expiring in 10 s."""
        exp = int(time.time()) + 10
        with open(self.cache, "wb") as f:
            for svc, hosts in entries:
                svc = svc.encode() if isinstance(svc, str) else svc
                f.write(b"%d\t%s\t%s\t%s\n" % (exp, str(self.config).encode(), svc,
                                               hosts.encode()))

    def no_dial(self):
        """Nothing connected to the host that never answers. Its listener takes no connection
        itself: the kernel queues them in the order they came, so when ours is the only one
        queued, no completion connected before it (no thread to wait for: on a loaded
        machine, waiting on one is what flakes)."""
        ip, port = self.silent.addr.rsplit(":", 1)
        with socket.create_connection((ip, int(port)), timeout=10) as ours:
            peers = self.silent.queued(60)
            assert peers, "our own connection was never queued"
            assert peers == [ours.getsockname()], f"completion connected to an agent: {peers}"


@pytest.fixture
def cenv(tmp_path):
    e = Env(tmp_path)
    yield e
    e.close()


# --- install ---------------------------------------------------------------------------------


def test_install_puts_each_script_where_its_shell_looks():
    for src, dest in INSTALLED.items():
        assert dest.is_file(), f"{dest} missing: the default install step installs it"
        assert dest.read_bytes() == (SRC / src).read_bytes(), dest
    assert (SRC / "_rexec").read_text().startswith("#compdef rexec\n")


# --- the back end ----------------------------------------------------------------------------


def test_verbs_hosts_and_groups_at_the_first_word(cenv):
    cands, directive = cenv.raw("")
    assert cands == VERBS + HOSTS + GROUPS, cands
    assert directive == ":"
    assert cenv.raw("we")[0] == ["web-1", "web-2"]
    assert cenv.raw("@")[0] == GROUPS
    # a comma list: its last term
    assert cenv.raw("web-1,@e")[0] == ["web-1,@eu"]
    # ps takes a selector: no verbs after it, hosts and groups only
    assert cenv.raw("ps", "")[0] == HOSTS + GROUPS
    cenv.no_dial()


def long_options_of_help(rexec_bin, *verb):
    r = subprocess.run([rexec_bin, *verb, "--help"], capture_output=True, text=True,
                       timeout=CLIENT_TIMEOUT)
    assert r.returncode == 0, r.stderr
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", r.stdout))


@pytest.mark.parametrize("verb", ["exec", "run", "attach", "ps"])
def test_options_are_the_parsers(cenv, rexec_bin, verb):
    cands, _ = cenv.raw(verb, "--")
    assert set(cands) - {"--sig-proxy=false"} == long_options_of_help(rexec_bin, verb), cands
    # and each one the parser takes for this verb (an unknown one is a usage error, 2)
    for opt in cands:
        r = subprocess.run([rexec_bin, verb, opt.split("=")[0], "--help"], capture_output=True,
                           timeout=CLIENT_TIMEOUT)
        assert b"not an option of" not in r.stderr and b"unknown option" not in r.stderr, opt


def test_run_and_exec_options_differ(cenv):
    run = cenv.raw("run", "web-1", "-")[0]
    exe = cenv.raw("exec", "web-1", "-")[0]
    assert "--rm" in run and "--entrypoint" in run and "-p" in run
    assert "--rm" not in exe and "--entrypoint" not in exe and "-p" not in exe
    assert "--privileged" in exe and "--host" in exe
    assert "--privileged" not in run and "--host" not in run
    # -v: --verbose for exec, --volume for run
    assert cenv.raw("exec", "--vo")[0] == [] and cenv.raw("run", "--vo")[0] == ["--volume"]
    # exec is the default verb: its options before any verb
    assert cenv.raw("--pri")[0] == ["--privileged"]


@pytest.mark.parametrize("words, want, directive", [
    (("--config", ""), [], ":files"),
    (("run", "web-1", "--user", ""), [], ":"),
    (("exec", "-w", ""), [], ":"),
    (("ca", ""), ["init", "crl"], ":"),
    (("ca", "init", ""), [], ":dirs"),
    (("ca", "crl", "--out", ""), [], ":files"),
    (("cert", ""), ["issue", "show", "revoke"], ":"),
    (("cert", "issue", "--ca", ""), [], ":dirs"),
    (("cert", "show", "--host", "w"), ["web-1", "web-2"], ":"),
    (("cert", "revoke", ""), [], ":files"),
    (("web-1", "--", ""), [], ":"),
    (("version", ""), [], ":"),
])
def test_values_and_subcommands(cenv, words, want, directive):
    assert cenv.raw(*words) == (want, directive)


@pytest.mark.parametrize("verb, sub", [("ca", "init"), ("ca", "crl"), ("cert", "issue"),
                                       ("cert", "show"), ("cert", "revoke")])
def test_ca_and_cert_options_are_in_their_usage(cenv, rexec_bin, verb, sub):
    cands = set(cenv.raw(verb, sub, "--")[0]) - {"--help"}
    usage = long_options_of_help(rexec_bin, verb)
    line = next(l for l in subprocess.run([rexec_bin, verb, "--help"], capture_output=True,
                                          text=True).stdout.splitlines()
                if f"rexec {verb} {sub}" in l)
    assert cands and cands <= usage, (cands, usage)
    # the usage line of SUB names each (issue's continues on two more lines)
    if sub != "issue":
        assert cands == set(re.findall(r"--[a-z]+", line)), (cands, line)


def test_config_on_the_line_and_in_the_environment(cenv, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text("hosts:\n  lab-9: { address: \"127.0.0.1:1\", groups: [lab] }\n")
    assert cenv.raw("--config", str(other), "")[0] == VERBS + ["lab-9", "@all", "@lab"]
    assert cenv.raw(f"--config={other}", "l")[0] == ["lab-9"]
    assert cenv.raw("run", "--config", str(other), "@")[0] == ["@all", "@lab"]
    env = dict(cenv.env, REXEC_CONFIG=str(other))
    assert cenv.raw("l", env=env)[0] == ["lab-9"]
    assert cenv.bash("rexec", "--config", str(other), "l") == ["lab-9"]
    assert cenv.bash("rexec", "l", env=env) == ["lab-9"]
    # REXEC_CONFIG=FILE written before the command: fish and zsh see it (bash hides it from
    # completion functions: neither COMP_WORDS nor COMP_LINE has it)
    assert cenv.fish(f"REXEC_CONFIG={other} rexec l") == ["lab-9"]
    child = cenv.spawn("zsh")
    try:
        for line, want in ((f"REXEC_CONFIG={other} rexec l", "lab-9"),
                           (f'true && REXEC_CONFIG="{other}" rexec --config {other} @l', "@lab"),
                           (f"REXEC_CONFIG={other} true; rexec l", "l")):
            child.send(line + "\t")
            # the line as completed, quoted whole: printed, not run
            child.send("\x01echo LI\"\"NE: '\x05'\r")
            child.expect("LINE: (.*?)\r\n")
            assert child.match.group(1).split()[-1] == want, child.match.group(1)
            child.expect("CP> ")
    finally:
        close_child(child)


@pytest.mark.parametrize("content", [
    None,                                                  # no file
    "hosts: [\n",                                          # not YAML
    "hosts:\n  web-9: { adress: 127.0.0.1 }\n",            # a wrong key
    'hosts:\n  "a;touch PWNED": 127.0.0.1\n',              # a hostile host name
    'hosts:\n  ok: { address: 127.0.0.1, groups: ["$(touch PWNED)"] }\n',
    'hosts:\n  "\\e]0;title\\a\\e[2J": 127.0.0.1\n',       # escape sequences
])
def test_a_missing_broken_or_hostile_config_gives_no_names_and_no_error(cenv, tmp_path,
                                                                          content):
    bad = tmp_path / "bad.yaml"
    if content is not None:
        bad.write_text(content)
    env = dict(cenv.env, REXEC_CONFIG=str(bad))
    assert cenv.raw("", env=env)[0] == VERBS
    assert cenv.raw("web-1", "", env=env)[0] == []
    assert cenv.bash("rexec", "", env=env) == VERBS
    assert cenv.fish("rexec ", env=env) == sorted(VERBS)
    assert not list(tmp_path.rglob("PWNED")) and not list(pathlib.Path.cwd().glob("PWNED"))


def test_a_fifo_for_a_config_does_not_block(cenv, tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert cenv.raw("--config", str(fifo), "")[0] == VERBS  # a blocked read would time out


# --- the service cache -----------------------------------------------------------------------


def test_hostile_cache_entries_are_skipped(cenv, tmp_path):
    cenv.cache_lines(("api", "web-1"), ("worker", "db-1,web-2"),
                     ("$(touch PWNED)", "web-1"), ("a b", "web-1"), ("x;y", "web-1"),
                     (b"t\x1b]0;pwned\x07", "web-1"), (b"c\x1b[2J", "web-1"),
                     ("-rf", "web-1"), ("api", "web-2"))
    with open(cenv.cache, "ab") as f:
        # an expired entry: still a name seen lately, offered
        f.write(b"%d\t%s\told-svc\tweb-1\n" % (int(time.time()) - 3600,
                                               str(cenv.config).encode()))
        # an entry of another config, and garbage
        f.write(b"%d\t/other.yaml\telsewhere\tweb-1\n" % (int(time.time()) + 10))
        f.write(b"no tabs at all\n\t\t\t\n")
    assert cenv.raw("")[0] == VERBS + HOSTS + GROUPS + ["api", "worker", "old-svc"]
    assert cenv.raw("web-1", "")[0] == ["api", "old-svc"]
    assert cenv.raw("@prod", "")[0] == ["api", "worker", "old-svc"]
    assert cenv.raw("db-1", "w")[0] == ["worker"]
    assert cenv.bash("rexec", "web-2", "") == ["worker", "api"]
    assert cenv.fish("rexec db-1 ") == ["worker"]
    assert not list(tmp_path.rglob("PWNED"))
    cenv.no_dial()


def test_services_from_the_cache_the_client_filled(engine_client, tmp_path):
    """The real client asks the real agent (compose fixture) which host runs the bare service
    `worker` and caches the answer; completion then offers it from the cache alone, the agent
    stopped."""
    sh = Shells(shell_env(engine_client.env, tmp_path, engine_client.config))
    assert "worker" not in sh.raw("")[0]
    r = engine_client.run("worker", "true", env=sh.env)
    assert r.returncode == 0, r.stderr
    assert sh.cache.is_file()
    engine_client.agent.kill(signal.SIGTERM)
    assert sh.raw("")[0] == VERBS + ["dev", "@all", "worker"]
    assert sh.raw("dev", "")[0] == ["worker"]  # only what was asked for: not web, not db
    assert sh.raw("run", "dev", "w")[0] == ["worker"]
    assert sh.raw("attach", "--project", "shop", "dev", "")[0] == ["worker"]
    assert sh.raw("dev", "--host", "")[0] == []  # --host: the command follows
    assert sh.raw("worker", "")[0] == []  # a bare service: the command follows
    assert sh.raw("dev", "worker", "")[0] == []  # the command
    assert sh.bash("rexec", "dev", "") == ["worker"]
    assert sh.fish("rexec dev wor") == ["worker"]


# --- the shells ------------------------------------------------------------------------------


def test_bash_with_and_without_bash_completion(cenv):
    for lib in (True, False):
        assert cenv.bash("rexec", "", lib=lib) == VERBS + HOSTS + GROUPS
        assert cenv.bash("rexec", "r", lib=lib) == ["run"]
        assert cenv.bash("rexec", "run", "--r", lib=lib) == ["--rm"]
        assert cenv.bash("rexec", "exec", "--r", lib=lib) == []
        assert cenv.bash("rexec", "@e", lib=lib) == ["@eu"]
    # a file name for --config: bash-completion's _filedir, else compgen -f
    (cenv.dir / "conf-a.yaml").write_text("")
    pre = str(cenv.dir / "conf-")
    assert cenv.bash("rexec", "--config", pre) == [pre + "a.yaml"]
    assert cenv.bash("rexec", "--config", pre, lib=False) == [pre + "a.yaml"]
    cenv.no_dial()


@pytest.mark.parametrize("lib", [True, False], ids=["bash-completion", "plain"])
def test_bash_interactive_tab_tab(cenv, lib):
    child = cenv.spawn("bash", lib=lib)
    try:
        child.send("rexec web-\t\t")
        child.expect(r"web-1\s+web-2")
        child.send("\x15")  # ^U: drop the line
        # the lines as completed: printed by echo (LI""NE: only the output reads LINE:)
        for typed, want in (("rexec run dev --no-d", "rexec run dev --no-deps"),
                            ("rexec attach web-1 --sig-proxy=f", "web-1 --sig-proxy=false"),
                            (f"rexec --config={cenv.config} @p", " @prod")):
            child.send(typed + "\t")
            child.send("\x01echo LI\"\"NE: '\x05'\r")
            child.expect("LINE: (.*?)\r\n")
            assert child.match.group(1).rstrip().endswith(want), child.match.group(1)
            child.expect("CP> ")
    finally:
        close_child(child)
    cenv.no_dial()


def test_zsh_tab(cenv):
    child = cenv.spawn("zsh")
    try:
        child.send("rexec web-\t")
        # the list of both, with their description
        child.expect(r"web-\d\s+web-\d\s+-- host")
        assert sorted(re.findall(r"web-\d", ANSI.sub("", child.after))) == ["web-1", "web-2"]
        child.send("\x15")  # ^U: drop the line
        # a unique candidate is inserted: the line printed by echo (LI""NE: only the output
        # reads LINE:)
        child.send("rexec @pr\t")
        child.send('\x01echo LI""NE: \r')
        child.expect("LINE: rexec @prod")
        child.expect("CP> ")
        child.send("rexec run web-1 --entr\t")
        child.send('\x01echo LI""NE: \r')
        child.expect("LINE: rexec run web-1 --entrypoint")
    finally:
        close_child(child)
    cenv.no_dial()


def test_fish(cenv):
    assert cenv.fish("rexec web") == ["web-1", "web-2"]
    assert cenv.fish("rexec @") == sorted(GROUPS)
    assert "--privileged" in cenv.fish("rexec exec web-1 --")
    assert "--privileged" not in cenv.fish("rexec run web-1 --")
    assert cenv.fish("rexec cert ") == ["issue", "revoke", "show"]
    cenv.no_dial()


def test_completion_never_dials(cenv):
    """Every position of a line whose hosts accept and never answer (web-1) or refuse: each
    completion answers and nothing connected to the silent host (a wall-clock bound would
    only flake on a loaded machine; the listener's count of connections is the proof)."""
    cenv.cache_lines(("api", "web-1"))
    for words in (("",), ("web-1", ""), ("web-1", "api", ""), ("ps", ""), ("@prod", ""),
                  ("run", "web-1", "")):
        cenv.raw(*words)
    assert cenv.bash("rexec", "web-1", "") == ["api"]
    assert cenv.fish("rexec web-1 ") == ["api"]
    cenv.no_dial()
