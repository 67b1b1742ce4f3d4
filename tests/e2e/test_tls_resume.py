"""TLS session resumption: a client keeps the agent's session ticket (mode 0600, under
$XDG_CACHE_HOME/rexec/tickets, one file per certificate and agent) and the next connection
resumes with it: the certificates are not exchanged or checked again (the key exchange is),
and the agent still knows who the client is (the CN travels sealed in the ticket). A ticket the
agent cannot open (restarted agent, damaged file) only costs a full handshake; `tls_resume:
false` in the client's config turns all of it off. A ticket never outlives the certificate it
stands for: once that has expired, the client refuses to connect with it at all."""
import datetime
import json
import stat

import pytest

from certs import client_config, issue
from conftest import Client, wait_for
from fleet_env import Fleet, host_name


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(d))
    return d / "rexec" / "tickets"


def handshake(r):
    """What `rexec -v` said of the handshake."""
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err
    if "TLS session resumed" in err:
        return "resumed"
    assert "full TLS handshake" in err, err
    return "full"


def run(client, *cmd):
    return client.run("-v", "-T", "dev", "--host", "--", *cmd)


def test_second_connection_resumes_and_keeps_the_clients_identity(start_agent, rexec_bin,
                                                                  cache, tmp_path):
    audit = tmp_path / "audit.jsonl"
    client = Client(rexec_bin, start_agent("--audit-log", audit))
    r1 = run(client, "echo", "one")
    assert (handshake(r1), r1.stdout) == ("full", b"one\n")
    (ticket,) = cache.iterdir()
    assert stat.S_IMODE(ticket.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    r2 = run(client, "sh", "-c", "echo two; exit 3")
    assert r2.returncode == 3 and b"TLS session resumed" in r2.stderr, r2.stderr
    assert r2.stdout == b"two\n"
    assert handshake(run(client, "true")) == "resumed"
    # The agent knows the resumed client as the one with the certificate: its CN.
    starts = [json.loads(l) for l in audit.read_text().splitlines()]
    whos = {rec["who"] for rec in starts if rec["event"] == "start"}
    assert whos == {"dev"} and len([r for r in starts if r["event"] == "start"]) == 3


def test_a_ticket_the_agent_cannot_open_costs_a_full_handshake(start_agent, rexec_bin, cache):
    a, b = (Client(rexec_bin, start_agent()) for _ in range(2))
    assert handshake(run(a, "true")) == "full"
    (ta,) = cache.iterdir()
    from_a = ta.read_bytes()
    assert handshake(run(b, "true")) == "full"
    (tb,) = [t for t in cache.iterdir() if t != ta]
    # B is offered A's ticket (sealed under another agent's key: what a restarted agent sees).
    tb.write_bytes(from_a)
    r = run(b, "echo", "still-works")
    assert (handshake(r), r.stdout) == ("full", b"still-works\n")
    assert tb.read_bytes() != from_a  # replaced by one of B's
    assert handshake(run(b, "true")) == "resumed"
    # A damaged ticket (a byte of the sealed part flipped), and a file that is no ticket.
    data = bytearray(tb.read_bytes())
    data[-20] ^= 0xFF
    tb.write_bytes(bytes(data))
    assert handshake(run(b, "true")) == "full"
    tb.write_bytes(b"not a ticket")
    assert handshake(run(b, "true")) == "full"
    assert handshake(run(b, "true")) == "resumed"


def test_tls_resume_false_keeps_no_ticket(start_agent, rexec_bin, cache):
    agent = start_agent()
    text = agent.config.read_text()
    assert "defaults" not in text, text
    # Next to the dev config: its certificate paths are relative to its directory.
    conf = agent.state_dir / "no-resume.conf"
    conf.write_text(text + "\ndefaults: { tls_resume: false }\n")
    client = Client(rexec_bin, agent, config=conf)
    for _ in range(2):
        assert handshake(run(client, "true")) == "full"
    assert not cache.exists() or not any(cache.iterdir())


def test_fleet_connections_resume_too(rexec_bin, agent_bin, tmp_path, cache):
    f = Fleet(rexec_bin, agent_bin, tmp_path / "fleet", 3)
    try:
        f.start()
        hosts = ",".join(host_name(i) for i in range(3))
        for _ in range(2):
            r = f.run(hosts, "--host", "true")
            assert r.returncode == 0, r.stderr
        assert len(list(cache.iterdir())) == 3
        assert not f.dead()
    finally:
        f.stop()


def test_no_resumption_past_the_certificates_not_after(start_agent, rexec_bin, cache):
    agent = start_agent("-v", "--allow-all")  # its client `brief` is not the dev one
    sd = agent.state_dir
    # A client certificate that expires in 20 seconds (openssl against the dev CA): time for
    # two sessions first, on a machine that may stall.
    cert, key, not_after = issue(sd, sd, "brief", "clientAuth", seconds=20)
    conf = client_config(sd / "brief.conf", sd / "ca.pem", cert, key, agent.addr)
    client = Client(rexec_bin, agent, config=conf)
    assert handshake(run(client, "true")) == "full"
    assert handshake(run(client, "true")) == "resumed"

    # The ticket's lifetime ends at notAfter (so the client no longer offers it), and the
    # agent would refuse it past then anyway (tests/unit/ticket_test.c). The client does not
    # even try: it refuses its expired certificate before connecting.
    now = lambda: datetime.datetime.now(datetime.timezone.utc)
    wait_for(lambda: now() > not_after + datetime.timedelta(seconds=1), 30,
             "the client certificate to expire")
    r = run(client, "true")
    assert r.returncode == 255, r.stderr
    assert b"TLS session resumed" not in r.stderr, r.stderr
    assert b"expired" in r.stderr, r.stderr
