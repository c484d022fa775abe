"""The proxy end to end: routing, forwarded headers, tracing, direct responses, redirects,
keep-alive, pipelining, chunked bodies, 100-continue, and the proxy's own JSON errors."""
import json
import re
import socket

from conftest import basic_config, get, http_request


def test_routes_by_prefix_and_balances(echo_factory, proxy_factory):
    api = [echo_factory("api", f"api-{i}") for i in range(3)]
    web = echo_factory("web", "web-1")
    p = proxy_factory(basic_config({"api": [e.addr for e in api], "web": [web.addr]},
                                   [("/api/", "api"), ("/", "web")]))
    seen = set()
    for _ in range(30):
        status, _, body = get(p.url + "/api/users")
        assert status == 200
        doc = json.loads(body)
        assert doc["service"] == "api" and doc["path"] == "/api/users"
        seen.add(doc["instance"])
    assert seen == {"api-0", "api-1", "api-2"}
    status, _, body = get(p.url + "/index.html")
    assert status == 200 and json.loads(body)["service"] == "web"


def test_forwarded_headers_request_id_and_traceparent(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]}))
    status, _, body = get(p.url + "/h?echo_headers=1",
                          {"X-Forwarded-For": "6.6.6.6", "Connection": "close, x-secret",
                           "X-Secret": "drop-me"})
    assert status == 200
    h = json.loads(body)["headers"]
    # 127.0.0.1 is not a trusted proxy here: the client's XFF is replaced, not extended.
    assert h["x-forwarded-for"] == "127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert h["x-forwarded-host"] == f"127.0.0.1:{p.port}"
    assert h["via"] == "1.1 causeway"
    assert re.fullmatch(r"[0-9a-f-]{36}", h["x-request-id"])
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", h["traceparent"])
    assert "connection" not in h
    # Headers the client names in Connection are hop-by-hop too (urllib rewrites Connection,
    # so this one goes over a raw socket).
    data = http_request(p.port, b"GET /h?echo_headers=1 HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close, x-secret\r\nX-Secret: drop-me\r\nX-Keep: yes\r\n\r\n")
    h = json.loads(data.partition(b"\r\n\r\n")[2])["headers"]
    assert "x-secret" not in h and h["x-keep"] == "yes"

    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    _, _, body = get(p.url + "/h?echo_headers=1", {"traceparent": tp, "X-Request-Id": "abc"})
    h = json.loads(body)["headers"]
    assert h["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert not h["traceparent"].startswith(tp[:36] + "00f067aa0ba902b7")
    assert h["x-request-id"] == "abc"


def test_trusted_proxy_xff_is_extended(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]},
                                   extra_listener="    trusted_proxies: [127.0.0.0/8]"))
    _, _, body = get(p.url + "/?echo_headers=1", {"X-Forwarded-For": "203.0.113.9"})
    assert json.loads(body)["headers"]["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"


def test_trace_header_returns_server_timing(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]}))
    status, headers, _ = get(p.url + "/", {"x-causeway-trace": "1"})
    assert status == 200
    st = headers["server-timing"]
    for hop in ("parse;dur=", "route;dur=", "pool;dur=", "connect;dur=", "upstream;dur="):
        assert hop in st, st
    assert headers["x-causeway-upstream"] == e.addr
    status, headers, _ = get(p.url + "/")
    assert "server-timing" not in headers


def test_no_route_is_json_404(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]}, [("/only/", "web")]))
    status, headers, body = get(p.url + "/elsewhere")
    assert status == 404
    assert headers["x-causeway-error"] == "no_route"
    doc = json.loads(body)
    assert doc["error"] == "no_route" and doc["request_id"]


def test_direct_response_redirect_method_and_header_match(echo_factory, proxy_factory):
    e = echo_factory("web")
    cfg = f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - name: edge
    listen: 127.0.0.1:{{port}}
    routes:
      - match: {{ path: /ping }}
        direct_response: {{ status: 200, body: "pong" }}
      - match: {{ path_prefix: /old/ }}
        redirect: {{ location: /new/, status: 301 }}
      - match: {{ path_prefix: /, method: [POST] }}
        direct_response: {{ status: 405, body: "no posts" }}
      - match: {{ path_regex: "/v[0-9]+/.*", headers: [{{ name: x-canary, exact: "1" }}] }}
        direct_response: {{ status: 200, body: "canary" }}
      - match: {{ path_prefix: / }}
        cluster: web
clusters:
  - name: web
    endpoints: [{e.addr}]
"""
    p = proxy_factory(cfg)
    assert get(p.url + "/ping")[2] == b"pong"
    s, h, _ = http_status_headers(p.port, b"GET /old/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert s == 301 and h["location"] == "/new/"
    assert get(p.url + "/x", method="POST", data=b"x")[0] == 405
    assert get(p.url + "/v2/items", {"x-canary": "1"})[2] == b"canary"
    assert json.loads(get(p.url + "/v2/items")[2])["service"] == "web"


def http_status_headers(port, raw):
    data = http_request(port, raw)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def test_keepalive_and_pipelining(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]}))
    reqs = b"".join(f"GET /p{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(5))
    reqs += b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = http_request(p.port, reqs)
    paths = re.findall(rb'"path":"(/[a-z0-9]+)"', data)
    assert paths == [b"/p0", b"/p1", b"/p2", b"/p3", b"/p4", b"/last"]
    assert data.count(b"HTTP/1.1 200") == 6


def test_chunked_request_and_expect_continue(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]}))
    raw = (b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    data = http_request(p.port, raw)
    assert b"HTTP/1.1 200" in data and b'"body_bytes":11' in data

    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(b"POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n"
                  b"Connection: close\r\n\r\n")
        first = s.recv(1024)
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(b"abcd")
        rest = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            rest += b
        assert b"HTTP/1.1 200" in first + rest and b'"body_bytes":4' in first + rest


def test_http10_client(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]}))
    data = http_request(p.port, b"GET /ten HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.0 200") and b'"path":"/ten"' in data


def test_close_delimited_response_is_rechunked_and_completes(proxy_factory):
    """An upstream body that ends at EOF (no length) arrives with its FIN in one edge: the
    proxy must see the EOF and finish the chunked response (regression: it waited forever)."""
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            with c:
                c.settimeout(5)
                buf = b""
                while b"\r\n\r\n" not in buf:
                    b = c.recv(4096)
                    if not b:
                        break
                    buf += b
                c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello, until close")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        p = proxy_factory(basic_config({"raw": [f"127.0.0.1:{port}"]}))
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while not data.endswith(b"0\r\n\r\n"):
                    b = s.recv(65536)
                    assert b, data
                    data += b
            assert b"Transfer-Encoding: chunked" in data
            assert b"hello, until close" in data
    finally:
        stop.set()
        t.join(timeout=5)
        srv.close()
