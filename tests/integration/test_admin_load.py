"""The admin listener under load: it used to serve at most 64 connections (200 concurrent
scrapes: 135 closed unanswered) and idle or silent connections starved /healthz. Now: every one
of 200 concurrent GET /metrics is answered, and /healthz answers while 500 idle keep-alive
connections, or 100 that never send a byte, are held open."""
import socket
import urllib.request

import pytest

from conftest import basic_config, parse_metrics, recv_until_closed


@pytest.fixture
def proxy(echo_factory, proxy_factory):
    web = echo_factory("web")
    return proxy_factory(basic_config({"web": [web.addr]}))


def healthz(p, timeout=2.0):
    with urllib.request.urlopen(p.admin_url + "/healthz", timeout=timeout) as r:
        return r.status, r.read()


def still_open(s):
    """The server has not closed s (nothing to read, no EOF)."""
    timeout = s.gettimeout()
    s.settimeout(0)
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.settimeout(timeout)


def test_200_concurrent_metrics_scrapes_are_all_answered(proxy):
    # All 200 connections are open at once before any asks (a scrape is quick, so sequential
    # clients would rarely be concurrent), then each asks and reads its whole answer.
    conns = [socket.create_connection(("127.0.0.1", proxy.admin_port), timeout=10)
             for _ in range(200)]
    results = []
    try:
        for s in conns:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        for s in conns:
            data, closed = recv_until_closed(s, timeout=10)
            ok = closed and data.startswith(b"HTTP/1.1 200 ") and b"causeway_workers" in data
            results.append(ok or data[:80])
    finally:
        for s in conns:
            s.close()
    bad = [r for r in results if r is not True]
    assert not bad, f"{len(bad)} of 200 concurrent scrapes were not answered: {bad[:5]}"


def test_healthz_answers_while_500_idle_keepalive_connections_are_held(proxy):
    held = []
    try:
        for _ in range(500):
            s = socket.create_connection(("127.0.0.1", proxy.admin_port), timeout=10)
            held.append(s)
            s.sendall(b"GET /ready HTTP/1.1\r\nHost: admin\r\n\r\n")
        for s in held:  # each answered and now idle (keep-alive)
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b"\n"):
                chunk = s.recv(4096)
                assert chunk, f"an idle-to-be connection was closed: {data!r}"
                data += chunk
            assert data.startswith(b"HTTP/1.1 200 "), data
        status, body = healthz(proxy)
        assert status == 200 and b'"ok"' in body
        open_now = sum(still_open(s) for s in held)
        assert open_now >= 450, f"only {open_now} of 500 idle connections were still held"
        m = parse_metrics(proxy.admin_get("/metrics"))
        assert m["causeway_admin_connections_evicted_total"] == 0, m
    finally:
        for s in held:
            s.close()


def test_healthz_answers_while_100_silent_connections_are_held(proxy):
    held = []
    try:
        for _ in range(100):
            held.append(socket.create_connection(("127.0.0.1", proxy.admin_port), timeout=10))
        status, body = healthz(proxy)
        assert status == 200 and b'"ok"' in body
        assert sum(still_open(s) for s in held) >= 90
    finally:
        for s in held:
            s.close()
