"""Listener limits and access control: header-read timeout (slowloris) → 408, idle keep-alive
timeout, 431 for oversize heads (bytes and count, defaults and configured), CIDR ACLs (deny,
allow by source address), and trusted_proxies deciding whether X-Forwarded-For is kept."""
import json
import socket
import time

import pytest

from conftest import basic_config, recv_until_closed


def parse(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no complete response head: {data[:300]!r}"
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, body


def connect(port, source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_response(s, timeout=10):
    """Reads one Content-Length framed response; returns (status, headers, body)."""
    buf = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if b"\r\n\r\n" in buf:
            status, headers, body = parse(buf)
            if len(body) >= int(headers.get("content-length", "0")):
                return status, headers, body
        s.settimeout(max(0.01, deadline - time.time()))
        b = s.recv(65536)
        assert b, f"connection closed mid-response: {buf!r}"
        buf += b
    raise AssertionError(f"no complete response within {timeout}s: {buf!r}")


def listener(extra):
    return "\n".join("    " + l for l in extra.strip().splitlines())


def test_slowloris_gets_408_and_close(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]},
                                   extra_listener=listener("header_read_timeout: 500ms")))
    with connect(p.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        data = b""
        # One byte every 100ms: each byte is progress, but the head never completes. Bounded:
        # at most 60 bytes (about 6s, far past the 500ms budget).
        for _ in range(60):
            try:
                s.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                break
            s.settimeout(0.1)
            try:
                b = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
            data += b
            break
        rest, closed = recv_until_closed(s, timeout=5)
        data += rest
    assert data, "the proxy must answer a slowloris head with 408 before closing"
    status, headers, body = parse(data)
    assert status == 408, data
    assert headers.get("x-causeway-error") == "request_timeout", headers
    assert json.loads(body)["error"] == "request_timeout"
    assert closed, "the proxy must close the connection after the 408"


def test_idle_keepalive_connection_is_closed(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]},
                                   extra_listener=listener("idle_timeout: 300ms")))
    with connect(p.port) as s:
        s.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = read_response(s)
        assert status == 200 and json.loads(body)["path"] == "/one"
        assert headers.get("connection", "").lower() != "close", headers
        data, closed = recv_until_closed(s, timeout=10)
    assert closed, "an idle keep-alive connection must be closed after idle_timeout"
    assert data == b"", f"nothing should be sent on an idle close: {data!r}"


def test_idle_timeout_does_not_cut_a_busy_connection(echo_factory, proxy_factory):
    """Requests spaced closer than idle_timeout keep the connection: the timeout is between
    requests, not a connection lifetime."""
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]},
                                   extra_listener=listener("idle_timeout: 2s")))
    with connect(p.port) as s:
        for i in range(25):
            s.sendall(f"GET /r{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status, _, body = read_response(s)
            assert status == 200 and json.loads(body)["path"] == f"/r{i}", \
                f"request {i} on a busy keep-alive connection"
            time.sleep(0.1)  # pacing, far inside the 2s idle budget; 25 rounds outlast it


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 * 1024) + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n",
], ids=["100KiB_header", "200_headers"])
def test_oversize_heads_get_431(raw_server, proxy_factory, head):
    up = raw_server()
    p = proxy_factory(basic_config({"web": [up.addr]}))
    with connect(p.port) as s:
        try:
            s.sendall(head)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, closed = recv_until_closed(s, timeout=6)
    assert data, "expected a 431 before the close"
    status, headers, body = parse(data)
    assert status == 431, data[:300]
    assert headers.get("x-causeway-error") == "headers_too_large", headers
    assert json.loads(body)["error"] == "headers_too_large"
    assert closed
    assert up.request_lines == [], "an oversize head must not reach the upstream"


@pytest.mark.parametrize("limits,head,ok_head", [
    ("max_header_bytes: 2KiB",
     b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n",
     b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1000 + b"\r\n\r\n"),
    ("max_headers: 10",
     b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(12)) + b"\r\n",
     b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5)) + b"\r\n"),
], ids=["max_header_bytes", "max_headers"])
def test_configured_head_limits(echo_factory, proxy_factory, limits, head, ok_head):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]}, extra_listener=listener(limits)))
    with connect(p.port) as s:
        s.sendall(ok_head)
        status, _, _ = read_response(s)
        assert status == 200, "a head inside the limits must pass"
    with connect(p.port) as s:
        s.sendall(head)
        data, closed = recv_until_closed(s, timeout=6)
    status, headers, _ = parse(data)
    assert status == 431 and headers.get("x-causeway-error") == "headers_too_large", data[:300]
    assert closed


def assert_refused_without_response(port, source="127.0.0.1"):
    try:
        s = connect(port, source)
    except (ConnectionRefusedError, ConnectionResetError):
        return  # refused at connect: fine too
    with s:
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return
        data, closed = recv_until_closed(s, timeout=6)
    assert closed and data == b"", \
        f"a peer the ACL refuses must be closed without a response; got {data[:200]!r}"


def test_acl_deny_closes_without_response(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]},
                                   extra_listener=listener("access: { deny: [127.0.0.0/8] }")))
    assert_refused_without_response(p.port)
    metrics = p.admin_get("/metrics")
    assert "causeway_downstream_denied_total 0" not in metrics, \
        "the denied connection should be counted"


def can_bind(addr):
    try:
        with socket.socket() as s:
            s.bind((addr, 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not can_bind("127.0.0.2"), reason="127.0.0.2 is not usable as a source")
def test_acl_allow_by_source_address(echo_factory, proxy_factory):
    e = echo_factory("web", "web-1")
    p = proxy_factory(basic_config({"web": [e.addr]},
                                   extra_listener=listener("access: { allow: [127.0.0.2/32] }")))
    assert_refused_without_response(p.port, "127.0.0.1")
    with connect(p.port, "127.0.0.2") as s:
        s.sendall(b"GET /allowed HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = read_response(s)
    assert status == 200 and json.loads(body)["path"] == "/allowed"
    # deny wins over allow
    p2 = proxy_factory(basic_config(
        {"web": [e.addr]},
        extra_listener=listener("access: { allow: [127.0.0.0/8], deny: [127.0.0.2/32] }")))
    assert_refused_without_response(p2.port, "127.0.0.2")
    with connect(p2.port, "127.0.0.1") as s:
        s.sendall(b"GET /allowed HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(s)[0] == 200


@pytest.mark.skipif(not can_bind("127.0.0.2"), reason="127.0.0.2 is not usable as a source")
def test_trusted_proxies_decide_xff(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]},
                                   extra_listener=listener("trusted_proxies: [127.0.0.2/32]")))

    def xff_seen(source, xff):
        with connect(p.port, source) as s:
            s.sendall(b"GET /?echo_headers=1 HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: "
                      + xff.encode() + b"\r\n\r\n")
            status, _, body = read_response(s)
        assert status == 200
        return json.loads(body)["headers"]["x-forwarded-for"]

    assert xff_seen("127.0.0.2", "203.0.113.9") == "203.0.113.9, 127.0.0.2"
    assert xff_seen("127.0.0.2", "198.51.100.1, 203.0.113.9") == \
        "198.51.100.1, 203.0.113.9, 127.0.0.2"
    assert xff_seen("127.0.0.1", "203.0.113.9") == "127.0.0.1", \
        "XFF from an untrusted peer must be replaced by the peer's address"
