"""Refusals people can act on: every refused TLS handshake is logged by the agent (peer address,
the certificate's CN and serial, the reason) and written to the audit log, both rate-limited per
address with a summary of what was left out; the client says in one line that the agent refused
its certificate, why, and what to check. The agent tells the client through the TLS alert that
matches (unknown_ca, certificate_expired, bad_certificate, certificate_required), so that
openssl s_client names it too.

Certificates come from the dev agent's own CA (Debian's openssl for dates and usages that
`rexec cert issue` will not make) and from another CA made by `rexec ca init`."""
import datetime
import json
import pathlib
import socket
import subprocess

import pytest

from certs import CA_CONF, _openssl, _stamp, client_config
from conftest import Client, wait_for

TIMEOUT = 30.0


def issue_dated(ca_dir, out_dir, name, not_before, not_after, eku="clientAuth"):
    """NAME.pem / NAME-key.pem in OUT_DIR: a P-256 certificate for CN=NAME from the CA in CA_DIR,
    valid from NOT_BEFORE to NOT_AFTER (UTC datetimes), with extendedKeyUsage EKU."""
    out_dir = pathlib.Path(out_dir)
    work = out_dir / f"{name}.openssl"
    work.mkdir(parents=True)
    (work / "index.txt").write_text("")
    (work / "serial").write_text("01\n")
    (work / "ca.conf").write_text(CA_CONF.format(dir=work))
    (work / "ext.conf").write_text("basicConstraints = CA:FALSE\n"
                                   "keyUsage = critical, digitalSignature\n"
                                   f"extendedKeyUsage = {eku}\n")
    cert, key, csr = out_dir / f"{name}.pem", out_dir / f"{name}-key.pem", work / "req.pem"
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-subj", f"/CN={name}", "-out", csr)
    _openssl("ca", "-batch", "-notext", "-config", work / "ca.conf", "-cert",
             pathlib.Path(ca_dir) / "ca.pem", "-keyfile", pathlib.Path(ca_dir) / "ca-key.pem",
             "-rand_serial", "-extfile", work / "ext.conf", "-startdate", _stamp(not_before),
             "-enddate", _stamp(not_after), "-in", csr, "-out", cert)
    return cert, key


def serial_of(cert):
    out = _openssl("x509", "-in", cert, "-noout", "-serial")
    return out.strip().split("=", 1)[1]


def other_ca_cert(rexec_bin, tmp_path, name):
    ca = tmp_path / "other-ca"
    for argv in (["ca", "init", ca], ["cert", "issue", "--ca", ca, "--client", name, "--out",
                                      tmp_path / name]):
        r = subprocess.run([rexec_bin, *map(str, argv)], capture_output=True, timeout=TIMEOUT)
        assert r.returncode == 0, (argv, r.stderr)
    return tmp_path / f"{name}.pem", tmp_path / f"{name}-key.pem"


def audit_records(path):
    try:
        return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]
    except FileNotFoundError:
        return []


def s_client_alert(agent, cert=None, key=None):
    """What openssl s_client prints of the agent's answer. Its stdin stays open until it
    leaves on the alert that follows the handshake: at end of input it would leave before
    reading an alert that came late."""
    argv = ["openssl", "s_client", "-connect", agent.addr, "-CAfile",
            str(agent.state_dir / "ca.pem"), "-alpn", "rexec/1"]
    if cert:
        argv += ["-cert", str(cert), "-key", str(key)]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        try:
            p.wait(timeout=TIMEOUT)  # its output is a few KiB: the pipe holds it meanwhile
        except subprocess.TimeoutExpired:
            pass  # no alert came: what it printed says so
        out, _ = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return out.decode(errors="replace")


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


# (name, how to make it, the agent's reason, what the client says, openssl's alert text)
CASES = [
    ("other-ca", "other_ca", "unknown_ca",
     "the agent refused this client's certificate (unknown_ca): it is not issued by a CA the "
     "agent trusts: is your certificate issued by this fleet's CA? (rexec cert show)",
     "alert unknown ca"),
    ("expired", "expired", "expired",
     "the agent refused this client's certificate (certificate_expired): it expired at ",
     "alert certificate expired"),
    ("early", "not_yet_valid", "not_yet_valid",
     "the agent refused this client's certificate (bad_certificate): it is not valid before ",
     "alert bad certificate"),
    ("server-only", "server_only", "wrong_usage",
     "the client's certificate has no clientAuth extended key usage: it is not a client "
     "certificate", None),
]


@pytest.mark.parametrize("name,kind,reason,says,alert", CASES, ids=[c[1] for c in CASES])
def test_a_refused_certificate_is_explained_on_both_sides(start_agent, rexec_bin, tmp_path, name,
                                                          kind, reason, says, alert):
    audit = tmp_path / "audit.jsonl"
    agent = start_agent("--audit-log", audit)
    sd = agent.state_dir
    if kind == "other_ca":
        cert, key = other_ca_cert(rexec_bin, tmp_path, name)
    elif kind == "expired":
        cert, key = issue_dated(sd, tmp_path, name, now() - datetime.timedelta(days=2),
                                now() - datetime.timedelta(days=1))
    elif kind == "not_yet_valid":
        cert, key = issue_dated(sd, tmp_path, name, now() + datetime.timedelta(days=1),
                                now() + datetime.timedelta(days=2))
    else:
        cert, key = issue_dated(sd, tmp_path, name, now() - datetime.timedelta(hours=1),
                                now() + datetime.timedelta(days=1), eku="serverAuth")
    conf = client_config(tmp_path / "client.conf", sd / "ca.pem", cert, key, agent.addr)
    r = Client(rexec_bin, agent, config=conf).run("-T", "dev", "--host", "--", "echo", "ran")
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 255, err
    assert b"ran" not in r.stdout
    lines = err.strip().splitlines()
    assert "Verification of the message MAC failed" not in err
    if kind in ("expired", "not_yet_valid"):
        # rexec checks its own certificate's dates before it connects (the agent never sees
        # it); openssl s_client shows it to the agent, below, for the agent's side.
        assert len(lines) == 1 and ("expired" in err if kind == "expired"
                                    else "is not valid until" in err), err
        assert alert in s_client_alert(agent, cert, key)
    else:
        assert len(lines) == 1 and lines[0].startswith("rexec: dev: "), err
        assert says in lines[0], err

    serial = serial_of(cert)
    wait_for(lambda: f'handshake refused ({reason}; certificate CN "{name}", serial ' in agent.log(),
             30, f"the agent to log the refusal ({reason})")
    assert f"serial {serial}" in agent.log(), agent.log()
    wait_for(lambda: any(x.get("stage") == "handshake" for x in audit_records(audit)), 30,
             "the audit record")
    rec = [x for x in audit_records(audit) if x.get("stage") == "handshake"][0]
    assert rec["event"] == "refused" and rec["reason"] == reason, rec
    assert rec["who"] == name and rec["serial"] == serial, rec
    assert rec["from"].startswith("127.0.0.1:"), rec
    if alert:
        assert alert in s_client_alert(agent, cert, key)
    # Refused, never let in: the dev client still is.
    assert Client(rexec_bin, agent).run("-T", "dev", "--host", "true").returncode == 0
    agent.assert_alive()


def test_a_client_without_a_certificate_hears_certificate_required(start_agent, tmp_path):
    audit = tmp_path / "audit.jsonl"
    agent = start_agent("--audit-log", audit)
    out = s_client_alert(agent)
    assert "alert certificate required" in out, out
    wait_for(lambda: "handshake refused (no_certificate): the client sent no "
                     "certificate" in agent.log(), 30, "the agent to log the refusal")
    wait_for(lambda: any(x.get("reason") == "no_certificate" for x in audit_records(audit)), 30,
             "the audit record")
    rec = [x for x in audit_records(audit) if x.get("reason") == "no_certificate"][0]
    assert rec["who"] is None and rec["serial"] is None and rec["stage"] == "handshake", rec


def test_a_flood_of_refusals_is_logged_five_times_and_summed_up(start_agent, rexec_bin,
                                                                tmp_path):
    """40 connections from 127.0.0.2 that close without a handshake: 5 lines and 5 records for
    that address (REFUSAL_BURST), then one summary line and record counting the 35 others once
    its 10 s window ends. Another address is logged meanwhile as before."""
    audit = tmp_path / "audit.jsonl"
    agent = start_agent("--audit-log", audit)
    for _ in range(40):
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", agent.port))
        s.close()
    wait_for(lambda: agent.log().count("127.0.0.2:") >= 5, 30, "the first refusals logged")
    other = socket.create_connection(("127.0.0.1", agent.port))
    other.close()
    wait_for(lambda: "127.0.0.2: 35 more refused connection(s) in the last 10s not logged"
             in agent.log(), 30, "the summary of what was left out")
    log = agent.log()
    assert log.count("handshake refused (closed)") == 6, log
    assert log.count("127.0.0.2:") == 6, log  # five refusals and the summary
    recs = [x for x in audit_records(audit) if x.get("event") == "refused"]
    from_2 = [x for x in recs if x["from"].startswith("127.0.0.2")]
    assert len(from_2) == 6, recs
    assert from_2[-1]["stage"] == "summary" and from_2[-1]["left_out"] == 35, from_2[-1]
    assert from_2[-1]["from"] == "127.0.0.2" and from_2[-1]["window_s"] == 10, from_2[-1]
    assert any(x["from"].startswith("127.0.0.1:") and x["reason"] == "closed" for x in recs)
    assert Client(rexec_bin, agent).run("-T", "dev", "--host", "true").returncode == 0


def test_a_fan_out_says_per_host_that_the_agent_refused_the_certificate(start_agent, rexec_bin,
                                                                      tmp_path):
    """In fleet mode each host's line says the agent refused the certificate and why, without
    the hint about the agent's own certificate that a TLS failure gets."""
    agent = start_agent()
    sd = agent.state_dir
    cert, key = other_ca_cert(rexec_bin, tmp_path, "eve")
    conf = client_config(tmp_path / "fleet.conf", sd / "ca.pem", cert, key, agent.addr)
    with open(conf, "a") as f:
        f.write(f'  dev2: {{ address: "{agent.addr}", server_name: dev }}\n')
    r = Client(rexec_bin, agent, config=conf).run("@all", "--host", "true")
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 4, err
    for host in ("dev", "dev2"):
        assert (f"rexec: {host}: {agent.addr}: the agent refused this client's certificate "
                f"(unknown_ca): it is not issued by a CA the agent trusts") in err, err
    assert "names dev" not in err, err
