"""A client that trickles its request body is the failing hop, not the upstream (issue 12):
the route timeout runs from the request head and a body read timeout bounds each wait; either
one firing while the body is still arriving answers 408 client_body_timeout naming the client,
and the upstream exchange is aborted so the upstream never sees a completed request."""
import json
import socket
import threading
import time

from conftest import parse_metrics, recv_until_closed, wait_for


def counting_upstream(done):
    """An origin that answers 200 only after reading a whole Content-Length body; `done`
    collects each completed request's body."""

    def handler(c, srv):
        head, rest = srv.read_head(c)
        if head is None:
            return
        n = 0
        for line in head.split(b"\r\n"):
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        body = rest
        while len(body) < n:
            b = srv.recv(c)
            if not b:
                return  # the proxy gave up on the request: it never completed here
            body += b
        with srv.lock:
            done.append(body[:n])
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    return handler


def config(up, route_extra="", listener_extra=""):
    return ("workers: 1\nadmin: { listen: 127.0.0.1:{admin} }\n"
            "access_log: { path: stderr, format: json }\nlisteners:\n"
            "  - name: edge\n    listen: 127.0.0.1:{port}\n" + listener_extra +
            "    routes:\n      - match: { path_prefix: / }\n        cluster: up\n" + route_extra +
            f"clusters:\n  - name: up\n    endpoints: [{up.addr}]\n")


def trickle(port, total, stop_after=None, interval=0.25):
    """POSTs a `total`-byte body one byte per `interval` s (at most `stop_after` bytes, then
    silence), until the proxy answers or closes. Returns (response bytes, closed, bytes sent)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n".encode())
    sent = 0
    data = b""
    limit = total if stop_after is None else stop_after
    deadline = time.time() + 30  # bound on the whole exchange, not a claim about timing
    s.settimeout(interval)
    while time.time() < deadline:
        if sent < limit:
            try:
                s.sendall(b"a")
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                break
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
        data += b
        break
    rest, closed = recv_until_closed(s, timeout=10)
    s.close()
    return data + rest, closed, sent


def parse(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return status, headers, body


def assert_client_body_timeout(p, data, closed):
    assert data, "the proxy must answer a stalled body before closing"
    status, headers, body = parse(data)
    assert status == 408, data
    assert headers.get("x-causeway-error") == "client_body_timeout", headers
    doc = json.loads(body)
    assert doc["error"] == "client_body_timeout", doc
    assert doc["hop"] == "client", doc
    assert closed, "the connection must close: the rest of the body would be taken for a request"
    m = parse_metrics(p.admin_get("/metrics"))
    assert m.get(("causeway_errors_total", frozenset({("code", "client_body_timeout")}))) == 1, \
        [k for k in m if isinstance(k, tuple) and k[0] == "causeway_errors_total"]
    log = wait_for(lambda: '"error":"client_body_timeout"' in p.output() and p.output(), 5,
                   "the access log names the client's timeout")
    line = [l for l in log.splitlines() if '"error":"client_body_timeout"' in l][0]
    assert '"status":408' in line and '"hop":"client"' in line, line


def test_route_timeout_counts_from_the_head_and_blames_the_client(raw_server, proxy_factory):
    done = []
    up = raw_server(counting_upstream(done))
    p = proxy_factory(config(up, route_extra="        timeout: 1s\n"))
    # 6 bytes at one per 0.25 s cannot arrive within the 1 s route timeout.
    data, closed, sent = trickle(p.port, 6)
    assert_client_body_timeout(p, data, closed)
    assert sent < 6, "the 408 came after the whole body: the timeout did not count from the head"
    assert up.wait_idle(), "the upstream exchange must be aborted (its connection closed)"
    assert done == [], f"the upstream must not see a completed request: {done!r}"


def test_body_read_timeout_between_bytes(raw_server, proxy_factory):
    done = []
    up = raw_server(counting_upstream(done))
    p = proxy_factory(config(up, listener_extra="    body_read_timeout: 500ms\n"))
    # Two bytes of 100, then silence: the wait for the third is bounded by body_read_timeout
    # (the route timeout is the default 15 s).
    data, closed, sent = trickle(p.port, 100, stop_after=2)
    assert_client_body_timeout(p, data, closed)
    assert up.wait_idle()
    assert done == []


def test_a_steady_body_within_the_timeouts_goes_through(raw_server, proxy_factory):
    done = []
    up = raw_server(counting_upstream(done))
    p = proxy_factory(config(up, route_extra="        timeout: 10s\n",
                             listener_extra="    body_read_timeout: 5s\n"))
    data, closed, sent = trickle(p.port, 4, interval=0.05)
    status, _, body = parse(data)
    assert status == 200 and body == b"ok", data
    assert done == [b"aaaa"]
