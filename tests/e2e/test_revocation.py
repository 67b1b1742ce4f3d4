"""Revocation and short-lived certificates on the agent: `crl: FILE` / `--crl FILE` (PEM, one CRL
per CA) refuses a revoked client certificate at the full handshake and on TLS resumption (the
ticket's serial and issuer are checked against the CRL); SIGHUP re-reads the CRL, the CA file
(several CAs for a rollover), the agent's certificate and key, keeps the old settings when a
file is broken, and ends the connections and sessions of a certificate it now revokes (a
control master's too); a CRL past its nextUpdate fails closed, loudly on both sides; a
connection is closed when its client certificate expires.

CRLs are made by `rexec cert revoke` and `rexec ca crl`, and by Debian's `openssl ca -gencrl`
(which can make one that expires in seconds) against CAs made by `rexec ca init`."""
import datetime
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from certs import client_config, issue
from conftest import Client, ended, masters, pids_with_arg, wait_for, wait_gone, wait_present

TIMEOUT = 30  # bounds on waits: a hang guard, not a speed claim

CRL_CONF = """\
[ca]
default_ca = local
[local]
database = {dir}/index.txt
crlnumber = {dir}/crlnumber
default_md = sha256
"""


def _openssl(*args):
    r = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


class CrlMaker:
    """`openssl ca` over the CA in CA_DIR (ca.pem, ca-key.pem) with its own database in WORK:
    revoke() records a certificate as revoked, write() a CRL of everything revoked so far."""

    def __init__(self, ca_dir, work):
        self.ca_dir, self.work = pathlib.Path(ca_dir), pathlib.Path(work)
        self.work.mkdir(parents=True)
        (self.work / "index.txt").write_text("")
        (self.work / "crlnumber").write_text("01\n")
        self.conf = self.work / "ca.conf"
        self.conf.write_text(CRL_CONF.format(dir=self.work))

    def _ca(self, *args):
        return _openssl("ca", "-batch", "-config", self.conf, "-cert", self.ca_dir / "ca.pem",
                        "-keyfile", self.ca_dir / "ca-key.pem", *args)

    def revoke(self, cert):
        self._ca("-revoke", cert)

    def write(self, out, seconds=30 * 86400):
        """A CRL valid for SECONDS from now, into OUT (replaced whole, as an operator's
        `mv` would: the agent never reads half a file)."""
        tmp = pathlib.Path(str(out) + ".tmp")
        self._ca("-gencrl", "-crlsec", seconds, "-out", tmp)
        os.replace(tmp, out)
        return out


class RexecCrl:
    """The same as CrlMaker through rexec's own commands: `rexec cert revoke` (a certificate or
    --serial HEX) and `rexec ca crl`."""

    def __init__(self, rexec_bin, ca_dir):
        self.bin, self.ca_dir = rexec_bin, pathlib.Path(ca_dir)

    def _rexec(self, *args):
        r = subprocess.run([self.bin, *map(str, args)], capture_output=True, timeout=TIMEOUT)
        assert r.returncode == 0, (args, r.stderr)

    def revoke(self, cert=None, serial=None):
        self._rexec("cert", "revoke", "--ca", self.ca_dir,
                    *(["--serial", serial] if serial else [cert]))

    def write(self, out):
        tmp = pathlib.Path(str(out) + ".tmp")
        self._rexec("ca", "crl", "--ca", self.ca_dir, "--out", tmp)
        os.replace(tmp, out)
        return out


def new_ca(rexec_bin, d, name):
    r = subprocess.run([rexec_bin, "ca", "init", d, "--name", name], capture_output=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    return pathlib.Path(d)


def serial_of(cert):
    return _openssl("x509", "-in", cert, "-noout", "-serial").strip().split("=")[1]


def issue_with_serial(ca_dir, out_dir, name, serial):
    """A client certificate for CN=NAME from the CA in CA_DIR with serial SERIAL (hex)."""
    out_dir = pathlib.Path(out_dir)
    key, csr, cert = (out_dir / f"{name}-key.pem", out_dir / f"{name}.csr",
                      out_dir / f"{name}.pem")
    ext = out_dir / f"{name}.ext"
    ext.write_text("basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\n"
                   "extendedKeyUsage = clientAuth\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-subj", f"/CN={name}", "-out", csr)
    _openssl("x509", "-req", "-in", csr, "-CA", pathlib.Path(ca_dir) / "ca.pem", "-CAkey",
             pathlib.Path(ca_dir) / "ca-key.pem", "-set_serial", f"0x{serial}", "-days", "1",
             "-sha256", "-extfile", ext, "-out", cert)
    return cert, key


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The client's ticket cache (and the control masters' sockets) for this test alone."""
    d = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(d))
    rt = pathlib.Path(tempfile.mkdtemp(prefix="rx"))  # short: a socket path fits 108 bytes
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(rt))
    yield d / "rexec" / "tickets"
    shutil.rmtree(rt, ignore_errors=True)


@pytest.fixture
def pki(rexec_bin, tmp_path):
    """A dev agent's state directory whose CA exists before the agent starts (so that a CRL of
    it can be given at start-up), and a CrlMaker for that CA."""
    sd = new_ca(rexec_bin, tmp_path / "state", "rexec dev CA")
    return sd, CrlMaker(sd, tmp_path / "crl-db")


def user(rexec_bin, agent, name, ca_dir=None, seconds=86400, persist=None):
    """A Client for a certificate of CN=NAME from CA_DIR (default: the agent's CA)."""
    sd = agent.state_dir
    cert, key, _ = issue(ca_dir or sd, sd, name, "clientAuth", seconds=seconds)
    return client_for(rexec_bin, agent, name, cert, key, persist)


def client_for(rexec_bin, agent, name, cert, key, persist=None):
    sd = agent.state_dir
    extra = f"defaults: {{ control_persist: {persist} }}\n" if persist else ""
    conf = client_config(sd / f"{name}.conf", sd / "ca.pem", cert, key, agent.addr, extra)
    c = Client(rexec_bin, agent, config=conf)
    c.cert = cert
    return c


def run(client, *cmd):
    return client.run("-v", "-T", "dev", "--host", "--", *cmd)


def handshake(r):
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err
    return "resumed" if "TLS session resumed" in err else "full"


def reload(agent):
    """SIGHUP, and wait for the agent to say how its TLS files went."""
    before = agent.log().count("SIGHUP: TLS files")
    os.kill(agent.pid, signal.SIGHUP)
    wait_for(lambda: agent.log().count("SIGHUP: TLS files") > before, TIMEOUT,
             "the agent to re-read its TLS files")
    agent.assert_alive()
    return [l for l in agent.log().splitlines() if "SIGHUP: TLS files" in l][-1]


def records(path):
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


REVOKED = "The certificate has been revoked (is on a CRL)"


def test_a_revoked_certificate_is_refused_fresh_and_on_resume(start_agent, rexec_bin, pki,
                                                              tmp_path, cache):
    sd, _ = pki
    crls = RexecCrl(rexec_bin, sd)
    crl = crls.write(tmp_path / "crl.pem")
    agent = start_agent("-v", "--allow-all", "--crl", crl, state_dir=sd)
    alice, bob = user(rexec_bin, agent, "alice"), user(rexec_bin, agent, "bob")
    assert handshake(run(alice, "true")) == "full"
    assert handshake(run(alice, "true")) == "resumed"
    assert handshake(run(bob, "true")) == "full"

    crls.revoke(alice.cert)
    crls.write(crl)
    assert serial_of(alice.cert) in _openssl("crl", "-in", crl, "-noout", "-text").replace(":", "")
    assert "reloaded" in reload(agent)
    # Alice's client still holds a ticket and offers it: the agent refuses it (the CRL lists
    # its serial), and the full handshake that follows refuses her certificate.
    assert len(list(cache.iterdir())) == 2
    before = agent.log().count(REVOKED)
    r = run(alice, "echo", "resumed?")
    assert r.returncode == 255 and r.stdout == b"", r.stderr
    assert b"TLS session resumed" not in r.stderr, r.stderr
    wait_for(lambda: agent.log().count(REVOKED) > before, TIMEOUT,
             "the agent to refuse the revoked certificate in a full handshake")
    # Fresh, without any ticket: refused.
    shutil.rmtree(cache)
    before = agent.log().count(REVOKED)
    r = run(alice, "true")
    assert r.returncode == 255, r.stderr
    wait_for(lambda: agent.log().count(REVOKED) > before, TIMEOUT, "a second refusal")
    # Bob, of the same CA and not revoked, is served as before.
    assert handshake(run(bob, "true")) == "full"
    assert handshake(run(bob, "true")) == "resumed"
    agent.assert_alive()


def test_revocation_ends_sessions_and_a_control_master_at_sighup(start_agent, rexec_bin, pki,
                                                                 tmp_path, cache, marker,
                                                                 stop_masters):
    sd, _ = pki
    crls = RexecCrl(rexec_bin, sd)
    crl = crls.write(tmp_path / "crl.pem")
    audit = tmp_path / "audit.jsonl"
    agent = start_agent("-v", "--allow-all", "--crl", crl, "--audit-log", audit, state_dir=sd)
    alice = user(rexec_bin, agent, "alice")
    cert, key = alice.cert, pathlib.Path(str(alice.cert).replace(".pem", "-key.pem"))
    alice_m = client_for(rexec_bin, agent, "alice-master", cert, key, persist="60s")
    stop_masters(alice_m)
    bob = user(rexec_bin, agent, "bob")
    # A serial with its high bit set: DER puts a zero byte before it, openssl's hex does not.
    cert, key = issue_with_serial(sd, sd, "frank", "80F00D0000000000000000000000000000000001")
    frank = client_for(rexec_bin, agent, "frank", cert, key)
    m_direct, m_master, m_bob, m_frank = (marker + n for n in "1234")

    with ended(alice.popen("-T", "dev", "--host", "--", "sleep", m_direct)) as p_direct, \
            ended(alice_m.popen("-v", "-T", "dev", "--host", "--", "sleep", m_master)) as p_m, \
            ended(bob.popen("-T", "dev", "--host", "--", "sleep", m_bob)) as p_bob, \
            ended(frank.popen("-T", "dev", "--host", "--", "sleep", m_frank)) as p_frank:
        for m in (m_direct, m_master, m_bob, m_frank):
            wait_present(m)
        (master,) = wait_for(lambda: masters(alice_m), TIMEOUT, "alice's control master")

        crls.revoke(alice.cert)
        crls.revoke(frank.cert)
        crls.write(crl)
        assert "reloaded" in reload(agent)

        # Alice's and frank's sessions end and their clients hear why; her master leaves.
        for p in (p_direct, p_m, p_frank):
            p.wait(timeout=TIMEOUT)
            err = p.stderr.read()
            assert p.returncode != 0 and b"revoked" in err, (p.returncode, err)
        wait_gone(m_direct, TIMEOUT)
        wait_gone(m_master, TIMEOUT)
        wait_gone(m_frank, TIMEOUT)
        wait_for(lambda: not masters(alice_m), TIMEOUT, "alice's master to leave")
        # Bob's session goes on.
        assert p_bob.poll() is None and pids_with_arg(m_bob)

    # The log and the audit log say it, for each connection and each session.
    log = agent.log()
    assert log.count("alice (certificate serial") >= 2, log
    recs = records(audit)
    gone = [r for r in recs if r["event"] == "disconnect"]
    assert sorted(r["who"] for r in gone) == ["alice", "alice", "frank"], gone
    assert all("revoked" in r["reason"] and r["serial"] == serial_of(c.cert)
               for r, c in zip(sorted(gone, key=lambda r: r["who"]), (alice, alice, frank))), gone
    ends = [r for r in recs if r["event"] == "end" and r["who"] in ("alice", "frank")]
    assert len(ends) == 3, recs
    assert all(r["reason"] == "the client's certificate was revoked" for r in ends), ends
    assert not [r for r in recs if r["event"] == "end" and r["who"] == "bob"]
    agent.assert_alive()


def test_an_expired_crl_fails_closed_loudly(start_agent, rexec_bin, pki, tmp_path, cache):
    sd, crls = pki
    # 20 s: the agent's start and two sessions must fit before it, on a machine that may stall.
    crl = crls.write(tmp_path / "crl.pem", seconds=20)
    until = time.time() + 20
    agent = start_agent("-v", "--allow-all", "--crl", crl, state_dir=sd)
    # Within a day of its nextUpdate from the start: a warning at once.
    wait_for(lambda: "goes out of date at" in agent.log(), TIMEOUT, "the start-up warning")
    client = Client(rexec_bin, agent)
    assert handshake(run(client, "true")) == "full"
    assert handshake(run(client, "true")) == "resumed"  # a ticket in hand for later

    wait_for(lambda: time.time() > until + 1, TIMEOUT, "the CRL's nextUpdate to pass")
    wait_for(lambda: "expired at" in agent.log(), TIMEOUT, "the agent's error at nextUpdate")
    # The ticket is no way around it; the client says why in one line.
    r = run(client, "echo", "served?")
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 255 and r.stdout == b"", err
    assert "certificate revocation list (CRL)" in err and "expired at" in err, err
    assert "TLS session resumed" not in err, err
    # The refusal is logged (rate-limited, with the other refused handshakes), and the CRL's
    # end was logged as an error when it came.
    wait_for(lambda: "handshake refused (crl_expired" in agent.log(), TIMEOUT,
             "the agent's log line for the refusal")
    assert [l for l in agent.log().splitlines() if " error: " in l and "expired at" in l]

    # A fresh CRL and a SIGHUP: served again.
    crls.write(crl)
    assert "reloaded" in reload(agent)
    assert run(client, "true").returncode == 0
    agent.assert_alive()


def test_broken_files_at_sighup_keep_the_old_settings(start_agent, rexec_bin, pki, tmp_path,
                                                      cache):
    sd, crls = pki
    crl = tmp_path / "crl.pem"
    agent = start_agent("-v", "--allow-all", "--crl", crls.write(crl), state_dir=sd)
    alice, client = user(rexec_bin, agent, "alice"), Client(rexec_bin, agent)
    crls.revoke(alice.cert)
    crls.write(crl)
    assert "reloaded" in reload(agent)
    assert run(alice, "true").returncode == 255

    def still_the_old():
        assert run(client, "true").returncode == 0
        assert run(alice, "true").returncode == 255
        agent.assert_alive()

    good = crl.read_text()
    n = len(good.splitlines())
    # A second CRL block that is not base64: named by its line.
    crl.write_text(good + "-----BEGIN X509 CRL-----\nnot base64 at all\n-----END X509 CRL-----\n")
    line = reload(agent)
    assert "not reloaded" in line and f"{crl}:{n + 1}: " in line and "not valid PEM" in line, line
    still_the_old()
    # A CRL that no CA of the CA file signed.
    other = new_ca(rexec_bin, tmp_path / "other", "rexec dev CA")  # same name, another key
    CrlMaker(other, tmp_path / "other-db").write(crl)
    line = reload(agent)
    assert "not reloaded" in line and "not signed by that CA" in line, line
    still_the_old()
    crl.write_text(good)

    # The agent's certificate cut short, then a key that is not its certificate's.
    cert = sd / "agent.pem"
    pem = cert.read_text()
    cert.write_text(pem[:len(pem) // 2] + "\n-----END CERTIFICATE-----\n")
    line = reload(agent)
    assert "not reloaded" in line and "agent.pem:1: " in line, line
    still_the_old()
    cert.write_text(pem)
    key = sd / "agent-key.pem"
    good_key = key.read_text()
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    line = reload(agent)
    assert "not reloaded" in line and "not the key of the certificate" in line, line
    still_the_old()
    key.write_text(good_key)
    assert "reloaded" in reload(agent)
    still_the_old()


def test_a_broken_crl_stops_the_start(start_agent, pki, tmp_path):
    sd, _ = pki
    crl = tmp_path / "crl.pem"
    crl.write_text("-----BEGIN X509 CRL-----\nMAo=\n-----END X509 CRL-----\n")
    agent = start_agent("--crl", crl, state_dir=sd, wait_ready=False)
    agent.expected_exit = True
    assert agent.proc.wait(timeout=TIMEOUT) != 0
    assert f"{crl}:1: the X509 CRL starting here does not parse" in agent.log(), agent.log()


def test_a_ca_rollover_at_sighup(start_agent, rexec_bin, pki, tmp_path, cache):
    sd, crls1 = pki
    ca2 = new_ca(rexec_bin, tmp_path / "ca2", "rexec CA 2")
    crls2 = CrlMaker(ca2, tmp_path / "crl2-db")
    crl = tmp_path / "crl.pem"
    agent = start_agent("-v", "--allow-all", "--crl", crls1.write(crl), state_dir=sd)
    alice = user(rexec_bin, agent, "alice")
    carol = user(rexec_bin, agent, "carol", ca_dir=ca2)
    dave = user(rexec_bin, agent, "dave", ca_dir=ca2)
    # Erin's certificate from the new CA has the serial of alice's, whom the old CA revokes:
    # a serial is only unique per CA, so erin is not refused for it, fresh or resumed.
    cert, key = issue_with_serial(ca2, sd, "erin", serial_of(alice.cert))
    erin = client_for(rexec_bin, agent, "erin", cert, key)
    crls1.revoke(alice.cert)
    crls2.revoke(dave.cert)
    crls1.write(crl)
    assert "reloaded" in reload(agent)
    assert run(carol, "true").returncode == 255  # the new CA is not trusted yet

    ca_file = sd / "ca.pem"
    ca_file.write_text(ca_file.read_text() + (ca2 / "ca.pem").read_text())
    crl.write_text(crls1.write(tmp_path / "crl1.pem").read_text() +
                   crls2.write(tmp_path / "crl2.pem").read_text())
    assert "reloaded" in reload(agent)
    for c in (carol, erin, Client(rexec_bin, agent)):
        assert handshake(run(c, "true")) == "full"
        assert handshake(run(c, "true")) == "resumed"
    assert run(alice, "true").returncode == 255
    assert run(dave, "true").returncode == 255
    agent.assert_alive()


def test_a_control_master_is_closed_when_its_certificate_expires(start_agent, rexec_bin, pki,
                                                                  tmp_path, cache, marker,
                                                                  stop_masters):
    sd, _ = pki
    audit = tmp_path / "audit.jsonl"
    agent = start_agent("-v", "--allow-all", "--audit-log", audit, state_dir=sd)
    cert, key, not_after = issue(sd, sd, "brief", "clientAuth", seconds=20)
    brief = client_for(rexec_bin, agent, "brief", cert, key, persist="60s")
    stop_masters(brief)
    with ended(brief.popen("-v", "-T", "dev", "--host", "--", "sleep", marker)) as p:
        wait_present(marker)
        wait_for(lambda: masters(brief), TIMEOUT, "the control master")
        p.wait(timeout=TIMEOUT)
        closed = datetime.datetime.now(datetime.timezone.utc)
        err = p.stderr.read()
    assert p.returncode != 0 and b"expired" in err, (p.returncode, err)
    # Not before notAfter (second precision), and not long after it: a timer set for notAfter,
    # not the hourly recheck, with room for a stalled machine.
    assert not_after <= closed < not_after + datetime.timedelta(seconds=20), (not_after, closed)
    wait_gone(marker, TIMEOUT)
    wait_for(lambda: not masters(brief), TIMEOUT, "the master to leave with its certificate")
    assert "the client certificate expired at" in agent.log()
    gone = [r for r in records(audit) if r["event"] == "disconnect"]
    assert len(gone) == 1 and gone[0]["who"] == "brief" and "expired" in gone[0]["reason"], gone
    agent.assert_alive()
