"""Limits (agent config `limits:`): nothing one client sends takes the agent down for others.
Over connections, connections_per_address or handshakes a connection is closed at once, before
any TLS; over sessions_per_user (the certificate's CN, across connections) or
streams_per_connection an Open gets ERROR_LIMIT. 127.0.0.2 stands in for "another address": the
flood comes from there, the user who must still get in comes from 127.0.0.1."""
import os
import re
import socket
import ssl
import subprocess
import time

import pytest

from certs import client_config
from conftest import Client, wait_for
from test_agent_robustness import error_code, hello, open_host, parse_fields, read_frames

TIMEOUT = 30.0
FLOOD = "127.0.0.2"


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def raw_from(agent, source=FLOOD):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", agent.port))
    return s


def tls_from(agent, source=FLOOD):
    """A TLS connection from SOURCE as the dev client (CN dev), Hello sent."""
    sd = agent.state_dir
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(str(sd / "ca.pem"))
    ctx.load_cert_chain(str(sd / "client.pem"), str(sd / "client-key.pem"))
    ctx.set_alpn_protocols(["rexec/1"])
    tls = ctx.wrap_socket(raw_from(agent, source))
    tls.sendall(hello())
    return tls


def half_client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO())
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    data = out.read()
    return data[:len(data) // 2]


def open_sessions(tls, n, first=1):
    """Opens N `sleep 300` host sessions on TLS; returns {stream: frame fields} of the answers
    (Opened = field 11, Error = field 18)."""
    tls.sendall(b"".join(open_host(first + 2 * i, [b"sleep", b"300"], stdin_open=False)
                         for i in range(n)))
    seen = {}

    def answered(f):
        if 11 in f or 18 in f:
            seen[f.get(1, [0])[0]] = f
        return len(seen) == n

    assert read_frames(tls, answered, TIMEOUT) is not None, f"{len(seen)} answers of {n}"
    return seen


def user_client(rexec_bin, agent, tmp_path, name):
    """A client of AGENT with a certificate for NAME from the agent's CA (rexec cert issue)."""
    sd = agent.state_dir
    r = subprocess.run([rexec_bin, "cert", "issue", "--ca", str(sd), "--client", name, "--out",
                        str(tmp_path / name)], capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    conf = client_config(tmp_path / f"{name}.conf", sd / "ca.pem", tmp_path / f"{name}.pem",
                         tmp_path / f"{name}-key.pem", agent.addr)
    return Client(rexec_bin, agent, config=conf)


def limits_agent(start_agent, tmp_path, text, *extra):
    conf = tmp_path / "agent.yaml"
    # allow_all: the tests' other users (bob) are not the dev client its policy names.
    conf.write_text(f"limits: {{ {text} }}\nallow_all: true\n")
    return start_agent("--config", conf, *extra)


def close_all(socks):
    for s in socks:
        s.close()


def test_a_flood_of_stalled_handshakes_and_sessions_does_not_stop_another_user(
        start_agent, rexec_bin, tmp_path):
    """From 127.0.0.2: 300 raw connections that send nothing or half a ClientHello, and the dev
    user's sessions up to sessions_per_user. Meanwhile bob (from 127.0.0.1) starts a session at
    once; the dev user's next one is refused with a clear error; the agent holds no more than
    its per-address share of the flood, and its fd count comes back to where it was."""
    # A minute's handshake timeout: were bob queued behind the flood he would wait that
    # long, well apart from the seconds a loaded machine may take to serve him.
    agent = limits_agent(start_agent, tmp_path, "sessions_per_user: 8, handshake_timeout: 60s")
    bob = user_client(rexec_bin, agent, tmp_path, "bob")
    assert bob.run("-T", "dev", "--host", "true").returncode == 0
    base = fd_count(agent.pid)
    # The agent raised its soft open-files limit to the hard one.
    limits = open(f"/proc/{agent.pid}/limits").read()
    soft, hard = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits).groups()
    assert soft == hard, limits

    sessions = tls_from(agent)
    seen = open_sessions(sessions, 10)
    refused = sorted(s for s, f in seen.items() if 18 in f)
    assert len(refused) == 2, seen
    err = parse_fields(seen[refused[0]][18][0])
    assert error_code(seen[refused[0]]) == 9, err
    assert b"too many sessions for dev on this agent (at most 8 at once: " \
           b"limits.sessions_per_user)" in err[2][0], err

    half = half_client_hello()
    flood = []
    try:
        for i in range(300):
            s = raw_from(agent)
            if i % 2:
                s.sendall(half)
            flood.append(s)
        t0 = time.monotonic()
        r = bob.run("-T", "dev", "--host", "--", "echo", "bob-in")
        assert (r.returncode, r.stdout) == (0, b"bob-in\n"), r.stderr
        assert time.monotonic() - t0 < 20, "bob waited for the flood"
        # The same user from 127.0.0.1 is over sessions_per_user (counted across connections).
        r = Client(rexec_bin, agent).run("-T", "dev", "--host", "true")
        assert r.returncode == 255, r.stderr
        assert b"limits.sessions_per_user" in r.stderr, r.stderr
        # At most half of the 64 handshakes from one address (and the 8 sessions' fds).
        assert fd_count(agent.pid) <= base + 32 + 8 * 4 + 8, fd_count(agent.pid)
        wait_for(lambda: "connect refused (handshakes): closed at once: this address holds half "
                         "of limits.handshakes (32 of 64)" in agent.log(), 30,
                 "the agent to log the limit")
    finally:
        close_all(flood)
        sessions.close()
    wait_for(lambda: fd_count(agent.pid) <= base, 20,
             f"the agent's fds to come back to {base}")
    r = bob.run("-T", "dev", "--host", "--", "echo", "after")
    assert (r.returncode, r.stdout) == (0, b"after\n"), r.stderr
    agent.assert_alive()


def test_over_connections_a_client_is_closed_before_tls_and_told(start_agent, rexec_bin,
                                                                  tmp_path):
    agent = limits_agent(start_agent, tmp_path, "connections: 6, handshake_timeout: 60s")
    held = [raw_from(agent) for _ in range(6)]
    try:
        wait_for(lambda: fd_count(agent.pid) >= 6, 30, "the agent to accept the six")
        r = Client(rexec_bin, agent).run("-T", "dev", "--host", "true")
        err = r.stderr.decode(errors="replace")
        assert r.returncode == 255, err
        assert err.strip() == ("rexec: dev: the agent closed the connection before the TLS "
                               "handshake was done (over its connection limits? its log says "
                               "why)"), err
        wait_for(lambda: "connect refused (connections): closed at once: limits.connections (6) "
                         "reached" in agent.log(), 30, "the agent to log the limit")
    finally:
        close_all(held)
    wait_for(lambda: Client(rexec_bin, agent).run("-T", "dev", "--host", "true").returncode == 0,
             20, "the agent to serve again")


def test_over_connections_per_address_only_that_address_is_closed(start_agent, rexec_bin,
                                                                  tmp_path):
    agent = limits_agent(start_agent, tmp_path, "connections_per_address: 4, handshakes: 100")
    held = [raw_from(agent) for _ in range(4)]
    try:
        extra = raw_from(agent)
        assert extra.recv(1) == b"", "the fifth connection from one address was kept"
        extra.close()
        r = Client(rexec_bin, agent).run("-T", "dev", "--host", "--", "echo", "in")
        assert (r.returncode, r.stdout) == (0, b"in\n"), r.stderr
        assert "limits.connections_per_address (4) reached" in agent.log(), agent.log()
    finally:
        close_all(held)


def test_over_streams_per_connection_an_open_gets_error_limit(start_agent, tmp_path):
    agent = limits_agent(start_agent, tmp_path, "streams_per_connection: 3")
    tls = tls_from(agent, "127.0.0.1")
    try:
        seen = open_sessions(tls, 4)
        refused = [s for s, f in seen.items() if 18 in f]
        assert refused == [7], seen
        err = parse_fields(seen[7][18][0])
        assert err[1][0] == 9 and b"at most 3 at once: limits.streams_per_connection" \
            in err[2][0], err
        # Another connection of the same user has its own streams.
        other = tls_from(agent, "127.0.0.1")
        assert all(11 in f for f in open_sessions(other, 2).values())
        other.close()
    finally:
        tls.close()


@pytest.mark.parametrize("text,says", [
    ("connections: 0", "limits: connections: want a whole number from 1 to 1000000"),
    ("sessions_per_user: many", "limits: sessions_per_user: want a whole number"),
    ("streams: 4", "limits: unknown key 'streams' (known: connections, "),
    ("handshake_timeout: 0s", "limits: handshake_timeout must be more than 0"),
])
def test_a_wrong_limit_stops_the_agent_with_file_and_line(agent_bin, tmp_path, text, says):
    conf = tmp_path / "agent.yaml"
    conf.write_text(f"# limits\nlimits: {{ {text} }}\n")
    r = subprocess.run([agent_bin, "--config", str(conf), "--dev", "--state-dir",
                        str(tmp_path)], capture_output=True, timeout=TIMEOUT)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert f"{conf}:2:" in err and says in err, err
