"""`rexec ca init` and `rexec cert issue` as a user runs them, checked by OpenSSL's command line:
readable PEM, a chain that verifies, the SANs, key usages and curve asked for, private keys
mode 0600, and honest exit codes (2 for usage, 1 with a message for failures)."""
import os
import stat
import subprocess

import pytest

TIMEOUT = 30


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)


def openssl(*args):
    r = run("openssl", *args)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def ca(rexec_bin, tmp_path):
    """A fresh CA in tmp_path/ca, made by the real binary."""
    d = tmp_path / "ca"
    r = run(rexec_bin, "ca", "init", str(d), "--name", "e2e CA", "--days", "30")
    assert r.returncode == 0, r.stderr
    assert str(d / "ca.pem") in r.stdout and str(d / "ca-key.pem") in r.stdout
    return d


def test_ca_init(ca):
    text = openssl("x509", "-noout", "-text", "-in", str(ca / "ca.pem"))
    assert "Subject: CN = e2e CA" in text
    assert "Issuer: CN = e2e CA" in text
    assert "CA:TRUE, pathlen:0" in text
    assert "Certificate Sign, CRL Sign" in text
    assert "ASN1 OID: prime256v1" in text
    assert "ecdsa-with-SHA256" in text
    openssl("ec", "-noout", "-check", "-in", str(ca / "ca-key.pem"))
    assert mode(ca / "ca-key.pem") == 0o600
    assert mode(ca) == 0o700
    # Self-signed and valid: it verifies against itself.
    assert openssl("verify", "-CAfile", str(ca / "ca.pem"), str(ca / "ca.pem")).strip().endswith("OK")


def test_agent_and_client_certs(rexec_bin, ca, tmp_path):
    agent = tmp_path / "web-1"
    r = run(rexec_bin, "cert", "issue", "--ca", str(ca), "--agent", "web-1.example",
            "--san", "10.20.30.40", "--san=web,::1", "--out", str(agent))
    assert r.returncode == 0, r.stderr
    assert f"{agent}.pem" in r.stdout and f"{agent}-key.pem" in r.stdout
    user = tmp_path / "alice"
    r = run(rexec_bin, "cert", "issue", "--ca", str(ca), "--client", "alice",
            "--out", str(user), "--days", "7")
    assert r.returncode == 0, r.stderr

    for prefix in (agent, user):
        cert, key = f"{prefix}.pem", f"{prefix}-key.pem"
        out = openssl("verify", "-x509_strict", "-CAfile", str(ca / "ca.pem"), cert)
        assert out.strip() == f"{cert}: OK"
        assert mode(key) == 0o600
        text = openssl("x509", "-noout", "-text", "-in", cert)
        assert "ASN1 OID: prime256v1" in text
        assert "Issuer: CN = e2e CA" in text
        assert "CA:FALSE" in text
        assert "Digital Signature" in text
        # The key file holds the certificate's key.
        pub_cert = openssl("x509", "-noout", "-pubkey", "-in", cert)
        pub_key = openssl("pkey", "-pubout", "-in", key)
        assert pub_cert == pub_key

    text = openssl("x509", "-noout", "-text", "-in", f"{agent}.pem")
    assert "Subject: CN = web-1.example" in text
    assert ("DNS:web-1.example, IP Address:10.20.30.40, DNS:web, "
            "IP Address:0:0:0:0:0:0:0:1") in text
    assert "TLS Web Server Authentication" in text
    assert "TLS Web Client Authentication" not in text
    # OpenSSL's own purpose and host checks agree.
    for host in ("-verify_hostname", "web-1.example"), ("-verify_hostname", "web"), \
            ("-verify_ip", "10.20.30.40"), ("-verify_ip", "::1"):
        openssl("verify", "-purpose", "sslserver", *host, "-CAfile", str(ca / "ca.pem"),
                f"{agent}.pem")
    r = run("openssl", "verify", "-verify_hostname", "other.example", "-CAfile",
            str(ca / "ca.pem"), f"{agent}.pem")
    assert r.returncode != 0

    text = openssl("x509", "-noout", "-text", "-in", f"{user}.pem")
    assert "Subject: CN = alice" in text
    assert "TLS Web Client Authentication" in text
    assert "TLS Web Server Authentication" not in text
    assert "Subject Alternative Name" not in text
    openssl("verify", "-purpose", "sslclient", "-CAfile", str(ca / "ca.pem"), f"{user}.pem")


def test_existing_files_are_not_overwritten(rexec_bin, ca, tmp_path):
    before = (ca / "ca-key.pem").read_bytes()
    r = run(rexec_bin, "ca", "init", str(ca))
    assert r.returncode == 1
    assert r.stderr.startswith("rexec: ") and "already exists" in r.stderr
    assert (ca / "ca-key.pem").read_bytes() == before

    out = tmp_path / "bob"
    argv = (rexec_bin, "cert", "issue", "--ca", str(ca), "--client", "bob", "--out", str(out))
    assert run(*argv).returncode == 0
    before = (tmp_path / "bob-key.pem").read_bytes()
    r = run(*argv)
    assert r.returncode == 1 and "already exists" in r.stderr
    assert (tmp_path / "bob-key.pem").read_bytes() == before


def test_missing_ca_fails_with_message(rexec_bin, tmp_path):
    r = run(rexec_bin, "cert", "issue", "--ca", str(tmp_path / "nope"), "--client", "alice",
            "--out", str(tmp_path / "alice"))
    assert r.returncode == 1
    assert r.stderr.startswith("rexec: ")
    assert len(r.stderr.strip().splitlines()) == 1
    assert str(tmp_path / "nope" / "ca.pem") in r.stderr
    assert "usage:" not in r.stderr
    assert not list(tmp_path.iterdir())


def test_bad_name_fails_with_message(rexec_bin, ca, tmp_path):
    r = run(rexec_bin, "cert", "issue", "--ca", str(ca), "--agent", "web-1", "--san", "not a host",
            "--out", str(tmp_path / "x"))
    assert r.returncode == 1
    assert r.stderr.startswith("rexec: ") and "not a host" in r.stderr
    assert not (tmp_path / "x.pem").exists() and not (tmp_path / "x-key.pem").exists()


@pytest.mark.parametrize("args", [
    ("ca",),
    ("ca", "frobnicate"),
    ("ca", "init"),
    ("ca", "init", "a", "b"),
    ("ca", "init", "DIR", "--days"),
    ("ca", "init", "DIR", "--days", "0"),
    ("ca", "init", "DIR", "--days", "ten"),
    ("ca", "init", "DIR", "--bogus"),
    ("cert",),
    ("cert", "issue"),
    ("cert", "issue", "--ca", "CA", "--out", "X"),
    ("cert", "issue", "--ca", "CA", "--agent", "a", "--client", "b", "--out", "X"),
    ("cert", "issue", "--ca", "CA", "--client", "b", "--san", "x", "--out", "X"),
    ("cert", "issue", "--ca", "CA", "--agent", "a"),
    ("cert", "issue", "--ca", "CA", "--agent", "a", "--out", "X", "--san"),
    ("cert", "issue", "--ca", "CA", "--agent", "a", "--out", "X", "--san=a,,b"),
    ("cert", "issue", "--ca", "CA", "--agent", "a", "--out", "X", "--days", "-1"),
    ("cert", "issue", "--ca", "CA", "--agent", "a", "--out", "X", "extra"),
])
def test_usage_errors_exit_2(rexec_bin, tmp_path, args):
    r = subprocess.run((rexec_bin, *args), capture_output=True, text=True, timeout=TIMEOUT,
                       cwd=tmp_path)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert "usage: rexec " + args[0] in r.stderr
    assert r.stdout == ""
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("sub", ["ca", "cert"])
def test_help(rexec_bin, sub):
    r = run(rexec_bin, sub, "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: rexec " + sub)
