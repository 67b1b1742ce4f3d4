"""The agent under bad input and pressure: each bad peer is refused or dropped, the agent keeps
serving (a normal `rexec dev --host true` works afterwards and the process is still alive), it
refuses to start without TLS material, and a slow reader keeps its memory bounded."""
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

from conftest import AGENT_STOP_TIMEOUT, Client, ended, read_until, vm_status_kib, wait_present

DROP_TIMEOUT = 30.0  # how long a bad connection may stay open before the test calls it a hang


# --- helpers ---------------------------------------------------------------------------------


def still_serving(client):
    """The agent is alive and a normal session works."""
    client.agent.assert_alive()
    r = client.run("dev", "--host", "true")
    assert r.returncode == 0, f"a normal session failed after the bad peer: {r.stderr!r}"
    client.agent.assert_alive()


def read_to_eof(sock, timeout):
    """Read until the peer closes (EOF or reset); fail if it stays open past TIMEOUT."""
    sock.settimeout(0.5)
    data = bytearray()  # appended in place: the agent's flush of a closing connection is
    deadline = time.monotonic() + timeout  # bounded in time, so this reader must keep up
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, ssl.SSLEOFError):
            return bytes(data)
        if not chunk:
            return bytes(data)
        data += chunk
    pytest.fail(f"the agent kept the bad connection open for {timeout:g}s (got {len(data)} bytes)")


def tls_connect(agent, alpn=("rexec/1",)):
    """A TLS connection to the agent as the dev client (its cert, key and CA)."""
    sd = agent.state_dir
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # the agent's name is not what is under test here
    ctx.load_verify_locations(str(sd / "ca.pem"))
    ctx.load_cert_chain(str(sd / "client.pem"), str(sd / "client-key.pem"))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    raw = socket.create_connection(("127.0.0.1", agent.port), timeout=DROP_TIMEOUT)
    tls = ctx.wrap_socket(raw)
    assert tls.selected_alpn_protocol() == "rexec/1", tls.selected_alpn_protocol()
    return tls


# A minimal protobuf writer/reader for proto/rexec.proto's Frame: enough to speak a Hello and
# to recognise the agent's Error. Field numbers are the contract's (Frame.hello = 2, .data = 12,
# .error = 18; Hello.proto_major = 1, ...).

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_bytes(num, value):
    return varint(num << 3 | 2) + varint(len(value)) + value


def frame(stream, msg_field, msg):
    body = (field_varint(1, stream) if stream else b"") + field_bytes(msg_field, msg)
    return struct.pack(">I", len(body)) + body


def hello(major=1, minor=0):
    msg = (field_varint(1, major) + field_varint(2, minor) + field_bytes(3, b"rexec-e2e 0.0.0")
           + field_varint(5, 256 * 1024) + field_varint(6, 1 << 20))
    return frame(0, 2, msg)


def parse_fields(buf):
    """Top-level fields of one protobuf message: {number: [values]} (bytes or int)."""
    fields, i = {}, 0

    def read_varint():
        nonlocal i
        shift = value = 0
        while True:
            b = buf[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    while i < len(buf):
        key = read_varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            val = read_varint()
        elif wt == 2:
            n = read_varint()
            val, i = buf[i:i + n], i + n
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        elif wt == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"bad wire type {wt}")
        fields.setdefault(num, []).append(val)
    return fields


def frames_until_close(sock, timeout):
    """All frames the agent sends until it closes the connection (or TIMEOUT: fail)."""
    data = memoryview(read_to_eof(sock, timeout))
    out = []
    at = 0
    while len(data) - at >= 4:
        (n,) = struct.unpack(">I", data[at:at + 4])
        if len(data) - at < 4 + n:
            break
        out.append(parse_fields(bytes(data[at + 4:at + 4 + n])))
        at += 4 + n
    return out


def read_frames(sock, until, timeout):
    """Read frames until UNTIL(frame_fields) is true for one (returned) or the peer closes
    (returns None). Fails after TIMEOUT."""
    sock.settimeout(0.5)
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
            (n,) = struct.unpack(">I", buf[:4])
            f = parse_fields(buf[4:4 + n])
            buf = buf[4 + n:]
            if until(f):
                return f
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ConnectionResetError, ssl.SSLError):
            return None
        if not chunk:
            return None
        buf += chunk
    pytest.fail(f"no answer from the agent within {timeout:g}s")


def error_code(f):
    """ErrorCode of a Frame's Error (field 18), or None."""
    if 18 not in f:
        return None
    return parse_fields(f[18][0]).get(1, [0])[0]


def other_ca_client_cert(rexec_bin, tmp_path):
    """A client cert/key for `eve` from a CA the agent does not trust (made by rexec's own CLI)."""
    ca = tmp_path / "other-ca"
    for argv in (["ca", "init", ca], ["cert", "issue", "--ca", ca, "--client", "eve",
                                      "--out", tmp_path / "eve"]):
        r = subprocess.run([rexec_bin] + [str(a) for a in argv], capture_output=True, timeout=60)
        assert r.returncode == 0, f"rexec {argv}: {r.stderr!r}"
    return ca, tmp_path / "eve.pem", tmp_path / "eve-key.pem"


def write_config(path, ca, cert, key, port):
    path.write_text(f"ca: {ca}\ncert: {cert}\nkey: {key}\n"
                    f"hosts:\n  dev:\n    address: 127.0.0.1:{port}\n")
    return path


# --- lifecycle -------------------------------------------------------------------------------


def test_sigterm_stops_agent_with_exit_0(dev_agent):
    dev_agent.expected_exit = True
    os.kill(dev_agent.pid, signal.SIGTERM)
    assert dev_agent.proc.wait(timeout=30) == 0, dev_agent.log()


def test_dev_mode_writes_openssl_readable_certs_that_chain(dev_agent):
    sd = dev_agent.state_dir
    for leaf in ("agent.pem", "client.pem"):
        r = subprocess.run(["openssl", "verify", "-CAfile", str(sd / "ca.pem"), str(sd / leaf)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, (leaf, r.stdout, r.stderr)
    for key in ("agent-key.pem", "client-key.pem"):
        r = subprocess.run(["openssl", "pkey", "-noout", "-in", str(sd / key)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, (key, r.stderr)


def test_dev_client_conf_works_through_config_flag(rexec_bin, dev_agent):
    env = {k: v for k, v in os.environ.items() if k != "REXEC_CONFIG"}
    r = subprocess.run([rexec_bin, "--config", str(dev_agent.config), "dev", "--host", "--",
                        "echo", "hi"], input=b"", capture_output=True, timeout=60, env=env)
    assert (r.returncode, r.stdout) == (0, b"hi\n"), r.stderr


def test_agent_refuses_to_start_without_tls_material(agent_bin, tmp_path):
    r = subprocess.run([agent_bin, "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert r.returncode != 0
    assert "listening" not in r.stdout
    assert any(w in r.stderr.lower() for w in ("cert", "key", "tls", "--ca")), r.stderr


def test_agent_refuses_to_start_with_missing_cert_file(agent_bin, tmp_path):
    r = subprocess.run([agent_bin, "--listen", "127.0.0.1:0", "--cert", str(tmp_path / "nope.pem"),
                        "--key", str(tmp_path / "nope-key.pem"), "--ca", str(tmp_path / "ca.pem")],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert "listening" not in r.stdout
    # The first missing file is named, with the reason.
    assert str(tmp_path) in r.stderr and "No such file" in r.stderr, r.stderr


def test_non_dev_agent_serves_with_certs_from_rexec_cli(rexec_bin, start_agent, tmp_path):
    ca = tmp_path / "ca"
    for argv in (["ca", "init", ca],
                 ["cert", "issue", "--ca", ca, "--agent", "dev", "--san", "127.0.0.1",
                  "--out", tmp_path / "agent"],
                 ["cert", "issue", "--ca", ca, "--client", "root", "--out", tmp_path / "me"]):
        r = subprocess.run([rexec_bin] + [str(a) for a in argv], capture_output=True, timeout=60)
        assert r.returncode == 0, f"rexec {argv}: {r.stderr!r}"
    agent = start_agent("--listen", "127.0.0.1:0", "--cert", tmp_path / "agent.pem",
                        "--key", tmp_path / "agent-key.pem", "--ca", ca / "ca.pem", dev=False,
                        state_dir=tmp_path)
    conf = write_config(tmp_path / "client.conf", ca / "ca.pem", tmp_path / "me.pem",
                        tmp_path / "me-key.pem", agent.port)
    r = Client(rexec_bin, agent, conf).run("dev", "--host", "echo", "ok")
    assert (r.returncode, r.stdout) == (0, b"ok\n"), r.stderr


def test_agent_started_with_stdin_and_stderr_closed(agent_bin, rexec_bin, tmp_path):
    # As from a careless init script: fds 0 and 2 closed. The agent puts /dev/null there
    # before anything else takes the numbers; sessions get their own stdio all the same.
    sd = tmp_path / "state"
    sd.mkdir()

    def close_stdin_stderr():
        os.close(0)
        os.close(2)

    p = subprocess.Popen([agent_bin, "--dev", "--state-dir", str(sd), "--listen", "127.0.0.1:0",
                          "-vv"], stdout=subprocess.PIPE, preexec_fn=close_stdin_stderr)
    try:
        read_until(p.stdout, b"listening on", 30)
        assert [os.readlink(f"/proc/{p.pid}/fd/{fd}") for fd in (0, 2)] == ["/dev/null"] * 2
        client = Client(rexec_bin, None, config=sd / "client.conf")
        r = client.run("-T", "dev", "--host", "--", "sh", "-c", "cat; echo err >&2; exit 4",
                       input=b"abc")
        assert (r.returncode, r.stdout, r.stderr) == (4, b"abc", b"err\n")
        assert p.poll() is None
    finally:
        p.terminate()
        p.wait(timeout=30)


# --- bad peers --------------------------------------------------------------------------------


def test_plain_tcp_garbage_is_dropped(client):
    s = socket.create_connection(("127.0.0.1", client.agent.port), timeout=10)
    try:
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n" + os.urandom(4096))
        read_to_eof(s, DROP_TIMEOUT)
    finally:
        s.close()
    still_serving(client)


def test_silent_clients_do_not_block_others(client):
    idle = [socket.create_connection(("127.0.0.1", client.agent.port), timeout=10)
            for _ in range(16)]
    try:
        still_serving(client)
    finally:
        for s in idle:
            s.close()
    still_serving(client)


def test_half_finished_handshake_does_not_block_others(client):
    # The first half of a real ClientHello, then silence.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    client_hello = out.read()
    s = socket.create_connection(("127.0.0.1", client.agent.port), timeout=10)
    try:
        s.sendall(client_hello[:len(client_hello) // 2])
        still_serving(client)
    finally:
        s.close()
    still_serving(client)


def test_client_cert_from_another_ca_is_refused(client, rexec_bin, tmp_path):
    _, cert, key = other_ca_client_cert(rexec_bin, tmp_path)
    sd = client.agent.state_dir
    conf = write_config(tmp_path / "eve.conf", sd / "ca.pem", cert, key, client.agent.port)
    r = client.run("--config", conf, "dev", "--host", "--", "echo", "should-not-run")
    assert r.returncode == 255, r.stderr
    assert b"should-not-run" not in r.stdout
    lines = r.stderr.decode(errors="replace").strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rexec: "), r.stderr
    still_serving(client)


def test_client_refuses_agent_cert_from_another_ca(client, rexec_bin, tmp_path):
    other_ca, _, _ = other_ca_client_cert(rexec_bin, tmp_path)
    sd = client.agent.state_dir
    conf = write_config(tmp_path / "trusts-other.conf", other_ca / "ca.pem", sd / "client.pem",
                        sd / "client-key.pem", client.agent.port)
    r = client.run("--config", conf, "dev", "--host", "--", "echo", "should-not-run")
    assert r.returncode == 255, r.stderr
    assert b"should-not-run" not in r.stdout
    assert r.stderr.decode(errors="replace").startswith("rexec: "), r.stderr
    still_serving(client)


def test_tls_client_without_a_certificate_is_refused(client):
    sd = client.agent.state_dir
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(str(sd / "ca.pem"))
    ctx.set_alpn_protocols(["rexec/1"])
    raw = socket.create_connection(("127.0.0.1", client.agent.port), timeout=DROP_TIMEOUT)
    try:
        try:
            tls = ctx.wrap_socket(raw)
        except (ssl.SSLError, ConnectionResetError, OSError):
            pass  # refused during the handshake
        else:
            # TLS 1.3: the refusal of a missing client cert arrives after the handshake.
            try:
                tls.sendall(hello())
            except (ssl.SSLError, OSError):
                pass
            frames_until_close(tls, DROP_TIMEOUT)
    finally:
        raw.close()
    still_serving(client)


def test_oversized_frame_length_is_refused(client):
    tls = tls_connect(client.agent)
    try:
        tls.sendall(hello())
        tls.sendall(struct.pack(">I", 0x7FFFFFFF) + b"\0" * 1024)
        frames_until_close(tls, DROP_TIMEOUT)
    finally:
        tls.close()
    still_serving(client)
    assert client.agent.vm_hwm_kib() < 256 * 1024, "the agent allocated for the announced length"


def test_oversized_frame_as_first_frame_is_refused(client):
    tls = tls_connect(client.agent)
    try:
        tls.sendall(struct.pack(">I", 0x7FFFFFFF))
        frames_until_close(tls, DROP_TIMEOUT)
    finally:
        tls.close()
    still_serving(client)


def test_garbage_frame_body_is_refused(client):
    tls = tls_connect(client.agent)
    try:
        tls.sendall(hello())
        tls.sendall(struct.pack(">I", 64) + b"\xff" * 64)  # wire type 7: not protobuf
        frames_until_close(tls, DROP_TIMEOUT)
    finally:
        tls.close()
    still_serving(client)


def test_truncated_frame_then_close_does_not_hurt(client):
    tls = tls_connect(client.agent)
    try:
        tls.sendall(hello())
        tls.sendall(struct.pack(">I", 1000) + b"\x08\x01")
    finally:
        tls.close()
    still_serving(client)


def test_frame_for_unknown_stream_gets_error_or_drop(client):
    tls = tls_connect(client.agent)
    try:
        tls.sendall(hello())
        data = field_varint(1, 2) + field_bytes(2, b"stray") + field_varint(3, 0)  # Data{stdout}
        tls.sendall(frame(99, 12, data))
        got = read_frames(tls, lambda f: error_code(f) is not None, DROP_TIMEOUT)
        # None: the connection was dropped; else an Error frame answered the stray stream.
        if got is not None:
            assert error_code(got) != 0, got
    finally:
        tls.close()
    still_serving(client)


def test_incompatible_major_version_gets_version_error(client):
    tls = tls_connect(client.agent)
    try:
        tls.sendall(hello(major=99))
        got = read_frames(tls, lambda f: error_code(f) is not None, DROP_TIMEOUT)
        assert got is not None, "the agent closed without an Error frame"
        assert error_code(got) == 2, f"ERROR_VERSION expected, got {got}"
    finally:
        tls.close()
    still_serving(client)


def test_agent_survives_client_killed_mid_output(client):
    p = client.popen("-T", "dev", "--host", "--", "head", "-c", "1G", "/dev/zero")
    with ended(p):
        read_until(p.stdout, b"\0" * 65536, timeout=30)
        p.kill()
        p.wait(timeout=10)
    still_serving(client)


# --- pressure -------------------------------------------------------------------------------


def test_slow_reader_keeps_agent_memory_bounded(client):
    """1 GiB of output read slowly for its first 256 MiB: the agent's peak RSS stays bounded
    (credit flow control stops it reading the process) and the byte count is exact."""
    total_expected = 1 << 30
    slow_part = 256 << 20
    p = client.popen("-T", "dev", "--host", "--", "head", "-c", "1G", "/dev/zero",
                     stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = []
    t = threading.Thread(target=lambda: err.append(p.stderr.read()), daemon=True)
    t.start()
    fd = p.stdout.fileno()
    total = 0
    deadline = time.monotonic() + 900  # hang guard for a debug build on 2 cores
    try:
        while True:
            assert time.monotonic() < deadline, f"stream stalled at {total} bytes"
            chunk = os.read(fd, 65536 if total < slow_part else 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total < slow_part:
                time.sleep(0.002)  # throttling the reader, not synchronising
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    t.join(timeout=10)
    hwm = client.agent.vm_hwm_kib()
    print(f"agent peak RSS (VmHWM) after 1 GiB to a slow reader: {hwm / 1024:.1f} MiB")
    assert rc == 0, err
    assert total == total_expected
    assert hwm < 64 * 1024, f"agent VmHWM {hwm} KiB"


def tcp_queues(local_port, remote_port):
    """(tx_queue, rx_queue) of the loopback TCP socket LOCAL_PORT -> REMOTE_PORT, from
    /proc/net/tcp, or None."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            lport = int(cols[1].split(":")[1], 16)
            rport = int(cols[2].split(":")[1], 16)
            if (lport, rport) == (local_port, remote_port):
                tx, rx = cols[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


def open_unread_output(client, tls):
    """Opens `head -c 48M /dev/zero` on stream 1 with 64 MiB of output credit, then reads
    nothing until the connection is stuffed: the agent's send queue holds bytes it cannot
    send, and it and our receive queue (128 KiB or more between them) stay the same over a
    fifth of a second (the agent's next write waits, with the rest of the output behind it;
    it keeps no more than 128 KiB unsent in the kernel, TCP_NOTSENT_LOWAT)."""
    argv = b"".join(field_bytes(3, a) for a in (b"head", b"-c", b"48M", b"/dev/zero"))
    opened = (field_varint(1, 1) + field_bytes(2, field_varint(1, 1)) + argv
              + field_varint(11, 64 << 20))  # Open{exec, host target, argv, 64 MiB credit}
    tls.sendall(frame(1, 10, opened))
    me = tls.getsockname()[1]
    deadline = time.monotonic() + DROP_TIMEOUT
    last = None
    while True:
        q = tcp_queues(client.agent.port, me)
        ours = tcp_queues(me, client.agent.port)
        now = (q, ours)
        if (q is not None and ours is not None and q[0] > 0 and q[0] + ours[1] >= 128 * 1024
                and now == last):
            return
        assert time.monotonic() < deadline, f"the queues stayed at {q} (agent), {ours} (ours)"
        last = now
        time.sleep(0.2)


def test_error_behind_queued_output_still_arrives(client):
    """A bad frame comes while the agent has more of a session's output queued than the socket
    takes (this end is not reading): the agent still sends all it queued, then its Error, and
    only then closes. Nothing queued before the close is dropped."""
    tls = tls_connect(client.agent)
    try:
        tls.sendall(hello())
        open_unread_output(client, tls)
        tls.sendall(struct.pack(">I", 0x7FFFFFFF))  # a length over the limit: Error, close
        frames = frames_until_close(tls, DROP_TIMEOUT)
    finally:
        tls.close()
    data = [parse_fields(f[12][0]) for f in frames if 12 in f]
    total = 0
    for d in data:
        assert d.get(3, [0])[0] == total, "a gap in the output before the Error"
        total += len(d.get(2, [b""])[0])
    print(f"{total} bytes of output arrived before the Error")
    assert total >= 256 * 1024
    assert 18 in frames[-1], f"the last frame is not the Error: {frames[-1].keys()}"
    assert error_code(frames[-1]) == 9, frames[-1]
    still_serving(client)


def frames_until(sock, until, timeout):
    """Every frame up to the first one UNTIL(frame_fields) is true for (linear in the bytes
    read). Fails if the peer closes first or after TIMEOUT."""
    sock.settimeout(0.5)
    buf = bytearray()
    at = 0
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while len(buf) - at >= 4 and len(buf) - at >= 4 + struct.unpack_from(">I", buf, at)[0]:
            (n,) = struct.unpack_from(">I", buf, at)
            out.append(parse_fields(bytes(buf[at + 4:at + 4 + n])))
            at += 4 + n
            if until(out[-1]):
                return out
        if at > 1 << 20:
            del buf[:at]
            at = 0
        try:
            chunk = sock.recv(1 << 20)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        assert chunk, f"the agent closed the connection after {len(out)} frames"
        buf += chunk
    pytest.fail(f"no end from the agent within {timeout:g}s ({len(out)} frames)")


def test_a_peer_that_stops_reading_stops_the_agent_at_its_socket(client):
    """A peer grants a session 64 MiB of output credit, then reads nothing. The agent stops
    reading the process once its socket and a short queue are full (socket backpressure), so
    its memory does not grow by the window (it did: by all 48 MiB the process wrote); once the
    peer reads again, every byte arrives, in order, and the session ends normally."""
    size = 48 << 20
    pid = client.agent.pid
    tls = tls_connect(client.agent)
    try:
        tls.sendall(hello())
        read_frames(tls, lambda f: 2 in f, DROP_TIMEOUT)  # the agent's Hello
        before = vm_status_kib(pid, "VmRSS")
        open_unread_output(client, tls)
        time.sleep(1.0)  # what the old agent did in this time: read all 48 MiB and queue it
        held = vm_status_kib(pid, "VmRSS")
        frames = frames_until(tls, lambda f: 17 in f, 60)
    finally:
        tls.close()
    total = 0
    for f in frames:
        if 12 in f:
            d = parse_fields(f[12][0])
            assert d.get(3, [0])[0] == total, f"a gap in the output at {total}"
            total += len(d.get(2, [b""])[0])
    exit_code = parse_fields(frames[-1][17][0]).get(1, [0])[0]
    print(f"agent RSS {before} KiB, {held} KiB while the peer read nothing; {total} bytes came")
    assert total == size
    assert exit_code == 0, frames[-1]
    assert held - before < 8 * 1024, f"the agent queued the window: RSS {before} -> {held} KiB"
    still_serving(client)


# --- flow control: a peer that ignores the windows -------------------------------------------


def open_host(stream, argv, stdin_open=True, window=0):
    """Open{exec, host target, ARGV, stdin open, WINDOW of output credit (0: the default)}."""
    msg = (field_varint(1, 1) + field_bytes(2, field_varint(1, 1))
           + b"".join(field_bytes(3, a) for a in argv) + field_varint(10, int(stdin_open))
           + (field_varint(11, window) if window else b""))
    return frame(stream, 10, msg)


def stdin_data(stream, chunk, offset):
    return frame(stream, 12, field_varint(1, 1) + field_bytes(2, chunk) + field_varint(3, offset))


def opened_session(tls, stream=1):
    """Hello, then Open `sleep` on the host on STREAM (stdin open, nobody reading it), until
    the agent's Opened."""
    tls.sendall(hello())
    tls.sendall(open_host(stream, [b"sleep", b"300"]))
    got = read_frames(tls, lambda f: 11 in f or 18 in f, DROP_TIMEOUT)
    assert got is not None and 11 in got, f"no Opened: {got}"


def connection_error(frames):
    """The Error frame on stream 0 among FRAMES (it must be the last one)."""
    assert frames and 18 in frames[-1], f"the agent closed without an Error: {frames}"
    assert frames[-1].get(1, [0])[0] == 0, "the Error is not for the connection"
    return parse_fields(frames[-1][18][0])


def test_stdin_past_the_granted_window_loses_the_connection(client):
    """The agent grants 1 MiB of stdin per stream and nobody reads this one's: a peer that
    sends 4 MiB without waiting for credit is dropped with an Error (nothing past the window is
    queued), and the agent goes on serving."""
    tls = tls_connect(client.agent)
    try:
        opened_session(tls)
        chunk = b"x" * (32 * 1024)
        try:
            for i in range(128):
                tls.sendall(stdin_data(1, chunk, i * len(chunk)))
        except (ssl.SSLError, OSError):
            pass  # the agent may already have closed
        frames = frames_until_close(tls, DROP_TIMEOUT)
    finally:
        tls.close()
    dropped_for_the_window(client, frames)


def test_tiny_stdin_frames_cost_their_bytes_not_a_block_each(client):
    """Within the window, a peer fills a stdin nobody reads (its 256 KiB pipe first), then
    sends 65,536 Data frames of one byte each: the agent queues them as bytes, so its memory
    grows by about 64 KiB, not by a buffer per frame (it was 36 KiB a frame: 2.3 GiB here, up
    to 36 GiB for the whole window), and it goes on serving."""
    tls = tls_connect(client.agent)
    try:
        opened_session(tls)
        chunk = b"x" * (32 * 1024)
        off = 0
        for _ in range(8):  # the pipe's 256 KiB
            tls.sendall(stdin_data(1, chunk, off))
            off += len(chunk)
        before = vm_status_kib(client.agent.pid, "VmRSS")
        tiny = []
        for i in range(65536):
            tiny.append(stdin_data(1, b"y", off + i))
        for i in range(0, len(tiny), 4096):
            tls.sendall(b"".join(tiny[i:i + 4096]))
        tls.sendall(frame(0, 3, field_varint(1, 7)))  # a Ping: answered after all the above
        got = read_frames(tls, lambda f: 4 in f or 18 in f, DROP_TIMEOUT)
        assert got is not None and 4 in got, f"no Pong: {got}"
        after = vm_status_kib(client.agent.pid, "VmRSS")
    finally:
        tls.close()
    print(f"agent RSS {before} KiB before the one-byte frames, {after} KiB after")
    assert after - before < 16 * 1024, f"agent RSS grew from {before} to {after} KiB"
    still_serving(client)


def dropped_for_the_window(client, frames):
    """FRAMES (all that came until the agent closed) end with an ERROR_PROTOCOL on stream 0
    that names the window, and the agent still serves a session."""
    err = connection_error(frames)
    assert err.get(1, [0])[0] == 1, f"ERROR_PROTOCOL expected: {err}"
    assert b"window" in err[2][0], err
    still_serving(client)


def test_credit_past_the_cap_loses_the_connection(client):
    tls = tls_connect(client.agent)
    try:
        opened_session(tls)
        tls.sendall(frame(1, 13, field_varint(2, 0xFFFFFFFF)))  # Credit{bytes: 2^32 - 1}
        frames = frames_until_close(tls, DROP_TIMEOUT)
    finally:
        tls.close()
    dropped_for_the_window(client, frames)


def test_initial_window_past_the_cap_is_refused(client):
    tls = tls_connect(client.agent)
    try:
        tls.sendall(hello())
        tls.sendall(open_host(1, [b"true"], window=0xFFFFFFFF))
        got = read_frames(tls, lambda f: 11 in f or 18 in f, DROP_TIMEOUT)
        assert got is not None and 18 in got, f"the session was opened: {got}"
        assert b"initial_window" in parse_fields(got[18][0])[2][0], got
    finally:
        tls.close()
    still_serving(client)


def test_sessions_per_connection_are_capped(client):
    """64 sessions at once on one connection; the 65th is refused with ERROR_LIMIT, and the
    connection goes on serving the others."""
    tls = tls_connect(client.agent)
    try:
        tls.sendall(hello())
        tls.sendall(b"".join(open_host(2 * i + 1, [b"sleep", b"300"], stdin_open=False)
                             for i in range(65)))
        seen = {}

        def answered(f):
            stream = f.get(1, [0])[0]
            if 11 in f or 18 in f:
                seen[stream] = f
            return len(seen) == 65

        assert read_frames(tls, answered, DROP_TIMEOUT) is not None, f"{len(seen)} answers"
        refused = [s for s, f in seen.items() if 18 in f]
        assert refused == [129], f"refused: {refused}"
        err = parse_fields(seen[129][18][0])
        assert err.get(1, [0])[0] == 9 and b"too many sessions" in err[2][0], err
    finally:
        tls.close()
    still_serving(client)


# --- stopping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(4))
def test_stop_signals_back_to_back_end_the_agent_cleanly(start_agent, rexec_bin, marker, attempt):
    """SIGTERM, SIGINT, SIGTERM at once (different signals are never merged by the kernel, so
    at least the second arrives while the first one's stop flush runs): the agent stops once,
    says the others found it already stopping, and exits 0. It used to initialise its live
    stop timer again for each signal, corrupting libuv's timer heap and handle queue: with
    sessions (and so timers) alive that ended in SIGSEGV about one run in three."""
    agent = start_agent("-v")
    client = Client(rexec_bin, agent)
    clients = [client.popen("-T", "dev", "--host", "--", "sleep", marker, stdin=subprocess.DEVNULL)
               for _ in range(3)]
    try:
        wait_present(marker)
        agent.expected_exit = True
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
            os.kill(agent.pid, sig)
        agent.proc.wait(timeout=AGENT_STOP_TIMEOUT)
    finally:
        for p in clients:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
    log = agent.log()
    assert agent.proc.returncode == 0, f"status {agent.proc.returncode}; log:\n{log}"
    assert log.count(": stopping") == 1, log
    assert "already stopping" in log, log
