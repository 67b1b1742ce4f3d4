"""Certificate roles: an agent accepts only client certificates (extendedKeyUsage clientAuth)
and a client only agent certificates (serverAuth). mbedTLS alone would let a certificate without
any extendedKeyUsage act as either, so that with one CA for the fleet any such certificate would
be both. A certificate made for both roles is refused too unless the config says
`allow_dual_role_certs: true`. Refusals say why, on both sides. The certificates are made by
Debian's openssl against the dev agent's own CA."""
import pytest

from certs import client_config, issue
from conftest import Client, wait_for

AGENT_SANS = ("DNS:dev", "IP:127.0.0.1")


def run_true(client):
    return client.run("-T", "dev", "--host", "--", "true")


def client_with(rexec_bin, agent, name, eku, extra=""):
    """A client of AGENT (a dev agent) with a certificate CN=NAME of usage EKU from its CA."""
    sd = agent.state_dir
    cert, key, _ = issue(sd, sd, name, eku)
    conf = client_config(sd / f"{name}.conf", sd / "ca.pem", cert, key, agent.addr, extra)
    return Client(rexec_bin, agent, config=conf)


def refused(r, agent, why):
    """The client was refused with WHY on its stderr and in the agent's log."""
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 255, err
    assert why in err, err
    wait_for(lambda: why in agent.log(), 30, f"the agent to log {why!r}")


def test_a_client_certificate_without_extended_key_usage_is_refused(start_agent, rexec_bin):
    agent = start_agent()
    client = client_with(rexec_bin, agent, "no-eku", None)
    refused(run_true(client), agent, "the client's certificate has no clientAuth extended key usage")
    # The dev client's own certificate (clientAuth only) still gets in.
    assert run_true(Client(rexec_bin, agent)).returncode == 0


def test_a_client_certificate_for_both_roles_needs_allow_dual_role_certs(start_agent, rexec_bin,
                                                                         tmp_path):
    agent = start_agent()
    client = client_with(rexec_bin, agent, "dual", "clientAuth,serverAuth")
    refused(run_true(client), agent,
            "the client's certificate also carries serverAuth (the agent's role): refused "
            "unless allow_dual_role_certs: true")

    conf = tmp_path / "agent.yaml"
    # No policy: the dev one would allow only the dev client, and `dual` is another.
    conf.write_text("allow_dual_role_certs: true\nallow_all: true\n")
    lenient = start_agent("--config", conf)
    client = client_with(rexec_bin, lenient, "dual", "clientAuth,serverAuth")
    r = client.run("-T", "dev", "--host", "--", "echo", "in")
    assert (r.returncode, r.stdout) == (0, b"in\n"), r.stderr
    # Still a client's certificate is needed: one without clientAuth is no client at all
    # (mbedTLS refuses that one inside the handshake already).
    client = client_with(rexec_bin, lenient, "server-only", "serverAuth")
    assert run_true(client).returncode == 255


@pytest.mark.parametrize("eku,why", [
    (None, "the agent's certificate has no serverAuth extended key usage"),
    ("serverAuth,clientAuth", "the agent's certificate also carries clientAuth (the client's "
                              "role): refused unless allow_dual_role_certs: true"),
])
def test_the_client_refuses_an_agent_certificate_not_made_for_an_agent(start_agent, rexec_bin,
                                                                       tmp_path, eku, why):
    # The dev agent is only the CA and the client's certificate here.
    dev = start_agent()
    sd = dev.state_dir
    cert, key, _ = issue(sd, tmp_path, "agent", eku, sans=AGENT_SANS)
    agent = start_agent("--listen", "127.0.0.1:0", "--ca", sd / "ca.pem", "--cert", cert,
                        "--key", key, "-v", dev=False, state_dir=tmp_path)
    conf = client_config(tmp_path / "client.conf", sd / "ca.pem", sd / "client.pem",
                         sd / "client-key.pem", agent.addr)
    r = run_true(Client(rexec_bin, agent, config=conf))
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 255, err
    assert why in err, err
    # The client refused inside the handshake, before showing its own certificate: the agent
    # heard of it as a TLS alert.
    wait_for(lambda: "TLS handshake" in agent.log(), 30, "the agent to log the failed handshake")
    if eku is not None:
        conf = client_config(tmp_path / "lenient.conf", sd / "ca.pem", sd / "client.pem",
                             sd / "client-key.pem", agent.addr, "allow_dual_role_certs: true\n")
        r = run_true(Client(rexec_bin, agent, config=conf))
        assert r.returncode == 0, r.stderr
