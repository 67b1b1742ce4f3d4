"""`rexec dev --host CMD` through pipes, as a script uses it: exact bytes, exact exit codes,
stdin EOF, stdout and stderr apart, signals forwarded to the remote process group."""
import hashlib
import os
import pwd
import signal
import socket
import subprocess

import pytest

from conftest import ended, read_until, wait_present

BLOB_SIZE = 64 * 1024 * 1024


def one_line_rexec_error(stderr):
    """rexec's own failures are one `rexec: ...` line on stderr."""
    text = stderr.decode(errors="replace")
    lines = [l for l in text.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("rexec: "), f"stderr: {text!r}"


# --- exit codes ------------------------------------------------------------------------------


def test_true_exits_zero_with_no_output(client):
    r = client.run("dev", "--host", "true")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")


def test_remote_exit_code_is_returned(client):
    r = client.run("dev", "--host", "--", "sh", "-c", "exit 42")
    assert r.returncode == 42, r.stderr


def test_exit_code_255_from_remote_is_kept(client):
    r = client.run("dev", "--host", "--", "sh", "-c", "exit 255")
    assert r.returncode == 255
    assert r.stderr == b"", "a remote 255 is not a rexec failure: no rexec message expected"


@pytest.mark.parametrize("sig", ["KILL", "TERM", "USR1"])
def test_killed_by_signal_gives_128_plus_n(client, sig):
    r = client.run("dev", "--host", "--", "sh", "-c", f"kill -{sig} $$")
    assert r.returncode == 128 + getattr(signal, "SIG" + sig), r.stderr


def test_command_not_found_gives_127(client):
    r = client.run("dev", "--host", "--", "rexec-e2e-no-such-command")
    assert r.returncode == 127, r.stderr
    assert r.stderr, "a message saying the command was not found is expected"


def test_not_executable_gives_126(client, tmp_path):
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o644)
    r = client.run("dev", "--host", "--", str(script))
    assert r.returncode == 126, r.stderr
    assert b"ran" not in r.stdout


def test_unknown_user_is_refused_with_125(client):
    r = client.run("dev", "--host", "-u", "rexec-e2e-no-such-user", "--", "true")
    assert r.returncode == 125, r.stderr
    assert b"rexec-e2e-no-such-user" in r.stderr, f"the refusal names the user: {r.stderr!r}"


# --- rexec's own failures ----------------------------------------------------------------------


def test_connection_refused_gives_255_and_one_line(client, tmp_path):
    # A port that was free a moment ago and has no listener now.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    sd = client.agent.state_dir
    conf = tmp_path / "closed.conf"
    conf.write_text(f"ca: {sd / 'ca.pem'}\ncert: {sd / 'client.pem'}\nkey: {sd / 'client-key.pem'}\n"
                    f"hosts:\n  dev:\n    address: 127.0.0.1:{port}\n")
    r = client.run("--config", conf, "dev", "--host", "true")
    assert r.returncode == 255
    one_line_rexec_error(r.stderr)


def test_lost_connection_gives_255_not_success(client, marker):
    p = client.popen("dev", "--host", "--", "sh", "-c", f"echo started; exec sleep {marker}")
    with ended(p):
        read_until(p.stdout, b"started\n", timeout=30)
        client.agent.kill()  # the connection drops without an Exit frame
        out, err = p.communicate(timeout=60)
    assert p.returncode == 255, err
    assert err.decode(errors="replace").strip().splitlines()[-1].startswith("rexec: "), err


# --- config and argument parsing ---------------------------------------------------------------


def test_config_flag_is_used_without_env(client):
    env = dict(client.env)
    del env["REXEC_CONFIG"]
    r = subprocess.run(client.argv("--config", client.agent.config, "dev", "--host", "echo", "ok"),
                       input=b"", capture_output=True, timeout=60, env=env)
    assert (r.returncode, r.stdout) == (0, b"ok\n"), r.stderr


def test_options_before_host_are_accepted(client):
    r = client.run("-e", "FOO=before", "-T", "dev", "--host", "--", "sh", "-c", "echo $FOO")
    assert (r.returncode, r.stdout) == (0, b"before\n"), r.stderr


def test_words_after_the_command_belong_to_the_command(client):
    r = client.run("dev", "--host", "printf", "%s|", "-u", "x", "-w", "/", "-e", "A=B", "--", "-T")
    assert (r.returncode, r.stdout) == (0, b"-u|x|-w|/|-e|A=B|--|-T|"), r.stderr


def test_double_dash_starts_the_command(client):
    # Everything after `--` is the command, even words that are rexec options.
    r = client.run("-T", "dev", "--host", "--", "printf", "%s|", "-e", "A=B", "-t")
    assert (r.returncode, r.stdout) == (0, b"-e|A=B|-t|"), r.stderr


def test_env_option_sets_variable(client):
    r = client.run("dev", "--host", "-e", "FOO=bar", "--", "sh", "-c", 'echo "$FOO"')
    assert (r.returncode, r.stdout) == (0, b"bar\n"), r.stderr


def test_env_value_keeps_equals_and_spaces(client):
    r = client.run("dev", "--host", "-e", "FOO=a=b c", "--", "sh", "-c", 'printf "%s" "$FOO"')
    assert (r.returncode, r.stdout) == (0, b"a=b c"), r.stderr


def test_user_option_runs_as_that_user(client):
    nobody = pwd.getpwnam("nobody")
    r = client.run("dev", "--host", "-u", "nobody", "--", "id", "-u")
    assert (r.returncode, r.stdout) == (0, f"{nobody.pw_uid}\n".encode()), r.stderr


def test_user_option_sets_group_too(client):
    nobody = pwd.getpwnam("nobody")
    r = client.run("dev", "--host", "-u", "nobody", "--", "id", "-g")
    assert (r.returncode, r.stdout) == (0, f"{nobody.pw_gid}\n".encode()), r.stderr


def test_workdir_option_sets_cwd(client):
    r = client.run("dev", "--host", "-w", "/tmp", "--", "pwd")
    assert (r.returncode, r.stdout) == (0, b"/tmp\n"), r.stderr


def test_no_tty_when_stdin_and_stdout_are_pipes(client):
    r = client.run("dev", "--host", "tty")
    assert r.returncode == 1, r.stdout
    assert r.stdout == b"not a tty\n"


def test_t_forces_a_tty(client):
    r = client.run("-t", "dev", "--host", "tty")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"/dev/pts/"), r.stdout


# --- stdin ----------------------------------------------------------------------------------


def test_stdin_eof_reaches_remote(client):
    r = client.run("dev", "--host", "cat", input=b"hi\n")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"hi\n", b"")


def test_empty_stdin_is_eof_at_once(client):
    r = client.run("dev", "--host", "--", "wc", "-c", input=b"")
    assert (r.returncode, r.stdout.strip()) == (0, b"0"), r.stderr


@pytest.mark.parametrize("stdin,expect", [(subprocess.DEVNULL, b"/dev/null"),
                                          (subprocess.PIPE, b"pipe:")])
def test_stdin_from_dev_null_is_dev_null_remotely(client, stdin, expect):
    """Local stdin /dev/null: the process gets /dev/null (as with ssh -n or docker exec without
    -i), no pipe that an EOF has to reach; any other stdin still arrives through a pipe."""
    p = client.popen("dev", "--host", "--", "readlink", "/proc/self/fd/0", stdin=stdin)
    out, err = p.communicate(timeout=60)
    assert (p.returncode, out.startswith(expect)) == (0, True), (out, err)


def test_stdin_without_trailing_newline_arrives_whole(client):
    r = client.run("dev", "--host", "--", "od", "-An", "-c", input=b"no newline")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"n", b"o", b"n", b"e", b"w", b"l", b"i", b"n", b"e"]


# --- bytes ----------------------------------------------------------------------------------


def test_stdout_and_stderr_stay_apart(client):
    r = client.run("dev", "--host", "--", "sh", "-c", "echo out; echo err >&2; echo out2")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"out\nout2\n", b"err\n")


def test_large_stdout_and_stderr_interleaved_stay_apart(client):
    # 4 MiB of 'o' on stdout and 4 MiB of 'e' on stderr, written alternately in 4 KiB pieces.
    script = ("i=0; o=$(head -c 4096 /dev/zero | tr '\\0' o); e=$(head -c 4096 /dev/zero | tr '\\0' e);"
              " while [ $i -lt 1024 ]; do printf %s \"$o\"; printf %s \"$e\" >&2; i=$((i+1)); done")
    r = client.run("dev", "--host", "--", "sh", "-c", script, timeout=120)
    assert r.returncode == 0
    assert len(r.stdout) == 4 << 20 and set(r.stdout) == {ord("o")}
    assert len(r.stderr) == 4 << 20 and set(r.stderr) == {ord("e")}


def test_all_256_byte_values_round_trip(client):
    data = bytes(range(256)) * 64 + bytes(range(255, -1, -1))
    r = client.run("dev", "--host", "cat", input=data)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data


def test_all_256_byte_values_from_a_remote_file(client, tmp_path):
    path = tmp_path / "bytes.bin"
    data = bytes(range(256)) * 4
    path.write_bytes(data)
    r = client.run("dev", "--host", "--", "cat", str(path))
    assert (r.returncode, r.stdout) == (0, data), r.stderr


@pytest.fixture(scope="module")
def blob(tmp_path_factory):
    path = tmp_path_factory.mktemp("blob") / "random.bin"
    with open(path, "wb") as f:
        for _ in range(BLOB_SIZE // (1 << 20)):
            f.write(os.urandom(1 << 20))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return path, h.hexdigest()


@pytest.mark.timeout(420)  # past the transfer's own 300 s guard
def test_64mib_upload_sha256(client, blob):
    path, digest = blob
    with open(path, "rb") as f:
        r = client.run("dev", "--host", "sha256sum", stdin=f, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0].decode() == digest


@pytest.mark.timeout(420)  # past the transfer's own 300 s guard
def test_64mib_download_sha256(client, blob):
    path, digest = blob
    r = client.run("dev", "--host", "--", "cat", str(path), timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == BLOB_SIZE
    assert hashlib.sha256(r.stdout).hexdigest() == digest


@pytest.mark.timeout(420)  # past the transfer's own 300 s guard
def test_64mib_round_trip_through_cat(client, blob):
    path, digest = blob
    with open(path, "rb") as f:
        r = client.run("dev", "--host", "cat", stdin=f, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == BLOB_SIZE
    assert hashlib.sha256(r.stdout).hexdigest() == digest


# --- signals without a TTY ------------------------------------------------------------------


@pytest.mark.parametrize("sig", ["TERM", "INT", "HUP", "QUIT", "USR1", "USR2"])
def test_signal_to_client_reaches_remote_trap(client, sig):
    script = (f"ulimit -c 0; trap 'echo got {sig}; exit 3' {sig}; echo ready;"
              " while :; do sleep 0.1; done")
    p = client.popen("dev", "--host", "--", "sh", "-c", script, stdin=subprocess.DEVNULL)
    with ended(p):
        seen = read_until(p.stdout, b"ready\n", timeout=30)
        p.send_signal(getattr(signal, "SIG" + sig))
        out, err = p.communicate(timeout=30)
    assert seen + out == f"ready\ngot {sig}\n".encode(), err
    assert p.returncode == 3, err


def test_sigterm_to_client_ends_untrapped_remote_with_143(client, marker):
    p = client.popen("dev", "--host", "--", "sh", "-c", f"echo ready; exec sleep {marker}",
                     stdin=subprocess.DEVNULL)
    with ended(p):
        read_until(p.stdout, b"ready\n", timeout=30)
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
    assert p.returncode == 128 + signal.SIGTERM


# --- session end --------------------------------------------------------------------------------


def test_background_child_holding_output_does_not_hold_session(client, marker):
    # The 20 s bound is a hang guard (ssh and docker hang here for 1000 s), not a speed claim.
    r = client.run("dev", "--host", "--", "sh", "-c", f"sleep {marker} & echo done", timeout=20)
    assert (r.returncode, r.stdout) == (0, b"done\n"), r.stderr


def test_background_child_with_closed_output_is_not_awaited(client, marker):
    r = client.run("dev", "--host", "--", "sh", "-c",
                   f"sleep {marker} >/dev/null 2>&1 </dev/null & echo done", timeout=20)
    assert (r.returncode, r.stdout) == (0, b"done\n"), r.stderr


def test_output_written_just_before_exit_is_not_lost(client):
    # The main process exits right after a large write: all of it arrives before Exit.
    r = client.run("dev", "--host", "--", "head", "-c", str(3 * 1024 * 1024 + 7), "/dev/zero")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == 3 * 1024 * 1024 + 7


def test_burst_then_exit_arrives_whole_every_time(client):
    # A pipe's end is exact (EOF only once the buffer is read): no run may come up short. The
    # same burst through a PTY is in test_exec_tty.py.
    short = []
    for i in range(30):
        r = client.run("-T", "dev", "--host", "--", "sh", "-c",
                       "head -c 300000 /dev/zero | tr '\\0' x; exit")
        assert r.returncode == 0, r.stderr
        if r.stdout != b"x" * 300000:
            short.append((i, len(r.stdout)))
    assert short == [], f"runs (index, bytes) that lost output: {short}"


@pytest.mark.parametrize("tty", ["-T", "-t"])
def test_remote_process_holds_only_its_stdio(client, marker, tty):
    # Nothing of the agent's (sockets, the engine's, other sessions' pipes) leaks into a
    # session: the process has fds 0, 1 and 2 and no other.
    with ended(client.popen(tty, "dev", "--host", "--", "sleep", marker)):
        (pid,) = wait_present(marker)
        assert sorted(os.listdir(f"/proc/{pid}/fd"), key=int) == ["0", "1", "2"]
