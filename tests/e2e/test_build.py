"""The shipped binaries: static, self-describing, honest about usage errors."""
import pathlib
import re
import subprocess

import pytest

from conftest import SANITIZERS


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(bool(SANITIZERS), reason="-Dsanitize builds link glibc and clang's runtimes")
def test_binaries_are_static(rexec_bin, agent_bin):
    for path in (rexec_bin, agent_bin):
        out = run("file", "-L", path).stdout
        assert "statically linked" in out or "static-pie linked" in out, out
        # No interpreter and no shared library dependencies.
        assert "interpreter" not in out, out


def test_versions_name_every_library(rexec_bin, agent_bin):
    for path, prog in ((rexec_bin, "rexec"), (agent_bin, "rexec-agent")):
        r = run(path, "--version")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"{prog} 0."), r.stdout
        assert "protocol: 1." in r.stdout
        for lib, ver in (("libuv", r"1\.50\."), ("mbedTLS", r"3\.6\."), ("protobuf-c", r"1\.5\."),
                         ("libssh", r"0\.11\."), ("cJSON", r"1\.7\."), ("http-parser", r"2\.9\."),
                         ("libyaml", r"0\.2\.")):
            assert re.search(rf"{lib} {ver}", r.stdout), (lib, r.stdout)


def test_unknown_usage_fails_with_usage(rexec_bin):
    r = run(rexec_bin)
    assert r.returncode != 0
    assert "usage:" in r.stderr


@pytest.mark.timeout(1900)  # past the build's own 1800 s guard (tests/e2e/pytest.ini: 300)
def test_the_macos_client_builds(tmp_path):
    """README: `packaging/zig build -Dtarget=aarch64-macos` builds the client for macOS (Linux
    only headers and flags, e.g. sys/sysmacros.h or SOCK_CLOEXEC, break it). Its own prefix: the
    binaries under test are not touched. The timeout is a hang guard (a cold cache compiles
    every library for the target)."""
    top = pathlib.Path(__file__).resolve().parents[2]
    r = subprocess.run([str(top / "packaging/zig"), "build", "-Dtarget=aarch64-macos",
                        "--prefix", str(tmp_path)], cwd=top, capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:]
    out = run("file", str(tmp_path / "bin/rexec")).stdout
    assert "Mach-O 64-bit arm64 executable" in out, out
