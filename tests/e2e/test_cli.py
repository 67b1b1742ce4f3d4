"""The client's command line: `rexec ps` is parsed like every other verb, from the one table of
verbs and options (client/cli.c) that --help is printed from as well."""
import os
import subprocess

import pytest

from conftest import CLIENT_TIMEOUT


# Issue #15: `ps` copied its options into an 8-slot array: five options before `--config FILE`
# wrote past its end, and options after the sixth were dropped (here: `--config`, so the client
# read the configuration named by $REXEC_CONFIG instead, one that does not exist).
@pytest.mark.parametrize("n_opts", [5, 7, 12])
def test_ps_with_many_options_before_config(rexec_bin, dev_agent, tmp_path, n_opts):
    env = dict(os.environ, REXEC_CONFIG=str(tmp_path / "no-such.conf"))
    argv = [rexec_bin, "ps"] + ["--verbose"] * n_opts + ["--config", str(dev_agent.config)]
    r = subprocess.run(argv, capture_output=True, env=env, timeout=CLIENT_TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[:2] in (
        [b"HOST", b"PROJECT"], [b"PROJECT", b"SERVICE"]), (r.stdout, r.stderr)
    assert b"no-such.conf" not in r.stderr


def test_ps_refuses_what_it_does_not_take(rexec_bin, dev_agent):
    for extra, msg in ((["dev", "web"], b"one HOST"), (["-u", "root"], b"not an option of ps")):
        r = subprocess.run([rexec_bin, "ps", "--config", str(dev_agent.config)] + extra,
                           capture_output=True, timeout=CLIENT_TIMEOUT)
        assert r.returncode == 2, r.stderr
        assert msg in r.stderr and b"usage: rexec" in r.stderr, r.stderr


@pytest.mark.parametrize("verb", ["exec", "run", "attach", "ps"])
def test_help_of_each_verb(rexec_bin, verb):
    r = subprocess.run([rexec_bin, verb, "--help"], capture_output=True, text=True,
                       timeout=CLIENT_TIMEOUT)
    assert r.returncode == 0, r.stderr
    shown = "[exec]" if verb == "exec" else verb
    assert r.stdout.startswith(f"usage: rexec [--config FILE] {shown} "), r.stdout
    assert "--config FILE" in r.stdout and "--parallel N" in r.stdout
