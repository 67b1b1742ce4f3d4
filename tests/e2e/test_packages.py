"""`packaging/zig build deb` and `release`: the Debian packages (contents, control data,
conffiles, lintian, maintainer scripts run by a real dpkg into a throwaway root) and the
release archives with their SHA256SUMS. Everything is built once per session into a prefix of
its own (the compiled objects come from the build cache, each target's libc from Zig's global
cache, which conftest keeps), never installed on this machine."""
import gzip
import os
import pathlib
import re
import shutil
import subprocess
import tarfile

import pytest

from test_systemd import analyze_verify, verify_root

TOP = pathlib.Path(__file__).resolve().parents[2]
VERSION = re.search(r'^const version = "([^"]+)";', (TOP / "build.zig").read_text(), re.M).group(1)
ARCHS = {"amd64": "x86_64", "arm64": "aarch64"}
# The agreed names of what other parts of the build make, by their sources in the tree: a
# source that exists must reach the packages.
MAN = {"rexec": [("rexec", 1), ("rexec-config", 5)],
       "rexec-agent": [("rexec-agent", 8), ("rexec-agent-config", 5)]}
COMPLETIONS = [("rexec.bash", "usr/share/bash-completion/completions/rexec"),
               ("_rexec", "usr/share/zsh/vendor-completions/_rexec"),
               ("rexec.fish", "usr/share/fish/vendor_completions.d/rexec.fish")]
# A cold cache compiles every library for two more targets: a hang guard, not a speed bound.
BUILD_TIMEOUT = 1800
pytestmark = pytest.mark.timeout(BUILD_TIMEOUT + 100)


def run(*argv, **kw):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """`packaging/zig build deb release` into a prefix of the session's own."""
    prefix = tmp_path_factory.mktemp("prefix")
    r = subprocess.run([str(TOP / "packaging/zig"), "build", "deb", "release", "--prefix",
                        str(prefix)], cwd=TOP, capture_output=True, text=True,
                       timeout=BUILD_TIMEOUT)
    assert r.returncode == 0, r.stderr[-6000:]
    return prefix, r.stdout + r.stderr


def deb(built, pkg, arch):
    path = built[0] / "deb" / f"{pkg}_{VERSION}_{arch}.deb"
    assert path.is_file(), sorted(os.listdir(built[0] / "deb"))
    return path


def expected_files(pkg):
    """The regular files PKG must hold, given the sources in the tree."""
    doc = f"usr/share/doc/{pkg}"
    files = {f"{doc}/copyright", f"{doc}/changelog.gz", f"{doc}/NEWS.Debian.gz",
             f"usr/share/lintian/overrides/{pkg}"}
    for name, sec in MAN[pkg]:
        if (TOP / f"packaging/man/{name}.{sec}.scd").is_file():
            files.add(f"usr/share/man/man{sec}/{name}.{sec}.gz")
    if pkg == "rexec":
        files.add("usr/bin/rexec")
        for src, dest in COMPLETIONS:
            if (TOP / "packaging/completions" / src).is_file():
                files.add(dest)
    else:
        files |= {"usr/sbin/rexec-agent", "lib/systemd/system/rexec-agent.service",
                  "etc/rexec/agent.yaml", "etc/logrotate.d/rexec-agent"}
    return files


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("pkg", ["rexec", "rexec-agent"])
def test_deb_contents(built, pkg, arch):
    r = run("dpkg-deb", "-c", deb(built, pkg, arch))
    assert r.returncode == 0, r.stderr
    files = {}
    for line in r.stdout.splitlines():
        mode, owner, _size, _date, _time, name = line.split(None, 5)
        assert owner == "root/root", line
        if mode.startswith("-"):
            files[name.removeprefix("./")] = mode
    assert set(files) == expected_files(pkg), sorted(files)
    binary = "usr/bin/rexec" if pkg == "rexec" else "usr/sbin/rexec-agent"
    assert files[binary] == "-rwxr-xr-x"
    assert all(m == "-rw-r--r--" for f, m in files.items() if f != binary), files


@pytest.mark.parametrize("arch", ARCHS)
def test_deb_control_and_conffiles(built, arch, tmp_path):
    for pkg in ("rexec", "rexec-agent"):
        r = run("dpkg-deb", "-f", deb(built, pkg, arch))
        assert r.returncode == 0, r.stderr
        fields = dict(re.findall(r"^([\w-]+): (.*)$", r.stdout, re.M))
        assert (fields["Package"], fields["Version"], fields["Architecture"]) == \
            (pkg, VERSION, arch), fields
        assert int(fields["Installed-Size"]) > 100, fields
    ctl = tmp_path / "control"
    assert run("dpkg-deb", "-e", deb(built, "rexec-agent", arch), ctl).returncode == 0
    assert (ctl / "conffiles").read_text().split() == ["/etc/rexec/agent.yaml",
                                                      "/etc/logrotate.d/rexec-agent"]
    for script in ("postinst", "prerm", "postrm"):
        assert os.access(ctl / script, os.X_OK), script
        assert run("sh", "-n", ctl / script).returncode == 0, script
    assert "deb-systemd-helper enable 'rexec-agent.service'" in (ctl / "postinst").read_text()
    # md5sums covers every file but the conffiles, and matches them.
    root = tmp_path / "root"
    assert run("dpkg-deb", "-x", deb(built, "rexec-agent", arch), root).returncode == 0
    listed = (ctl / "md5sums").read_text().splitlines()
    assert {l.split(None, 1)[1] for l in listed} == \
        expected_files("rexec-agent") - {"etc/rexec/agent.yaml", "etc/logrotate.d/rexec-agent"}
    r = run("md5sum", "-c", "--quiet", ctl / "md5sums", cwd=root)
    assert r.returncode == 0, r.stdout


def test_lintian_finds_no_errors(built):
    debs = [deb(built, p, a) for p in ("rexec", "rexec-agent") for a in ARCHS]
    r = run("lintian", "--tag-display-limit", "0", *debs)
    errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
    assert (r.returncode, errors) == (0, []), r.stdout + r.stderr


def test_news_and_changelog_are_debian_changelogs(built, tmp_path):
    root = tmp_path / "root"
    assert run("dpkg-deb", "-x", deb(built, "rexec-agent", "amd64"), root).returncode == 0
    for name in ("NEWS.Debian.gz", "changelog.gz"):
        plain = tmp_path / name.removesuffix(".gz")
        plain.write_bytes(gzip.decompress((root / "usr/share/doc/rexec-agent" / name).read_bytes()))
        r = run("dpkg-parsechangelog", "-l", plain, "-S", "Version")
        assert (r.returncode, r.stdout.strip(), r.stderr) == (0, VERSION, ""), (name, r)
    news = (tmp_path / "NEWS.Debian").read_text()
    for words in ("policy", "exec path is `auto`", "no CN", "16 groups", "CRL", "SIGHUP"):
        assert words in news, words


def test_extracted_agent_runs_verifies_and_refuses_unconfigured(built, tmp_path):
    root = tmp_path / "root"
    assert run("dpkg-deb", "-x", deb(built, "rexec-agent", "amd64"), root).returncode == 0
    assert run("dpkg-deb", "-x", deb(built, "rexec", "amd64"), root).returncode == 0
    for binary, prog in (("usr/sbin/rexec-agent", "rexec-agent"), ("usr/bin/rexec", "rexec")):
        r = run(root / binary, "--version")
        assert r.returncode == 0 and r.stdout.startswith(f"{prog} {VERSION}\n"), r
        assert "ReleaseSmall, static" in r.stdout, r.stdout

    unit = (root / "lib/systemd/system/rexec-agent.service").read_text()
    assert unit == (TOP / "packaging/systemd/rexec-agent.service").read_text()
    r = analyze_verify(verify_root(tmp_path / "verify", root / "usr/sbin/rexec-agent", unit))
    assert (r.returncode, r.stderr) == (0, ""), r

    # The shipped /etc/rexec/agent.yaml as installed, with nothing else: exit 78.
    etc = tmp_path / "etc-rexec"
    shutil.copytree(root / "etc/rexec", etc)
    r = run(root / "usr/sbin/rexec-agent", "--config", etc / "agent.yaml")
    assert r.returncode == 78 and "not configured yet" in r.stderr, r
    assert f"{etc}/agent.pem" in r.stderr and "rexec cert issue" in r.stderr, r.stderr


def test_arm64_binaries_are_aarch64(built, tmp_path):
    """The arm64 packages hold the aarch64 cross-build (run under qemu by the arm64 CI)."""
    for pkg, binary in (("rexec", "usr/bin/rexec"), ("rexec-agent", "usr/sbin/rexec-agent")):
        root = tmp_path / pkg
        assert run("dpkg-deb", "-x", deb(built, pkg, "arm64"), root).returncode == 0
        head = (root / binary).read_bytes()[:20]
        # ELF, 64-bit, little-endian, e_machine 183 (EM_AARCH64).
        assert head[:5] == b"\x7fELF\x02" and int.from_bytes(head[18:20], "little") == 183


def test_dpkg_installs_and_purges_into_a_throwaway_root(built, tmp_path):
    """A real dpkg with its maintainer scripts, in DIR instead of / (dpkg --root, scripts run
    chrootless with DPKG_ROOT, which deb-systemd-helper honours and our scripts check before
    touching the running system): the unit gets enabled, the conffile registered, purge
    removes both."""
    root = tmp_path / "root"
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "etc/systemd/system"):
        (root / d).mkdir(parents=True)
    (root / "var/lib/dpkg/status").touch()
    # --force-depends: the empty root has no init-system-helpers; the scripts run this
    # machine's deb-systemd-helper, which works on $DPKG_ROOT.
    dpkg = ["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends"]
    env = dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    host_link = pathlib.Path("/etc/systemd/system/multi-user.target.wants/rexec-agent.service")
    host_had_link = host_link.is_symlink()
    r = run(*dpkg, "-i", deb(built, "rexec", "amd64"), deb(built, "rexec-agent", "amd64"), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "not started" not in r.stdout  # DPKG_ROOT set: the running system is left alone
    wants = root / "etc/systemd/system/multi-user.target.wants/rexec-agent.service"
    assert wants.is_symlink() and os.readlink(wants) == "/lib/systemd/system/rexec-agent.service"
    r = run(*dpkg, "--status", "rexec-agent", env=env)
    assert "Status: install ok installed" in r.stdout, r.stdout
    assert "/etc/rexec/agent.yaml" in r.stdout  # Conffiles:
    assert (root / "usr/sbin/rexec-agent").is_file() and (root / "usr/bin/rexec").is_file()
    assert host_link.is_symlink() == host_had_link  # this machine's systemd left alone

    r = run(*dpkg, "--purge", "rexec-agent", "rexec", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not wants.exists() and not wants.is_symlink()
    assert not (root / "etc/rexec/agent.yaml").exists()
    assert not (root / "usr/sbin/rexec-agent").exists()
    assert not (root / "var/lib/systemd/deb-systemd-helper-enabled/rexec-agent.service.dsh-also").exists()


def test_release_archives_and_sums(built, tmp_path):
    rel = built[0] / "release"
    names = [f"rexec-{VERSION}-linux-{a}.tar.gz" for a in ARCHS.values()]
    sums = (rel / "SHA256SUMS").read_text().splitlines()
    assert sorted(l.split()[1] for l in sums) == sorted(names), sums
    r = run("sha256sum", "-c", "SHA256SUMS", cwd=rel)
    assert r.returncode == 0, r.stdout + r.stderr
    # A changed archive fails the check (the check can fail).
    copy = tmp_path / "rel"
    shutil.copytree(rel, copy, ignore=shutil.ignore_patterns("x86_64", "aarch64"))
    with open(copy / names[0], "ab") as f:
        f.write(b"\0")
    assert run("sha256sum", "-c", "SHA256SUMS", cwd=copy).returncode != 0

    for arch, name in zip(ARCHS.values(), names):
        with tarfile.open(rel / name) as t:
            members = {m.name: m for m in t.getmembers()}
        top = f"rexec-{VERSION}-linux-{arch}"
        want = {"bin/rexec", "sbin/rexec-agent", "lib/systemd/system/rexec-agent.service",
                "share/doc/rexec/README.md", "share/doc/rexec/NEWS",
                "share/doc/rexec/examples/agent.yaml"}
        for pkg in MAN:
            for page, sec in MAN[pkg]:
                if (TOP / f"packaging/man/{page}.{sec}.scd").is_file():
                    want.add(f"share/man/man{sec}/{page}.{sec}")
        for src, dest in COMPLETIONS:
            if (TOP / "packaging/completions" / src).is_file():
                want.add(dest.removeprefix("usr/"))
        files = {n.removeprefix(top + "/") for n, m in members.items() if m.isfile()}
        assert files == want, sorted(files)
        assert all(m.uid == 0 and m.gid == 0 for m in members.values())
        assert members[f"{top}/sbin/rexec-agent"].mode == 0o755
