"""The manual keeps up with the parsers: every option the command lines accept is in the man
page and in the matching --help, every key the configuration readers accept is in the config
man pages, and the pages render cleanly.

What the parsers accept is read twice, independently: from the binaries' --help, and from the
C source's tables (client/cli.c's cli_opts, client/cmd_pki.c's cmd_pki_opts, the getopt arrays
of agent/main.c and agent/policyctl.c). Config keys are read from the source too: each reader
compares keys with strcmp() and lists them in its "(known: ...)" messages or a `*_keys[]`
string; both are extracted with the regexes below and must agree. The man pages are those the
build installed (zig-out/share/man), rendered by groff without hyphenation on wide lines, so
that a word is never split."""
import os
import pathlib
import re
import subprocess

import pytest

from conftest import BIN_DIR

TOP = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT = 30
PAGES = {"rexec": 1, "rexec-agent": 8, "rexec-config": 5, "rexec-agent-config": 5}
CLI_VERBS = ["exec", "run", "attach", "ps"]
# An option in text: -x or --long-name, not inside a word (a-b) or a path.
OPT_RE = re.compile(r"(?<![\w/.-])(--[a-z][a-z0-9-]*[a-z0-9]|-[a-zA-Z])(?![\w-])")


def src(rel):
    return (TOP / rel).read_text()


def man_dir():
    # zig-out/bin -> zig-out/share/man; -Dsanitize's zig-out/san/bin -> zig-out/share/man too.
    for d in (BIN_DIR.parent / "share/man", BIN_DIR.parent.parent / "share/man"):
        if (d / "man1/rexec.1").is_file():
            return d
    pytest.fail(f"no zig-out/share/man/man1/rexec.1 beside {BIN_DIR}: the install step builds it")


def page_path(name):
    return man_dir() / f"man{PAGES[name]}" / f"{name}.{PAGES[name]}"


def render(name):
    """The page as plain text: no hyphenation, 250-column lines, ASCII hyphens."""
    r = subprocess.run(["groff", "-man", "-Tascii", "-rHY=0", "-rLL=250n", "-P-cbou",
                        str(page_path(name))], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    return r.stdout


def words(text):
    return set(OPT_RE.findall(text))


def run(*argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, (argv, r.stderr)
    return r.stdout


# ---------------------------------------------------------------------------------------------
# What the C source says the parsers take


def c_strings(text):
    """The concatenated string literal that starts TEXT (adjacent literals joined)."""
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', text.split(";")[0]))


def cli_table():
    """client/cli.c's cli_opts: {long: (short or None, set of verbs, fan_out)}."""
    masks = {"E": {"exec"}, "R": {"run"}, "A": {"attach"}, "P": {"ps"}, "ALL": set(CLI_VERBS)}
    rows = re.findall(r'\{\s*CLI_OPT_\w+,\s*(NULL|"-\w"),\s*"(--[\w-]+)",\s*CLI_ARG_\w+,\s*'
                      r'(?:NULL|"[^"]*"),\s*([A-Z |]+),\s*([01]),', src("client/cli.c"))
    assert len(rows) > 30, rows
    table = {}
    for short, long, mask, fan in rows:
        verbs = set().union(*(masks[m.strip()] for m in mask.split("|")))
        entry = table.setdefault(long, [set(), set(), fan == "1"])
        if short != "NULL":
            entry[0].add(short.strip('"'))
        entry[1] |= verbs
    return table


def cli_opts_of(verb):
    """Every option string (short and long) cli.c gives VERB."""
    out = set()
    for long, (shorts, verbs, _) in cli_table().items():
        if verb in verbs:
            out.add(long)
    # A short name belongs to the verbs of its own row (-v: --verbose or run's --volume).
    for short, long, mask in re.findall(
            r'\{\s*CLI_OPT_\w+,\s*"(-\w)",\s*"(--[\w-]+)",\s*CLI_ARG_\w+,\s*(?:NULL|"[^"]*"),'
            r'\s*([A-Z |]+),', src("client/cli.c")):
        if mask.strip() == "ALL" or {"exec": "E", "run": "R", "attach": "A", "ps": "P"}[verb] in \
                [m.strip() for m in mask.split("|")]:
            out.add(short)
    return out


def pki_table():
    """client/cmd_pki.c: {(verb, sub): set of options}."""
    text = src("client/cmd_pki.c")
    subs = dict(re.findall(r'\[(PKI_\w+)\] = \{\s*"(\w+",\s*"\w+)"', text))
    subs = {k: tuple(v.replace('"', "").replace(" ", "").split(",")) for k, v in subs.items()}
    assert len(subs) == 5, subs
    table = {s: set() for s in subs.values()}
    rows = re.findall(r'\{\s*PKI_OPT_\w+,\s*"(--[\w-]+)",\s*(?:NULL|"[^"]*"),\s*([A-Z_()| ]+),',
                      text)
    assert len(rows) > 10, rows
    for opt, mask in rows:
        cmds = subs.values() if mask.strip() == "ALL_CMDS" else \
            [subs[m] for m in re.findall(r"B\((PKI_\w+)\)", mask)]
        for c in cmds:
            table[c].add(opt)
    for c in table:
        table[c].add("-h")  # find_opt(): -h is --help
    return table


def getopt_longs(rel):
    """The long options of the getopt_long arrays in REL."""
    return {"--" + n for n in re.findall(r'\{\s*"([\w-]+)",\s*(?:no|required)_argument', src(rel))}


def agent_opts():
    text = src("agent/main.c")
    shorts = re.search(r'getopt_long\(argc, argv, "(\w*)"', text).group(1)
    opts = getopt_longs("agent/main.c") | getopt_longs("agent/policyctl.c")
    opts |= {"-" + c for c in shorts}
    opts |= set(re.findall(r'strcmp\(argv\[i\], "(--[\w-]+)"\)', src("agent/policyctl.c")))
    assert {"--listen", "--explain", "--check-policy", "--who", "-v"} <= opts, opts
    return opts


def main_words():
    """What client/main.c takes as argv[1] itself: --version, version, ca, cert."""
    return set(re.findall(r'strcmp\(argv\[1\], "([\w-]+)"\)', src("client/main.c")))


# ---------------------------------------------------------------------------------------------
# Options: source, --help and the manual


def test_the_source_tables_are_read():
    """The extraction itself: a regex that stopped matching must fail here, not pass empty."""
    assert cli_opts_of("run") >= {"--rm", "-v", "--volume", "--verbose", "--parallel"}
    assert "-v" in cli_opts_of("exec") and "--volume" not in cli_opts_of("exec")
    t = pki_table()
    assert "--serial" in t[("cert", "revoke")] and "--serial" not in t[("cert", "show")]
    assert {"--version", "version", "ca", "cert"} <= main_words()


@pytest.mark.parametrize("verb", CLI_VERBS)
def test_each_verb_help_lists_exactly_its_options(rexec_bin, verb):
    shown = words(run(rexec_bin, verb, "--help"))
    want = cli_opts_of(verb)
    assert want - shown == set(), f"rexec {verb} --help leaves out {want - shown}"
    # Whatever else --help names is an option of this verb (or `--`, the command's start).
    assert shown - want - {"--"} == set(), f"rexec {verb} --help names {shown - want}"


@pytest.mark.parametrize("verb,sub", [("ca", "init"), ("ca", "crl"), ("cert", "issue"),
                                      ("cert", "show"), ("cert", "revoke")])
def test_each_pki_subcommand_help_lists_exactly_its_options(rexec_bin, verb, sub):
    text = run(rexec_bin, verb, sub, "--help")
    assert text.startswith(f"usage: rexec {verb} {sub} "), text
    shown = words(text)
    want = pki_table()[(verb, sub)] - {"-h"}
    assert want - shown == set(), f"rexec {verb} {sub} --help leaves out {want - shown}"
    assert shown - want - {"-h"} == set(), f"rexec {verb} {sub} --help names {shown - want}"
    # The verb's own --help has every subcommand's.
    assert want <= words(run(rexec_bin, verb, "--help"))


def test_rexec_help_names_every_verb(rexec_bin):
    text = run(rexec_bin, "--help")
    listed = set(re.findall(r"^  (\w+) ", text, re.M))
    verbs = set(CLI_VERBS) | {v for v, _ in pki_table()} | {w for w in main_words()
                                                            if not w.startswith("-")}
    assert verbs == {"exec", "run", "attach", "ps", "ca", "cert", "version"}, verbs
    assert verbs <= listed, f"rexec --help does not list {verbs - listed}"
    for verb, sub in pki_table():
        assert re.search(rf"^  {verb} .*\b{sub}\b", text, re.M), (verb, sub, text)
    assert run(rexec_bin, "version", "--help").startswith("usage: rexec version")


def test_agent_help_lists_exactly_its_options(agent_bin):
    text = run(agent_bin, "--help")
    shown = words(text)
    want = agent_opts()
    assert want - shown == set(), f"rexec-agent --help leaves out {want - shown}"
    assert shown - want == set(), f"rexec-agent --help names {shown - want}"


def test_rexec_page_has_every_option_and_verb(rexec_bin):
    text = render("rexec")
    in_page = words(text)
    from_help = set()
    for verb in CLI_VERBS:
        from_help |= words(run(rexec_bin, verb, "--help"))
    for verb, sub in pki_table():
        from_help |= words(run(rexec_bin, verb, sub, "--help"))
    from_src = set().union(*(cli_opts_of(v) for v in CLI_VERBS), *pki_table().values())
    from_src |= {w for w in main_words() if w.startswith("-")}
    missing = (from_help | from_src) - {"--"} - in_page
    assert missing == set(), f"rexec(1) leaves out {sorted(missing)}"
    for verb in CLI_VERBS + ["ca", "cert", "version"]:
        assert re.search(rf"^ {{7}}{verb}\b", text, re.M), f"rexec(1) has no entry for {verb}"
    for verb, sub in pki_table():
        assert re.search(rf"^ {{7}}{verb} {sub}\b", text, re.M), f"rexec(1): no {verb} {sub}"


def test_rexec_page_says_which_verbs_take_each_option():
    """Each entry of OPTIONS ends with the verbs that take it, in brackets: they must be the
    verbs of cli.c's table (a man page that offers --rm to exec would be wrong)."""
    text = render("rexec")
    section = text.split("\nOPTIONS\n", 1)[1].split("\nCONTAINERS\n", 1)[0]
    fan_out = section.split("Fan-out options", 1)[1]
    for long, (shorts, verbs, fan) in cli_table().items():
        if fan:
            assert re.search(rf"^ {{7}}{long}\b", fan_out, re.M), long
            continue
        m = re.search(rf"^ {{7}}(?:-\w, )?{long}\b.*?\n(.*?)(?=^ {{7}}\S|\Z)", section,
                      re.M | re.S)
        assert m, f"rexec(1) OPTIONS has no entry for {long}"
        brackets = re.findall(r"\[([a-z, ]+)\]", " ".join(m.group(1).split()))
        assert brackets, f"rexec(1): {long} does not say which verbs take it"
        said = set(CLI_VERBS) if brackets[-1] == "all" else set(brackets[-1].split(", "))
        assert said == verbs, f"rexec(1): {long} [{brackets[-1]}], the parser: {sorted(verbs)}"


def test_agent_page_has_every_option(agent_bin):
    in_page = words(render("rexec-agent"))
    missing = (agent_opts() | words(run(agent_bin, "--help"))) - in_page
    assert missing == set(), f"rexec-agent(8) leaves out {sorted(missing)}"


# ---------------------------------------------------------------------------------------------
# Config keys: source and the manual


def known_lists(rel):
    """Every key list REL gives its users: `static const char X_keys[] = "a, b" ...;` strings
    and "(known: a, b)" in its messages."""
    text = src(rel)
    out = set()
    for m in re.finditer(r"static const char \w+_keys\[\] =", text):
        out |= {k.strip() for k in c_strings(text[m.end():]).split(",")}
    for lst in re.findall(r"\(known: ([a-z_, ]+)\)", text.replace('"\n', "").replace(
            '\t', "").replace('"', "")):
        out |= {k.strip() for k in lst.split(",")}
    return out - {""}


def compared_keys(rel):
    """The keys REL's reader compares with strcmp(): strcmp(key, "x"),
    strcmp(yconf_scalar(k), "x")."""
    return set(re.findall(r'strcmp\((?:key|kind|yconf_scalar\(k\)),\s*"(\w+)"\)', src(rel)))


@pytest.mark.parametrize("page,readers", [
    ("rexec-agent-config", ["agent/config.c", "agent/policy.c"]),
    ("rexec-config", ["client/config.c"]),
])
def test_config_pages_have_every_key(page, readers):
    text = render(page)
    for rel in readers:
        listed, compared = known_lists(rel), compared_keys(rel)
        # The reader's own lists and its comparisons agree (policy.c also lists the values
        # of verbs and options, and compares the rule kinds allow/deny).
        assert compared - listed <= {"allow", "deny"}, (rel, compared - listed)
        keys = listed | compared
        assert len(keys) > 5, (rel, keys)
        missing = {k for k in keys if not re.search(rf"(?<![\w-]){k}(?![\w-])", text)}
        assert missing == set(), f"{page}(5) leaves out keys of {rel}: {sorted(missing)}"


def test_policy_fields_come_from_the_source():
    fields = re.search(r"field_names\[F_N\] = \{([^}]*)\}", src("agent/policy.c")).group(1)
    names = set(re.findall(r'"(\w+)"', fields))
    assert names == {"who", "verbs", "targets", "users", "commands", "options"}
    assert names <= known_lists("agent/policy.c")


# ---------------------------------------------------------------------------------------------
# Rendering


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_renders_without_warnings(name):
    path = str(page_path(name))
    env = dict(os.environ, LANG="C.UTF-8", MANWIDTH="80")
    r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                       env=env, timeout=TIMEOUT)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert f"{name}({PAGES[name]})" in r.stdout.splitlines()[0]
    r = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-z", path], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    # whatis/apropos index the page by its NAME section.
    r = subprocess.run(["lexgrog", path], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf': "{re.escape(name)} - \w', r.stdout), r.stdout
    # SEE ALSO names the other pages.
    see_also = render(name).split("SEE ALSO", 1)[1]
    for other, sec in PAGES.items():
        if other != name:
            assert f"{other}({sec})" in see_also, (name, other)
