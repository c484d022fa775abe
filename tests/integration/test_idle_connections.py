"""Idle keep-alive client connections are cheap: 10,000 of them, each after one request, cost
the proxy under 2 KiB of its own RSS each, and the downstream gauges count them."""
import random
import resource
import selectors
import socket
import time

import pytest

from conftest import SANITIZED, parse_metrics, rss_bytes, wait_for

WANT_CONNS = 2000 if SANITIZED else 10000
WARMUP = 100
PER_CONN_LIMIT = 2048
MAX_CONNECTING = 64          # connections in flight at once while opening
STALL = 30.0                 # seconds without one connection finishing: the proxy is stuck


def idle_config(backend):
    return f"""
workers: 2
drain_timeout: 2s
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - name: edge
    listen: 127.0.0.1:{{port}}
    idle_timeout: 120s
    routes:
      - match: {{ path_prefix: / }}
        cluster: web
clusters:
  - name: web
    endpoints: [{backend}]
"""


@pytest.fixture
def nofile():
    """Raises this process's RLIMIT_NOFILE soft limit as far as allowed (65536 wanted)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield max(soft, want)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def response_complete(buf):
    """(status, complete?) for the bytes of one response with a Content-Length body."""
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return None, False
    head = buf[:i].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    length = 0
    for l in head[1:]:
        k, _, v = l.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v.strip())
    return status, len(buf) >= i + 4 + length


def open_idle(port, n):
    """Opens n connections with one GET each (non-blocking, at most MAX_CONNECTING in flight);
    returns (sockets kept open, statuses, failures). Fails if the proxy stops making progress
    (no connection finishes for STALL seconds), however long the whole takes."""
    sel = selectors.DefaultSelector()
    kept, statuses, failures = [], [], []
    started = 0
    inflight = 0
    stalled_since, done_before = time.time(), 0
    try:
        while len(kept) + len(failures) < n:
            done = len(kept) + len(failures)
            if done != done_before:
                stalled_since, done_before = time.time(), done
            assert time.time() - stalled_since < STALL, (
                f"no connection finished for {STALL}s: {len(kept)} done, {len(failures)} failed, "
                f"{inflight} waiting, of {n}")
            while inflight < MAX_CONNECTING and started < n:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                req = f"GET /idle/{started} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                sel.register(s, selectors.EVENT_WRITE, {"req": req, "buf": b""})
                started += 1
                inflight += 1
            for key, ev in sel.select(timeout=1.0):
                s, st = key.fileobj, key.data
                try:
                    if ev & selectors.EVENT_WRITE:
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if err:
                            raise OSError(err, "connect failed")
                        s.send(st["req"])  # tiny: fits in one send
                        sel.modify(s, selectors.EVENT_READ, st)
                        continue
                    b = s.recv(65536)
                    if not b:
                        raise OSError("closed by the proxy before the response completed")
                    st["buf"] += b
                    status, done = response_complete(st["buf"])
                    if done:
                        sel.unregister(s)
                        inflight -= 1
                        statuses.append(status)
                        kept.append(s)
                except OSError as e:
                    sel.unregister(s)
                    inflight -= 1
                    failures.append(repr(e))
                    s.close()
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        sel.close()
    return kept, statuses, failures


def settled_rss(pid, tolerance=64 * 1024, timeout=10.0):
    """The proxy's RSS once it stops moving: three samples 50 ms apart within `tolerance`
    (the gauges say every connection is idle; this waits out what the workers still free or
    touch after that). Fails if it never settles within `timeout`."""
    samples = [rss_bytes(pid)]

    def settled():
        samples.append(rss_bytes(pid))
        last = samples[-3:]
        return len(last) == 3 and max(last) - min(last) <= tolerance and last[-1]
    return wait_for(settled, timeout, lambda: f"the proxy's RSS keeps moving: {samples[-6:]}",
                    interval=0.05)


def gauges(p):
    m = parse_metrics(p.admin_get("/metrics"))
    return (int(m.get("causeway_downstream_connections_active", -1)),
            int(m.get("causeway_downstream_connections_idle", -1)))


def wait_gauges(p, pred, timeout, what):
    deadline = time.time() + timeout
    g = gauges(p)
    while not pred(g):
        assert time.time() < deadline, f"{what}: (active, idle) = {g}"
        time.sleep(0.05)
        g = gauges(p)
    return g


def test_10k_idle_keepalive_connections_are_cheap(echo_factory, proxy_factory, nofile):
    n = min(WANT_CONNS, nofile - WARMUP - 500)
    if n < 1000:
        pytest.skip(f"RLIMIT_NOFILE {nofile} is too low for this test")
    e = echo_factory("web")
    p = proxy_factory(idle_config(e.addr), wrap=["prlimit", f"--nofile={nofile}:{nofile}"])
    with open(f"/proc/{p.pid}/cmdline", "rb") as f:
        assert b"causeway" in f.read(), "the wrap did not exec the proxy in place"
    with open(f"/proc/{p.pid}/limits") as f:
        limits = f.read()
    assert f"{nofile}" in next(l for l in limits.splitlines() if "open files" in l), limits

    held = []
    try:
        # Warm-up: pools, buffers, the first connections of each worker.
        warm, statuses, failures = open_idle(p.port, WARMUP)
        held += warm
        assert not failures and statuses == [200] * WARMUP, (statuses, failures[:3])
        wait_gauges(p, lambda g: g[1] == WARMUP, 10, f"{WARMUP} warm-up connections not idle")
        before = settled_rss(p.pid)

        t = time.time()
        conns, statuses, failures = open_idle(p.port, n)
        held += conns
        secs = time.time() - t
        assert not failures, f"{len(failures)} of {n} connections failed: {failures[:5]}"
        bad = [s for s in statuses if s != 200]
        assert len(statuses) == n and not bad, f"{len(bad)} non-200 answers: {bad[:10]}"

        total = n + WARMUP
        active, idle = wait_gauges(p, lambda g: g[1] >= total, 15,
                                   f"the idle gauge never reached {total}")
        after = settled_rss(p.pid)
        per_conn = (after - before) / n
        msg = (f"{n} idle keep-alive connections (opened in {secs:.1f}s): proxy RSS "
               f"{before / 1024:.0f} KiB -> {after / 1024:.0f} KiB = {per_conn:.0f} bytes per "
               f"connection (limit {PER_CONN_LIMIT}); gauges active={active} idle={idle}")
        print(msg)
        assert active >= total and idle >= total, msg
        assert active <= total + 5 and idle <= total + 5, f"gauges overcount: {msg}"
        if not SANITIZED:
            assert per_conn < PER_CONN_LIMIT, msg

        # The held connections are really alive: a sample of them serves a second request.
        for s in random.Random(7).sample(conns, 50):
            s.setblocking(True)
            s.settimeout(10)
            s.sendall(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
            buf = b""
            while True:
                b = s.recv(65536)
                assert b, "a held idle connection was closed by the proxy"
                buf += b
                status, done = response_complete(buf)
                if done:
                    break
            assert status == 200
    finally:
        for s in held:
            s.close()
    # All released: the gauges drop back to zero.
    wait_gauges(p, lambda g: g[0] == 0 and g[1] == 0, 20,
                "connections closed by the clients are still counted")
    assert p.p.poll() is None
