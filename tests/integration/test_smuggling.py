"""Request smuggling end to end: every malformed request in data/smuggling.json goes to the running
proxy on a fresh connection, with a recording Python backend behind it.

- stage "head": the proxy answers the corpus status (400/431/501/505) with x-causeway-error,
  closes the connection, and the backend never sees a byte (the proxy's own upstream request
  counter does not move either).
- stage "body" (valid head, malformed chunked body): the client gets the error or a closed
  connection, never a clean response followed by a second one, and the backend never sees a
  second request line -- in particular not one that came from inside the body.

Each case runs twice: as in the corpus, and with a second, innocent-looking request appended in
the same write ("smuggled"), which must never reach the backend."""
import base64
import json
import os
import re
import socket

import pytest

from conftest import Proxy, RawServer, http_handler, recv_until_closed, stop_and_check

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "data", "smuggling.json")) as f:
    CORPUS = json.load(f)

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n"
CLUSTER = "up"


def metric(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(4))
    return total


@pytest.fixture(scope="module")
def stack():
    backend = RawServer(http_handler)
    cfg = f"""
workers: 2
drain_timeout: 1s
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - name: edge
    listen: 127.0.0.1:{{port}}
    header_read_timeout: 3s
    routes:
      - match: {{ path_prefix: / }}
        cluster: {CLUSTER}
clusters:
  - name: {CLUSTER}
    endpoints: [{backend.addr}]
"""
    proxy = Proxy(cfg)
    try:
        yield proxy, backend
    finally:
        try:
            stop_and_check(proxy)
        finally:
            backend.stop()


def counters(proxy):
    text = proxy.admin_get("/metrics")
    return (metric(text, "causeway_upstream_requests_total", cluster=CLUSTER),
            metric(text, "causeway_upstream_connections_opened_total", cluster=CLUSTER))


def responses_in(data):
    return re.findall(rb"(?:^|\r\n)HTTP/1\.[01] (\d{3}) ", data)


def exchange(proxy, raw):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy may refuse before it has read everything (431)
        return recv_until_closed(s, timeout=6)


def settle(backend, accepted_before, opened):
    """Waits (bounded) until the backend has accepted every connection the proxy opened for this
    case and all of them are closed again."""
    import time
    deadline = time.time() + 6
    while time.time() < deadline:
        if len(backend.all_received()) >= accepted_before + opened and backend.wait_idle(0):
            return True
        time.sleep(0.005)
    return False


CASES = [pytest.param(c, suffix, id=f"{c['name']}{'+smuggled' if suffix else ''}")
         for c in CORPUS for suffix in (b"", SMUGGLED)]


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 30
    assert {c["stage"] for c in CORPUS} == {"head", "body"}


@pytest.mark.parametrize("case,suffix", CASES)
def test_smuggling_case(stack, case, suffix):
    proxy, backend = stack
    raw = base64.b64decode(case["request_b64"]) + suffix
    want = case["expect"]
    req_before, opened_before = counters(proxy)
    accepted_before = len(backend.all_received())
    lines_before = len(backend.request_lines)

    data, closed = exchange(proxy, raw)

    statuses = responses_in(data)
    assert closed, f"the proxy must close the connection after refusing; got {data[:300]!r}"
    assert len(statuses) <= 1, f"more than one response came back: {data!r}"
    req_after, opened_after = counters(proxy)

    if case["stage"] == "head":
        assert statuses, f"expected {want} before the close, got nothing ({data!r})"
        status = int(statuses[0])
        assert status == want, f"expected {want}, got {status}: {data[:400]!r}"
        head = data.partition(b"\r\n\r\n")[0].lower()
        assert b"\r\nx-causeway-error: " in head, f"no x-causeway-error header: {data[:400]!r}"
        assert req_after == req_before and opened_after == opened_before, (
            f"a refused request head reached the upstream: upstream requests "
            f"{req_before}->{req_after}, connections {opened_before}->{opened_after}")
        assert len(backend.all_received()) == accepted_before, "the backend got a connection"
    else:
        if statuses:
            status = int(statuses[0])
            assert status >= 400, f"a malformed chunked body must not get {status}: {data!r}"
            assert status == want, f"expected {want}, got {status}: {data[:400]!r}"
        assert req_after - req_before <= 1, (req_before, req_after)
        opened = int(opened_after - opened_before)
        assert settle(backend, accepted_before, opened), (
            "the upstream connection that carried a malformed body was not closed by the proxy")
        new_lines = backend.request_lines[lines_before:]
        assert all(l == b"POST /upload HTTP/1.1" for l in new_lines), (
            f"the backend saw a request line that did not come from the client's head: "
            f"{new_lines}")
        assert len(new_lines) <= 1, f"more than one request reached the backend: {new_lines}"
    for got in backend.all_received():
        assert b"/smuggled" not in got, f"the smuggled request reached the backend: {got!r}"


def test_proxy_still_serves_after_the_corpus(stack):
    proxy, backend = stack
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(b"GET /still-alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, closed = recv_until_closed(s, timeout=6)
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"ok"), data
    assert b"GET /still-alive HTTP/1.1" in backend.request_lines
    assert proxy.p.poll() is None
