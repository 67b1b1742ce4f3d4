"""The client checks its own certificate before it connects: an expired one is refused locally
(exit 255, "expired" and when), one issued for more than a day that expires within a day gets
one warning line on stderr per run, fan-out included. Short-lived certificates come from
`rexec cert issue --ttl` against a dev agent's CA; a real agent serves the runs that go on."""
import datetime
import subprocess
import time

from certs import client_config, issue
from conftest import Client, wait_for

TIMEOUT = 30


def cert_issue(rexec_bin, agent, name, *extra):
    """A client certificate NAME from AGENT's CA (its state directory) by `rexec cert issue`."""
    sd = agent.state_dir
    r = subprocess.run((rexec_bin, "cert", "issue", "--ca", str(sd), "--client", name, "--out",
                        str(sd / name), *extra), capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    return sd / f"{name}.pem", sd / f"{name}-key.pem"


def client_for(rexec_bin, agent, cert, key, extra=""):
    sd = agent.state_dir
    conf = client_config(sd / f"{cert.stem}.conf", sd / "ca.pem", cert, key, agent.addr, extra)
    return Client(rexec_bin, agent, config=conf)


def test_a_short_lived_certificate_works_then_is_refused_once_expired(start_agent, rexec_bin):
    agent = start_agent("--allow-all")  # its clients are not the dev client
    cert, key = cert_issue(rexec_bin, agent, "brief", "--ttl", "1h")
    r = client_for(rexec_bin, agent, cert, key).run("-T", "dev", "--host", "--", "echo", "in")
    assert (r.returncode, r.stdout) == (0, b"in\n"), r.stderr
    assert b"expires" not in r.stderr

    cert, key = cert_issue(rexec_bin, agent, "five", "--ttl", "5s")
    not_after = time.time() + 5
    wait_for(lambda: time.time() > not_after + 1, 15, "the 5s certificate to expire")
    r = client_for(rexec_bin, agent, cert, key).run("-T", "dev", "--host", "--", "echo", "in")
    err = r.stderr.decode()
    assert r.returncode == 255, err
    assert r.stdout == b""
    assert len(err.splitlines()) == 1, err
    assert "expired" in err and str(cert) in err
    # When: the date and time it expired, which `cert show` prints as "not after" too.
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    assert f"(at {day} " in err and " UTC)" in err, err
    # Refused here, not by the agent's handshake (which says "TLS ..." and cannot say when).
    assert "TLS" not in err, err


def test_a_certificate_expiring_within_a_day_warns_once(start_agent, rexec_bin):
    agent = start_agent("--allow-all")  # its clients are not the dev client
    sd = agent.state_dir
    # Issued two days ago, 3 hours left: openssl can backdate, `rexec cert issue` does not.
    cert, key, _ = issue(sd, sd, "soon", "clientAuth", seconds=3 * 3600 + 30, since=2 * 86400)
    client = client_for(rexec_bin, agent, cert, key)
    r = client.run("-T", "dev", "--host", "--", "echo", "in")
    assert (r.returncode, r.stdout) == (0, b"in\n"), r.stderr
    err = r.stderr.decode()
    assert len(err.splitlines()) == 1, err
    # 3h 30s when issued, truncated to the minute: "2h 59m" if the machine stalled 30 s.
    assert (err.startswith(f"rexec: warning: certificate {cert} expires in 3h (at ")
            or err.startswith(f"rexec: warning: certificate {cert} expires in 2h 59m (at ")), err

    # A fan-out over two hosts, each with its own copy of the certificate: still one line.
    copy, copy_key = sd / "soon2.pem", sd / "soon2-key.pem"
    copy.write_bytes(cert.read_bytes())
    copy_key.write_bytes(key.read_bytes())
    copy_key.chmod(0o600)
    conf = sd / "fanout.conf"
    conf.write_text(f"ca: {sd / 'ca.pem'}\ncert: {cert}\nkey: {key}\nhosts:\n"
                    f"  dev: {{ address: \"{agent.addr}\", server_name: dev }}\n"
                    f"  dev2: {{ address: \"{agent.addr}\", server_name: dev, cert: {copy}, "
                    f"key: {copy_key} }}\n")
    r = Client(rexec_bin, agent, config=conf).run("@all", "--host", "--", "echo", "in")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert r.stdout.count(b"in\n") == 2, r.stdout
    assert err.count("expires in") == 1, err


def test_no_warning_for_a_certificate_issued_for_a_day_or_less(start_agent, rexec_bin):
    agent = start_agent("--allow-all")  # its clients are not the dev client
    for name, extra in ("day", ("--days", "1")), ("ttl", ("--ttl", "20h")):
        cert, key = cert_issue(rexec_bin, agent, name, *extra)
        r = client_for(rexec_bin, agent, cert, key).run("-T", "dev", "--host", "--", "true")
        assert r.returncode == 0, r.stderr
        assert r.stderr == b"", r.stderr


def test_an_expired_certificate_stops_a_fan_out_before_it_starts(start_agent, rexec_bin):
    agent = start_agent("--allow-all")  # its clients are not the dev client
    sd = agent.state_dir
    cert, key, _ = issue(sd, sd, "old", "clientAuth", seconds=-60, since=86400)
    conf = sd / "old-fanout.conf"
    conf.write_text(f"ca: {sd / 'ca.pem'}\ncert: {cert}\nkey: {key}\nhosts:\n"
                    f"  dev: {{ address: \"{agent.addr}\", server_name: dev }}\n"
                    f"  dev2: {{ address: \"{agent.addr}\", server_name: dev }}\n")
    r = Client(rexec_bin, agent, config=conf).run("@all", "--host", "--", "echo", "in")
    err = r.stderr.decode()
    assert r.returncode == 255, err
    assert r.stdout == b""
    assert "expired 1m ago" in err or "expired 2m ago" in err, err
