"""The proxy's own errors (SPEC 3): each is JSON naming the failing hop, with the code in
`x-causeway-error` and the status of its class (502 bad response/reset, 503 no healthy
upstream/refused, 504 timeout). Also: truncated upstream bodies reach the client as truncated
and closed (never a hang), and one bad client never disturbs another connection."""
import json
import socket
import time

import pytest

from conftest import basic_config, get, recv_until_closed

REQUIRED_FIELDS = ("error", "cluster", "upstream", "request_id")


def parse_response(data):
    """(status, headers lower-cased, body) of the first response in data."""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no complete response head in {data[:300]!r}"
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def assert_proxy_error(status, headers, body, want_status, want_code, cluster=None,
                       upstream=None, fields=REQUIRED_FIELDS):
    assert status == want_status, f"want {want_status} {want_code}, got {status}: {body[:300]!r}"
    assert headers.get("x-causeway-error") == want_code, \
        f"x-causeway-error should be {want_code!r}, headers: {headers}"
    assert headers.get("content-type", "").startswith("application/json"), headers
    doc = json.loads(body)
    assert doc["error"] == want_code, doc
    for f in fields:
        assert doc.get(f), f"error JSON must name {f!r}: {doc}"
    if cluster is not None:
        assert doc["cluster"] == cluster, doc
    if upstream is not None:
        assert doc["upstream"] == upstream, doc
    return doc


def dead_addr():
    """A loopback address with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def one_request(port, raw, timeout=10.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        data, closed = recv_until_closed(s, timeout=timeout)
    return data, closed


def test_connect_refused_is_503_json(proxy_factory):
    dead = dead_addr()
    p = proxy_factory(basic_config({"api": [dead]}))
    status, headers, body = get(p.url + "/x", {"X-Request-Id": "req-refused-1"})
    doc = assert_proxy_error(status, headers, body, 503, "upstream_connect_refused",
                             cluster="api", upstream=dead)
    assert doc["request_id"] == "req-refused-1", doc


def test_second_request_after_refused_is_503_with_the_same_shape(proxy_factory):
    """After a refused connect the host sits out a back-off, so the next request fails fast with
    no_healthy_upstream (a different worker may still try and be refused: both are fine)."""
    dead = dead_addr()
    p = proxy_factory(basic_config({"api": [dead]}))
    status, headers, body = get(p.url + "/a")
    assert_proxy_error(status, headers, body, 503, "upstream_connect_refused", cluster="api")
    for _ in range(4):
        status, headers, body = get(p.url + "/b")
        code = headers.get("x-causeway-error")
        assert code in ("no_healthy_upstream", "upstream_connect_refused"), (status, headers, body)
        # no_healthy_upstream has no host to name; refused names the one it tried.
        fields = ("error", "cluster", "request_id") if code == "no_healthy_upstream" \
            else REQUIRED_FIELDS
        assert_proxy_error(status, headers, body, 503, code, cluster="api", fields=fields)


def test_one_dead_host_of_two_never_shows(echo_factory, proxy_factory):
    live = echo_factory("api", "api-live")
    dead = dead_addr()
    p = proxy_factory(basic_config({"api": [dead, live.addr]}))
    for i in range(20):
        status, _, body = get(p.url + f"/r{i}")
        assert status == 200, f"request {i}: a dead host must be skipped, got {status} {body!r}"
        assert json.loads(body)["instance"] == "api-live"


def test_upstream_reset_is_502(echo_factory, proxy_factory):
    e = echo_factory("api", extra=["--reset-rate", "1"])
    p = proxy_factory(basic_config({"api": [e.addr]}))
    status, headers, body = get(p.url + "/reset")
    assert_proxy_error(status, headers, body, 502, "upstream_reset", cluster="api",
                       upstream=e.addr)


def test_upstream_timeout_is_504(echo_factory, proxy_factory):
    e = echo_factory("api", extra=["--hang-rate", "1"])
    cfg = basic_config({"api": [e.addr]}).replace(
        "        cluster: api\n", "        cluster: api\n        timeout: 300ms\n")
    assert "timeout: 300ms" in cfg
    p = proxy_factory(cfg)
    status, headers, body = get(p.url + "/hang", timeout=10)
    assert_proxy_error(status, headers, body, 504, "upstream_timeout", cluster="api",
                       upstream=e.addr)


def test_connect_timeout_is_504(proxy_factory):
    """A listener with a full accept queue drops SYNs on Linux, so a connect to it hangs: a
    safe, loopback-only way to make a connect time out."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers = []
    try:
        lst.bind(("127.0.0.1", 0))
        lst.listen(0)
        port = lst.getsockname()[1]
        for _ in range(4):
            f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)
        # Confirm the trick holds on this kernel before relying on it.
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", port))
            pytest.skip("the kernel accepted a connect past a full backlog; no loopback "
                        "connect timeout available")
        except socket.timeout:
            pass
        finally:
            probe.close()
        addr = f"127.0.0.1:{port}"
        cfg = basic_config({"api": [addr]}).replace(
            "    endpoints:\n", "    connect_timeout: 200ms\n    endpoints:\n")
        p = proxy_factory(cfg)
        status, headers, body = get(p.url + "/slow-connect", timeout=10)
        assert_proxy_error(status, headers, body, 504, "upstream_connect_timeout",
                           cluster="api", upstream=addr)
    finally:
        for f in fillers:
            f.close()
        lst.close()


def garbage_upstream(response):
    """A handler that reads one request head, answers `response` and waits for the proxy to
    hang up (so that the proxy must judge the bytes, not an EOF)."""
    def handler(c, srv):
        head, _ = srv.read_head(c)
        if head is None:
            return
        c.sendall(response)
        while srv.recv(c):
            pass
    return handler


@pytest.mark.parametrize("response", [
    b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
], ids=["cl_not_a_number", "cl_conflict", "cl_and_te", "bad_status", "not_http", "no_colon"])
def test_malformed_upstream_response_is_502(raw_server, proxy_factory, response):
    up = raw_server(garbage_upstream(response))
    p = proxy_factory(basic_config({"api": [up.addr]}))
    status, headers, body = get(p.url + "/bad")
    assert_proxy_error(status, headers, body, 502, "upstream_bad_response", cluster="api",
                       upstream=up.addr)


def test_upstream_closing_before_any_byte_is_502_reset(raw_server, proxy_factory):
    def handler(c, srv):
        srv.read_head(c)  # then close without a word
    up = raw_server(handler)
    p = proxy_factory(basic_config({"api": [up.addr]}))
    status, headers, body = get(p.url + "/gone")
    assert_proxy_error(status, headers, body, 502, "upstream_reset", cluster="api",
                       upstream=up.addr)


@pytest.mark.parametrize("response,full_body", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10, 100),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", None),
], ids=["content_length", "chunked"])
def test_upstream_closing_mid_body_truncates_and_closes(raw_server, proxy_factory, response,
                                                        full_body):
    """The upstream sends part of a response and closes at once, so its data and FIN often reach
    the proxy in one readiness event; a few rounds make that race likely to show."""
    def handler(c, srv):
        head, _ = srv.read_head(c)
        if head is not None:
            c.sendall(response)
        # returning closes the connection mid-body
    up = raw_server(handler)
    p = proxy_factory(basic_config({"api": [up.addr]}, top="drain_timeout: 1s"))
    for round_ in range(5):
        with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
            s.sendall(b"GET /trunc HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive on purpose
            data, closed = recv_until_closed(s, timeout=4)
        assert closed, (
            f"round {round_}: the upstream closed mid-body but the proxy kept the client "
            f"connection open (hung) with a truncated response: {data!r}")
        status, headers, body = parse_response(data)
        assert status == 200, data
        if full_body is not None:
            assert int(headers["content-length"]) == full_body
            assert len(body) < full_body, f"the body cannot be complete: {data!r}"
        else:
            assert headers.get("transfer-encoding") == "chunked", headers
            assert b"hello" in body
            assert not body.endswith(b"0\r\n\r\n"), \
                f"a truncated chunked body must not be terminated as if complete: {body!r}"


def test_bad_client_does_not_disturb_another_connection(echo_factory, proxy_factory):
    e = echo_factory("web", "web-1")
    p = proxy_factory(basic_config({"web": [e.addr]}))

    def ask(s, path):
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        buf = b""
        deadline = time.time() + 10
        while time.time() < deadline:
            if b"\r\n\r\n" in buf:
                st, h, body = parse_response(buf)
                if len(body) >= int(h.get("content-length", "0")):
                    return st, json.loads(body[:int(h["content-length"])])
            b = s.recv(65536)
            assert b, f"the good connection was closed: {buf!r}"
            buf += b
        raise AssertionError(f"no complete response in time: {buf!r}")

    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as good:
        st, doc = ask(good, "/before")
        assert st == 200 and doc["path"] == "/before"
        for garbage in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
                        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                        b"NOT HTTP AT ALL\r\n\r\n",
                        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", p.port), timeout=10) as bad:
                bad.sendall(garbage)
                data, closed = recv_until_closed(bad, timeout=8)
            assert closed, f"a bad request must end its connection: {garbage!r} -> {data!r}"
            if data:
                assert data.startswith(b"HTTP/1.1 400"), data
            st, doc = ask(good, "/after")
            assert st == 200 and doc["path"] == "/after"


def test_client_half_close_after_request_gets_one_response_and_close(echo_factory, proxy_factory):
    """A client that writes its request and shuts down its sending side at once (printf | nc,
    HTTP/1.0-style tools) gets the response and then the close; the proxy must see the EOF that
    came with the request, not wait for the next head until header_read_timeout and then send an
    unsolicited 408 after the 200."""
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]},
                                   extra_listener="    header_read_timeout: 1s"))
    for round_ in range(3):
        with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
            s.sendall(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            data, closed = recv_until_closed(s, timeout=5)
        assert closed, f"round {round_}: not closed after the client's EOF: {data!r}"
        assert data.startswith(b"HTTP/1.1 200"), data
        assert data.count(b"HTTP/1.1 ") == 1, (
            f"round {round_}: exactly one response expected, the proxy missed the client's FIN "
            f"and answered a second, unsolicited one: {data!r}")


def test_error_keeps_the_connection_and_upstream_errors_pass_through(echo_factory, proxy_factory):
    """A proxy error on a keep-alive connection answers that request only: the next pipelined
    request is served. An upstream's own 503 is relayed as is, without x-causeway-error."""
    web = echo_factory("web", "web-1")
    dead = dead_addr()
    p = proxy_factory(basic_config({"web": [web.addr], "dead": [dead]},
                                   [("/dead/", "dead"), ("/", "web")]))
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(b"GET /dead/x HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /x?status=503 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, closed = recv_until_closed(s, timeout=8)
    assert closed, data
    parts = data.split(b"HTTP/1.1 ")[1:]
    assert len(parts) == 3, data
    first = parse_response(b"HTTP/1.1 " + parts[0])
    assert_proxy_error(first[0], first[1], first[2][:first[2].index(b"\n") + 1], 503,
                       "upstream_connect_refused", cluster="dead", upstream=dead)
    second = parse_response(b"HTTP/1.1 " + parts[1])
    assert second[0] == 200 and json.loads(second[2])["path"] == "/ok"
    third = parse_response(b"HTTP/1.1 " + parts[2])
    assert third[0] == 503 and "x-causeway-error" not in third[1], third
    assert json.loads(third[2])["service"] == "web"
