"""Upstream connection pools, one event at a time (one worker, Python upstreams that decide
exactly when a connection closes): the keep-alive race's re-send on a fresh connection, the
stale check at checkout, idle expiry, max_idle and exhaustion, each through the client's answer,
what the upstream saw, and every /metrics counter involved."""
import json
import socket
import struct
import threading
import time

from conftest import get, parse_metrics, wait_for

CLUSTER = "web"
WAIT = 10  # bound on every wait for a condition
TCP_FIN_WAIT2 = 5  # linux/tcp_states.h: our FIN was ACKed by the proxy's kernel

# Every counter and gauge the tests below pin, per cluster.
POOL_METRICS = {
    "opened": "causeway_upstream_connections_opened_total",
    "reuses": "causeway_upstream_connection_reuses_total",
    "stale": "causeway_upstream_stale_connections_closed_total",
    "resends": "causeway_upstream_reused_connection_resends_total",
    "expired": "causeway_upstream_idle_expired_total",
    "exhausted": "causeway_upstream_pool_exhausted_total",
    "open": "causeway_upstream_connections_open",
    "idle": "causeway_upstream_connections_idle",
}


def pool_config(backend, max_connections=8, max_idle=8, idle_timeout="60s"):
    return f"""
workers: 1
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - name: edge
    listen: 127.0.0.1:{{port}}
    routes:
      - match: {{ path_prefix: / }}
        cluster: {CLUSTER}
clusters:
  - name: {CLUSTER}
    endpoints: [{backend}]
    pool: {{ max_connections: {max_connections}, max_idle: {max_idle},
            idle_timeout: {idle_timeout} }}
"""


def pool_metrics(p, host=None):
    """{short name: value} for POOL_METRICS, plus host tries and failures when host is given."""
    m = parse_metrics(p.admin_get("/metrics"))
    cl = frozenset({("cluster", CLUSTER)})
    out = {k: m.get((name, cl), 0) for k, name in POOL_METRICS.items()}
    if host:
        hl = frozenset({("cluster", CLUSTER), ("host", host)})
        out["tries"] = m.get(("causeway_upstream_host_requests_total", hl), 0)
        out["failures"] = m.get(("causeway_upstream_host_failures_total", hl), 0)
    return out


def wait_metrics(p, want, what, host=None):
    """Waits until every metric named in `want` has its value; returns all of them."""
    seen = []
    return wait_for(lambda: seen.append(pool_metrics(p, host)) or
                    (all(seen[-1][k] == v for k, v in want.items()) and seen[-1]), WAIT,
                    lambda: f"{what}: want {want}, metrics {seen[-1]}")


class ConnBackend:
    """An HTTP/1.1 upstream run by a RawServer: the k-th connection it accepts (from 0) is served
    by plan[k] (default: `serve`), so a test scripts each connection. Answers carry
    "conn<k> req<j>" in the body, so the client can tell which connection served it."""

    def __init__(self, plan=None):
        self.plan = plan or {}
        self.lock = threading.Lock()
        self.accepted = 0
        self.heads = []  # (connection index, request line) for every request head read

    def __call__(self, c, srv):
        with self.lock:
            k = self.accepted
            self.accepted += 1
        self.plan.get(k, ConnBackend.serve)(self, c, srv, k)

    def read_request(self, c, srv, k, pending=b""):
        """One GET head (these tests send no bodies); (request line, rest) or (None, rest)."""
        head, rest = srv.read_head(c, pending)
        if head is None:
            return None, rest
        line = head.split(b"\r\n", 1)[0].decode()
        with self.lock:
            self.heads.append((k, line))
        return line, rest

    @staticmethod
    def answer(c, k, j):
        body = f"conn{k} req{j}".encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    def serve_one(self, c, srv, k):
        """Answers one request; returns the bytes read past it, or None if the proxy closed."""
        line, pending = self.read_request(c, srv, k)
        if line is None:
            return None
        self.answer(c, k, 0)
        return pending

    def serve(self, c, srv, k, first=0):
        """Keep-alive: answers every request until the proxy closes."""
        pending, j = b"", first
        while True:
            line, pending = self.read_request(c, srv, k, pending)
            if line is None:
                return
            self.answer(c, k, j)
            j += 1


def tcp_state(sock):
    return struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]


def one_pooled_connection(raw_server, proxy_factory, first_conn):
    """A proxy whose pool holds one idle connection, served upstream by first_conn (a
    ConnBackend plan entry) after answering GET /one; later connections are served normally.
    Returns (backend, raw server, proxy)."""
    be = ConnBackend({0: first_conn})
    up = raw_server(be)
    p = proxy_factory(pool_config(up.addr))
    status, _, body = get(p.url + "/one")
    assert status == 200 and body == b"conn0 req0", (status, body)
    # Back in the pool before the next request, so that one must check it out.
    wait_metrics(p, {"idle": 1, "open": 1, "opened": 1}, "after the first request")
    return be, up, p


def test_reused_connection_closed_on_reuse_is_resent_on_a_fresh_one(raw_server, proxy_factory):
    """The keep-alive race, forced: the upstream closes its kept-alive connection at the moment
    the proxy reuses it (it reads the first bytes of the second request and closes without an
    answer). The request never got an answer there, so the proxy must re-send it once on a new
    connection: the client sees 200, never the race."""
    got_second = threading.Event()

    def serve_one_then_close_on_reuse(be, c, srv, k):
        pending = be.serve_one(c, srv, k)
        if pending is None:
            return
        if pending or srv.recv(c):  # the proxy reuses the connection: its first bytes are here
            got_second.set()
        # returning closes the connection, with the request unanswered

    be, up, p = one_pooled_connection(raw_server, proxy_factory, serve_one_then_close_on_reuse)
    status, headers, body = get(p.url + "/two", {"x-causeway-trace": "1"})
    assert status == 200, (status, headers, body)
    assert body == b"conn1 req0", f"the re-sent request was answered by {body!r}"
    assert got_second.is_set(), "the upstream never saw the reused connection carry the request"
    assert be.heads == [(0, "GET /one HTTP/1.1"), (1, "GET /two HTTP/1.1")], (
        f"the upstream should see /two re-sent on a second connection: {be.heads}")
    assert up.all_received()[0].count(b"GET /two ") == 1, "conn0 never got the start of /two"
    assert "reused-connection-closed" in headers.get("server-timing", ""), headers

    m = wait_metrics(p, {"idle": 1, "open": 1}, "after the re-send", host=up.addr)
    assert m == {"opened": 2, "reuses": 1, "stale": 0, "resends": 1, "expired": 0,
                 "exhausted": 0, "open": 1, "idle": 1, "tries": 3, "failures": 1}, m
    assert be.accepted == 2


def test_idle_connection_closed_by_the_upstream_is_caught_at_checkout(raw_server, proxy_factory):
    """The upstream closes a pooled connection while it sits idle (and the proxy's kernel has
    its FIN): the stale check at checkout drops it and opens a fresh one. Nothing is sent on the
    dead connection, so there is nothing to re-send."""
    closing = threading.Event()
    fin_acked = threading.Event()

    def serve_one_then_close_when_told(be, c, srv, k):
        if be.serve_one(c, srv, k) is None:
            return
        assert closing.wait(WAIT)
        c.shutdown(socket.SHUT_WR)  # FIN; the fd stays ours so its TCP state can be read
        for _ in range(WAIT * 1000):  # bounded: 1 ms per step below
            if tcp_state(c) == TCP_FIN_WAIT2:
                fin_acked.set()
                break
            time.sleep(0.001)
        srv.recv(c)  # until the proxy drops the connection (at its next checkout)

    be, up, p = one_pooled_connection(raw_server, proxy_factory, serve_one_then_close_when_told)
    closing.set()
    assert fin_acked.wait(WAIT), "the proxy's kernel never acknowledged the upstream's FIN"

    status, headers, body = get(p.url + "/two", {"x-causeway-trace": "1"})
    assert status == 200 and body == b"conn1 req0", (status, body)
    assert up.all_received()[0].count(b"GET ") == 1, (
        "the proxy sent /two on the connection the upstream had closed: "
        f"{up.all_received()[0]!r}")
    assert "reused-connection-closed" not in headers.get("server-timing", ""), headers
    m = wait_metrics(p, {"idle": 1, "open": 1}, "after the stale connection", host=up.addr)
    assert m == {"opened": 2, "reuses": 0, "stale": 1, "resends": 0, "expired": 0,
                 "exhausted": 0, "open": 1, "idle": 1, "tries": 2, "failures": 0}, m
    assert be.accepted == 2
    wait_for(lambda: up.active == 1, WAIT, "the proxy did not close the stale connection")


def test_idle_timeout_closes_pooled_connections(raw_server, proxy_factory):
    be = ConnBackend()
    up = raw_server(be)
    p = proxy_factory(pool_config(up.addr, idle_timeout="300ms"))
    status, _, body = get(p.url + "/one")
    assert status == 200 and body == b"conn0 req0"
    # The pool's timer closes the idle connection: the upstream sees it go.
    wait_metrics(p, {"expired": 1, "idle": 0, "open": 0}, "the idle timeout did not fire")
    assert up.wait_idle(WAIT), "the upstream's connection is still open after the idle timeout"
    status, _, body = get(p.url + "/two")
    assert status == 200 and body == b"conn1 req0", "an expired connection was reused"
    m = pool_metrics(p)
    assert (m["opened"], m["reuses"], m["stale"], m["expired"]) == (2, 0, 0, 1), m


def test_keepalive_pool_reuses_within_idle_timeout(raw_server, proxy_factory):
    """The control for the test above: with a long idle timeout the same connection serves
    every request, and nothing expires."""
    be = ConnBackend()
    up = raw_server(be)
    p = proxy_factory(pool_config(up.addr, idle_timeout="60s"))
    for j in range(5):
        status, _, body = get(p.url + f"/r{j}")
        assert status == 200 and body == f"conn0 req{j}".encode(), (j, status, body)
        wait_metrics(p, {"idle": 1}, f"request {j}: the connection is not back in the pool")
    m = pool_metrics(p)
    assert (m["opened"], m["reuses"], m["expired"], m["open"]) == (1, 4, 0, 1), m
    assert be.accepted == 1


def held_requests(p, n, path):
    """Sends n requests at once on their own threads; returns (threads, results list)."""
    results = [None] * n

    def one(i):
        results[i] = get(p.url + f"{path}/{i}", timeout=WAIT + 5)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, results


def test_max_idle_closes_connections_beyond_it(raw_server, proxy_factory):
    """4 requests at once need 4 connections; when they finish only max_idle=2 stay pooled,
    the other 2 are closed, and the next requests reuse the pooled ones."""
    barrier = threading.Barrier(4, timeout=WAIT)

    def serve_together(be, c, srv, k):
        line, _ = be.read_request(c, srv, k)
        if line is None:
            return
        try:
            barrier.wait()  # all 4 requests are in flight at once, on 4 connections
        except threading.BrokenBarrierError:
            c.sendall(b"HTTP/1.1 500 Barrier\r\nContent-Length: 0\r\n\r\n")
            return
        be.answer(c, k, 0)
        be.serve(c, srv, k, first=1)

    be = ConnBackend({k: serve_together for k in range(4)})
    up = raw_server(be)
    p = proxy_factory(pool_config(up.addr, max_connections=8, max_idle=2))
    threads, results = held_requests(p, 4, "/together")
    for t in threads:
        t.join(WAIT + 10)
    assert all(r and r[0] == 200 for r in results), results
    wait_metrics(p, {"opened": 4, "idle": 2, "open": 2}, "max_idle=2 after 4 parallel requests")
    wait_for(lambda: up.active == 2, WAIT,
             lambda: f"the upstream still has {up.active} connections, want max_idle=2")
    for j in range(3):
        status, _, body = get(p.url + f"/after/{j}")
        assert status == 200, (status, body)
        wait_metrics(p, {"idle": 2}, f"request {j} after: not back in the pool")
    m = pool_metrics(p)
    assert (m["opened"], m["reuses"], m["open"], m["idle"]) == (4, 3, 2, 2), m
    assert be.accepted == 4


def test_exhausted_pool_answers_503_upstream_pool_exhausted(raw_server, proxy_factory):
    release = threading.Event()

    def hold_until_released(be, c, srv, k):
        line, _ = be.read_request(c, srv, k)
        if line is None:
            return
        release.wait(WAIT)
        be.answer(c, k, 0)
        be.serve(c, srv, k, first=1)

    be = ConnBackend({0: hold_until_released, 1: hold_until_released})
    up = raw_server(be)
    p = proxy_factory(pool_config(up.addr, max_connections=2, max_idle=2))
    threads, results = held_requests(p, 2, "/held")
    try:
        wait_for(lambda: len(be.heads) == 2, WAIT,
                 lambda: f"the two held requests did not reach the upstream: {be.heads}")
        status, headers, body = get(p.url + "/third")
        assert status == 503, (status, body)
        assert headers.get("x-causeway-error") == "upstream_pool_exhausted", headers
        doc = json.loads(body)
        assert doc["error"] == "upstream_pool_exhausted" and doc["cluster"] == CLUSTER, doc
        m = pool_metrics(p)
        assert (m["exhausted"], m["opened"], m["open"]) == (1, 2, 2), m
        errors = parse_metrics(p.admin_get("/metrics")).get(
            ("causeway_errors_total", frozenset({("code", "upstream_pool_exhausted")})), 0)
        assert errors == 1, errors
    finally:
        release.set()
        for t in threads:
            t.join(WAIT + 10)
    assert [r[0] for r in results] == [200, 200], results
    assert be.accepted == 2, "the refused request must not open a third connection"
    assert [h for _, h in be.heads if "/third" in h] == []
    # Room again once the held requests finished.
    wait_metrics(p, {"idle": 2}, "the held requests' connections are not back in the pool")
    status, _, _ = get(p.url + "/fourth")
    assert status == 200
    assert pool_metrics(p)["exhausted"] == 1
