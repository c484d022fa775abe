"""WebSocket pass-through: an upgraded connection through the proxy echoes messages, rides
through 10 reloads, and closes cleanly; the 101 head carries Connection/Upgrade."""
import base64
import hashlib
import os
import signal
import socket
import struct
import time

import websocket

from conftest import basic_config

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_config(backend, toggle):
    """/ws and everything else go to the echo cluster; /toggle is a direct response whose body
    changes with each reload (a real change of the route table)."""
    return f"""
workers: 2
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - name: edge
    listen: 127.0.0.1:{{port}}
    routes:
      - match: {{ path: /toggle }}
        direct_response: {{ status: 200, body: "{toggle}" }}
      - match: {{ path_prefix: / }}
        cluster: web
clusters:
  - name: web
    endpoints: [{backend}]
"""


def wait_generation(p, want, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        g = p.admin_json("/api/v1/config")["generation"]
        if g >= want:
            return g
        time.sleep(0.02)
    raise AssertionError(f"config generation did not reach {want} within {timeout}s")


def test_websocket_survives_reloads_and_closes_cleanly(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(ws_config(e.addr, "t0"))
    ws = websocket.create_connection(f"ws://127.0.0.1:{p.port}/ws", timeout=5)
    try:
        ws.send("hello")
        assert ws.recv() == "hello"
        ws.send_binary(b"\x00\x01\x02binary\xff")
        assert ws.recv() == b"\x00\x01\x02binary\xff"
        big = os.urandom(256 * 1024)  # several proxy reads/writes in each direction
        ws.send_binary(big)
        assert ws.recv() == big, "a 256 KiB binary message came back different"

        gen = p.admin_json("/api/v1/config")["generation"]
        for i in range(10):
            p.write(ws_config(e.addr, f"t{i + 1}"))
            if i % 2 == 0:
                os.kill(p.pid, signal.SIGHUP)
            else:
                status, doc = p.reload_api()
                assert status == 200, f"reload {i}: {status} {doc}"
            gen = wait_generation(p, gen + 1)
            msg = f"after reload {i + 1} (generation {gen})"
            ws.send(msg)
            assert ws.recv() == msg, f"the WebSocket stopped echoing {msg}"
        ws.ping(b"are you there")
        opcode, frame = ws.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_PONG and frame.data == b"are you there"

        # Clean close: our close frame is answered with a close frame carrying the status,
        # then the proxy closes the TCP connection.
        ws.send_close(status=1000, reason=b"bye")
        opcode, frame = ws.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE, f"expected a close frame, got opcode {opcode}"
        assert struct.unpack("!H", frame.data[:2])[0] == 1000, frame.data
        # The echo backend closes its TCP connection right after its close frame (it does so
        # when reached directly); the proxy must pass that EOF on to the client.
        sock = ws.sock
        sock.settimeout(5)
        try:
            rest = sock.recv(1024)
        except ConnectionResetError:
            raise AssertionError("the proxy reset the connection instead of closing it after close")
        except socket.timeout:
            raise AssertionError(
                "the proxy did not close the client connection within 5 s after the upstream "
                "sent its close frame and closed its socket: the upstream EOF (which arrived "
                "together with the close frame) was not relayed to the client")
        assert rest == b"", f"bytes after the close frame: {rest!r}"
    finally:
        ws.shutdown()
    # The proxy is fine afterwards and the session was released.
    deadline = time.time() + 5
    while time.time() < deadline:
        txt = p.admin_get("/metrics")
        if "causeway_downstream_connections_active 0" in txt:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the closed WebSocket session is still counted active:\n" +
                             "\n".join(l for l in txt.splitlines() if "downstream_connections" in l))


def read_head(sock, limit=65536):
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = sock.recv(4096)
        assert b, f"connection closed before the response head: {buf!r}"
        buf += b
        assert len(buf) < limit
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return lines[0], headers, rest


def masked_frame(opcode, payload):
    mask = os.urandom(4)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    else:
        hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    return hdr + mask + data


def test_raw_upgrade_head_and_frame(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]}))
    key = base64.b64encode(os.urandom(16))
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive, Upgrade\r\n"
                  b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
                  key + b"\r\n\r\n")
        status, headers, rest = read_head(s)
        assert status.startswith("HTTP/1.1 101"), f"status line {status!r}"
        conn_tokens = [t.strip().lower() for v in headers.get("connection", []) for t in v.split(",")]
        assert conn_tokens == ["upgrade"], f"101 Connection header: {headers.get('connection')}"
        assert [v.lower() for v in headers.get("upgrade", [])] == ["websocket"], \
            f"101 Upgrade header: {headers.get('upgrade')}"
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        assert headers.get("sec-websocket-accept") == [accept], headers
        assert "content-length" not in headers and "transfer-encoding" not in headers, headers
        assert rest == b""
        s.sendall(masked_frame(0x1, b"raw hello"))
        got = b""
        while len(got) < 2 + len(b"raw hello"):
            b = s.recv(4096)
            assert b, f"closed while waiting for the echoed frame: {got!r}"
            got += b
        assert got == b"\x81\x09raw hello", f"echoed frame {got!r}"
        s.sendall(masked_frame(0x8, struct.pack("!H", 1000)))
        got = b""
        while len(got) < 4:
            b = s.recv(4096)
            if not b:
                break
            got += b
        assert got[:4] == b"\x88\x02\x03\xe8", f"close reply {got!r}"
