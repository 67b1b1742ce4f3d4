"""`rexec ca init|crl` and `rexec cert issue|show|revoke` as a user runs them, checked by
OpenSSL's command line: readable PEM, a chain that verifies, the SANs, key usages, groups (OUs),
validity and curve asked for, private keys mode 0600, a CRL that OpenSSL verifies against the
CA and that revokes what was revoked, and honest exit codes (2 for usage, 1 with a message for
failures)."""
import datetime
import os
import stat
import subprocess
import time

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


# ---------------------------------------------------------------------------------------------
# Groups, --ttl, cert show, cert revoke, ca crl


def issue_client(rexec_bin, ca, out, *extra):
    r = run(rexec_bin, "cert", "issue", "--ca", str(ca), "--client", "alice", "--out",
            str(out), *extra)
    assert r.returncode == 0, r.stderr
    return f"{out}.pem"


def show(rexec_bin, *args, env=None):
    """`rexec cert show ARGS` as a dict of its "key  value" lines."""
    r = subprocess.run((rexec_bin, "cert", "show", *args), capture_output=True, text=True,
                       timeout=TIMEOUT, env=env)
    assert r.returncode == 0, r.stderr
    return {line[:12].strip(): line[12:] for line in r.stdout.splitlines()}


def test_groups_are_ous_of_the_subject(rexec_bin, ca, tmp_path):
    cert = issue_client(rexec_bin, ca, tmp_path / "alice", "--group", "ops", "--group=dev-2",
                        "--group", "ci.eu_1")
    subject = openssl("x509", "-noout", "-subject", "-in", cert).strip()
    assert subject == "subject=OU = ops, OU = dev-2, OU = ci.eu_1, CN = alice"
    openssl("verify", "-purpose", "sslclient", "-CAfile", str(ca / "ca.pem"), cert)
    info = show(rexec_bin, cert)
    assert info["name (CN)"] == "alice"
    assert info["groups"] == "ops, dev-2, ci.eu_1"
    assert info["role"] == "client"


@pytest.mark.parametrize("group", ["a b", "-ops", "ops,dev", "é", "x" * 65, "", "o\x1bp"])
def test_a_bad_group_name_is_refused(rexec_bin, ca, tmp_path, group):
    r = run(rexec_bin, "cert", "issue", "--ca", str(ca), "--client", "alice", "--group", group,
            "--out", str(tmp_path / "alice"))
    assert r.returncode == 2, r.stderr
    assert "group" in r.stderr and "letters, digits" in r.stderr or "1 to 64" in r.stderr
    assert "\x1b" not in r.stderr
    assert not (tmp_path / "alice.pem").exists()


def test_groups_are_for_clients(rexec_bin, ca, tmp_path):
    r = run(rexec_bin, "cert", "issue", "--ca", str(ca), "--agent", "web", "--group", "ops",
            "--out", str(tmp_path / "web"))
    assert r.returncode == 2 and "--group is for --client" in r.stderr


@pytest.mark.parametrize("ttl,secs", [("30s", 30), ("90m", 5400), ("8h", 28800),
                                      ("7d", 604800)])
def test_ttl(rexec_bin, ca, tmp_path, ttl, secs):
    cert = issue_client(rexec_bin, ca, tmp_path / "alice", "--ttl", ttl)
    dates = openssl("x509", "-noout", "-startdate", "-enddate", "-dateopt", "iso_8601",
                    "-in", cert)
    got = dict(line.split("=", 1) for line in dates.splitlines())
    start = datetime.datetime.fromisoformat(got["notBefore"].replace("Z", "+00:00"))
    end = datetime.datetime.fromisoformat(got["notAfter"].replace("Z", "+00:00"))
    now = datetime.datetime.now(datetime.timezone.utc)
    # Issued a moment ago: notBefore a minute back, notAfter TTL from then.
    assert abs((end - now).total_seconds() - secs) <= 5
    assert abs((now - start).total_seconds() - 60) <= 5
    # And it verifies now.
    openssl("verify", "-CAfile", str(ca / "ca.pem"), cert)


@pytest.mark.parametrize("extra", [("--ttl", "8h", "--days", "3"), ("--ttl", "8"),
                                   ("--ttl", "0s"), ("--ttl", "36501d"), ("--ttl", "1y")])
def test_bad_ttl_is_a_usage_error(rexec_bin, ca, tmp_path, extra):
    r = run(rexec_bin, "cert", "issue", "--ca", str(ca), "--client", "alice", "--out",
            str(tmp_path / "alice"), *extra)
    assert r.returncode == 2, r.stderr
    assert "--ttl" in r.stderr
    assert not (tmp_path / "alice.pem").exists()


def test_cert_show_agrees_with_openssl(rexec_bin, ca, tmp_path):
    cert = issue_client(rexec_bin, ca, tmp_path / "alice", "--group", "ops", "--days", "3")
    before = int(time.time())
    info = show(rexec_bin, cert)
    after = int(time.time())
    serial = openssl("x509", "-noout", "-serial", "-in", cert).strip().split("=")[1]
    assert info["serial"] == serial
    assert info["issuer"] == "CN=e2e CA"
    assert info["file"] == cert
    end = openssl("x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in", cert)
    end = end.strip().split("=")[1]  # 2026-12-08 15:44:27Z
    assert info["not after"] == end.replace("Z", " UTC")
    # What is left is truncated, as kubectl's ages are: 3 days, counted from the issuing
    # second, read as "3d" only within that second and as "2d 23h" once it has passed.
    left = datetime.datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp()
    spans = {"3d" if left - t >= 3 * 86400 else "2d 23h" for t in (before, after)}
    assert info["state"] in {f"valid, expires in {s}" for s in spans}, (info["state"], spans)


def test_cert_show_defaults_to_the_configured_certificate(rexec_bin, ca, tmp_path):
    mine = issue_client(rexec_bin, ca, tmp_path / "alice", "--group", "ops")
    r = run(rexec_bin, "cert", "issue", "--ca", str(ca), "--client", "bob", "--out",
            str(tmp_path / "bob"))
    assert r.returncode == 0, r.stderr
    conf = tmp_path / "client.yaml"
    # Relative paths are relative to the config file, as the client reads them.
    conf.write_text("ca: ca/ca.pem\ncert: alice.pem\nkey: alice-key.pem\nhosts:\n"
                    "  web: { address: 127.0.0.1 }\n"
                    "  db: { address: 127.0.0.2, cert: bob.pem, key: bob-key.pem }\n")
    env = dict(os.environ, REXEC_CONFIG=str(conf))
    info = show(rexec_bin, env=env)
    assert info["file"] == mine and info["name (CN)"] == "alice"
    assert show(rexec_bin, "--config", str(conf))["name (CN)"] == "alice"
    assert show(rexec_bin, "--host", "db", env=env)["name (CN)"] == "bob"
    assert show(rexec_bin, "--host", "web", env=env)["name (CN)"] == "alice"
    r = subprocess.run((rexec_bin, "cert", "show", "--host", "nope"), capture_output=True,
                       text=True, timeout=TIMEOUT, env=env)
    assert r.returncode == 1 and "nope: no such host" in r.stderr


def test_cert_show_escapes_what_the_certificate_says(rexec_bin, tmp_path):
    key = tmp_path / "k.pem"
    cert = tmp_path / "evil.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1", "-utf8",
            "-subj", "/OU=ops\x1b[2J/CN=mallory\x1b]0;pwned\x07\r")
    r = run(rexec_bin, "cert", "show", str(cert))
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\r" not in r.stdout
    assert "mallory\\033]0;pwned\\007\\r" in r.stdout or "mallory\\033]0;pwned\\007\\015" in r.stdout
    assert "ops\\033[2J" in r.stdout
    assert "role        (no extendedKeyUsage)" in r.stdout


def test_cert_show_says_expired(rexec_bin, tmp_path):
    from certs import issue
    ca = tmp_path / "ca"
    assert run(rexec_bin, "ca", "init", str(ca)).returncode == 0
    cert, _, _ = issue(ca, tmp_path, "old", "clientAuth", seconds=-7200, since=86400)
    info = show(rexec_bin, str(cert))
    # Truncated to the minute once past the hour: a stalled machine may read it a minute late.
    assert info["state"] in ("expired 2h ago", "expired 2h 1m ago"), info["state"]


def test_cert_show_of_junk_fails(rexec_bin, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    r = run(rexec_bin, "cert", "show", str(junk))
    assert r.returncode == 1 and str(junk) in r.stderr and "not a PEM certificate" in r.stderr
    r = run(rexec_bin, "cert", "show", str(tmp_path / "missing.pem"))
    assert r.returncode == 1 and "missing.pem" in r.stderr


def crl_text(path):
    return openssl("crl", "-noout", "-text", "-in", str(path))


def test_revoke_and_crl(rexec_bin, ca, tmp_path):
    alice = issue_client(rexec_bin, ca, tmp_path / "alice")
    r = run(rexec_bin, "cert", "issue", "--ca", str(ca), "--client", "bob", "--out",
            str(tmp_path / "bob"))
    assert r.returncode == 0, r.stderr
    bob = f"{tmp_path / 'bob'}.pem"
    a_serial = openssl("x509", "-noout", "-serial", "-in", alice).strip().split("=")[1]
    b_serial = openssl("x509", "-noout", "-serial", "-in", bob).strip().split("=")[1]

    # An empty CRL first: valid, no entries, number 1, 30 days.
    crl = tmp_path / "crl.pem"
    r = run(rexec_bin, "ca", "crl", "--ca", str(ca), "--out", str(crl))
    assert r.returncode == 0, r.stderr
    assert "CRL number 1, 0 revoked" in r.stdout
    text = crl_text(crl)
    assert "No Revoked Certificates." in text
    assert "Version 2 (0x1)" in text

    # Revoke alice by file and bob by serial (as `cert show` prints it, in lower case
    # with colons as `openssl -text` prints it: the same serial).
    r = run(rexec_bin, "cert", "revoke", "--ca", str(ca), alice)
    assert r.returncode == 0, r.stderr
    assert f"revoked serial {a_serial}" in r.stdout and "rexec ca crl" in r.stdout
    colons = ":".join(b_serial[i:i + 2] for i in range(0, len(b_serial), 2)).lower()
    r = run(rexec_bin, "cert", "revoke", "--ca", str(ca), "--serial", colons)
    assert r.returncode == 0, r.stderr
    revoked_before = (ca / "revoked").read_text()
    # Idempotent: again changes nothing and says so.
    r = run(rexec_bin, "cert", "revoke", "--ca", str(ca), "--serial", b_serial)
    assert r.returncode == 0 and "already revoked" in r.stdout
    assert (ca / "revoked").read_text() == revoked_before

    r = run(rexec_bin, "ca", "crl", "--ca", str(ca), "--days", "7", "--out", str(crl))
    assert r.returncode == 0, r.stderr
    assert "CRL number 2, 2 revoked" in r.stdout
    assert mode(crl) == 0o644
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]

    # OpenSSL checks the signature against the CA and reads what it holds.
    r = run("openssl", "crl", "-noout", "-verify", "-CAfile", str(ca / "ca.pem"), "-in",
            str(crl))
    assert r.returncode == 0 and "verify OK" in r.stderr, r.stderr
    text = crl_text(crl)
    assert "Issuer: CN = e2e CA" in text
    assert f"Serial Number: {a_serial}" in text and f"Serial Number: {b_serial}" in text
    assert "X509v3 CRL Number: \n                2" in text
    ski = openssl("x509", "-noout", "-ext", "subjectKeyIdentifier", "-in", str(ca / "ca.pem"))
    assert ski.strip().splitlines()[-1].strip() in text  # the authorityKeyIdentifier
    dates = openssl("crl", "-noout", "-lastupdate", "-nextupdate", "-dateopt", "iso_8601",
                    "-in", str(crl))
    got = dict(line.split("=", 1) for line in dates.splitlines())
    last = datetime.datetime.fromisoformat(got["lastUpdate"].replace("Z", "+00:00"))
    nxt = datetime.datetime.fromisoformat(got["nextUpdate"].replace("Z", "+00:00"))
    assert (nxt - last).total_seconds() == 7 * 86400

    # And OpenSSL's chain check with the CRL refuses alice, not a third certificate.
    r = run("openssl", "verify", "-crl_check", "-CAfile", str(ca / "ca.pem"), "-CRLfile",
            str(crl), alice)
    assert r.returncode != 0 and "certificate revoked" in r.stdout + r.stderr
    carol = issue_client(rexec_bin, ca, tmp_path / "carol")
    openssl("verify", "-crl_check", "-CAfile", str(ca / "ca.pem"), "-CRLfile", str(crl), carol)


def test_revoke_refuses_what_the_ca_did_not_sign(rexec_bin, ca, tmp_path):
    other = tmp_path / "other"
    assert run(rexec_bin, "ca", "init", str(other)).returncode == 0
    r = run(rexec_bin, "cert", "issue", "--ca", str(other), "--client", "eve", "--out",
            str(tmp_path / "eve"))
    assert r.returncode == 0
    eve = f"{tmp_path / 'eve'}.pem"
    r = run(rexec_bin, "cert", "revoke", "--ca", str(ca), eve)
    assert r.returncode == 1 and "was not signed by the CA" in r.stderr
    serial = openssl("x509", "-noout", "-serial", "-in", eve).strip().split("=")[1]
    r = run(rexec_bin, "cert", "revoke", "--ca", str(ca), "--serial", serial)
    assert r.returncode == 1 and "did not issue it" in r.stderr
    r = run(rexec_bin, "cert", "revoke", "--ca", str(ca), str(ca / "ca.pem"))
    assert r.returncode == 1 and "the CA's own certificate" in r.stderr
    r = run(rexec_bin, "cert", "revoke", "--ca", str(ca), "--serial", "xyz")
    assert r.returncode == 1 and "not a serial" in r.stderr
    assert not (ca / "revoked").exists()


@pytest.mark.parametrize("args", [
    ("ca", "crl"),
    ("ca", "crl", "--ca", "CA"),
    ("ca", "crl", "--out", "X"),
    ("ca", "crl", "--ca", "CA", "--out", "X", "--days", "0"),
    ("cert", "revoke", "--ca", "CA"),
    ("cert", "revoke", "X.pem"),
    ("cert", "revoke", "--ca", "CA", "X.pem", "--serial", "1"),
    ("cert", "show", "a.pem", "b.pem"),
    ("cert", "show", "--bogus"),
])
def test_new_usage_errors_exit_2(rexec_bin, tmp_path, args):
    r = subprocess.run((rexec_bin, *args), capture_output=True, text=True, timeout=TIMEOUT,
                       cwd=tmp_path)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert "usage: rexec " + args[0] in r.stderr
    assert not list(tmp_path.iterdir())
