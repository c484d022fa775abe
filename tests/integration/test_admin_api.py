"""The admin API (SPEC 6) against a running proxy: health and readiness (also while draining),
Prometheus metrics, clusters, listeners, config, reload (good and bad files), and the admin
listener's own errors (405, 404, 400 as JSON)."""
import json
import re
import signal
import socket
import time

import pytest

from conftest import basic_config, get, recv_until_closed, wait_for


def admin(p, path, method="GET", data=None):
    return get(p.admin_url + path, method=method, data=data)


def admin_json(p, path, method="GET", data=None):
    status, headers, body = admin(p, path, method, data)
    assert headers.get("content-type", "").startswith("application/json"), (path, headers, body)
    return status, json.loads(body)


def poll(cond, timeout=5.0):
    deadline = time.time() + timeout
    while True:
        if cond():
            return True
        if time.time() >= deadline:
            return False
        time.sleep(0.01)


def raw_admin(p, raw):
    with socket.create_connection(("127.0.0.1", p.admin_port), timeout=10) as s:
        s.sendall(raw)
        data, closed = recv_until_closed(s, timeout=6)
    return data, closed


def split(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, body


@pytest.fixture
def stack(echo_factory, proxy_factory):
    api = [echo_factory("api", f"api-{i}") for i in range(2)]
    web = echo_factory("web", "web-1")
    p = proxy_factory(basic_config({"api": [e.addr for e in api], "web": [web.addr]},
                                   [("/api/", "api"), ("/", "web")]))
    return p, api, web


def test_healthz_and_ready(stack):
    p, _, _ = stack
    status, doc = admin_json(p, "/healthz")
    assert status == 200 and doc == {"status": "ok"}
    status, doc = admin_json(p, "/ready")
    assert status == 200 and doc["ready"] is True
    status, headers, body = get(p.admin_url + "/healthz", method="HEAD")
    assert status == 200 and body == b""


def test_ready_turns_503_while_draining(echo_factory, proxy_factory):
    hang = echo_factory("slow", extra=["--hang-rate", "1"])
    p = proxy_factory(basic_config({"slow": [hang.addr]}, top="drain_timeout: 2s"))
    # Hold one request in flight so that the drain has something to wait for.
    s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    try:
        s.sendall(b"GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: re.search(r"causeway_upstream_host_active_requests\{[^}]*\} 1",
                                   p.admin_get("/metrics")), 15,
                 "the held request never reached the upstream")
        p.p.send_signal(signal.SIGTERM)
        seen = None
        deadline = time.time() + 3
        while time.time() < deadline and p.p.poll() is None:
            try:
                status, _, body = get(p.admin_url + "/ready", timeout=1)
            except OSError:
                break
            if status == 503:
                seen = json.loads(body)
                break
            time.sleep(0.02)
        assert seen is not None and seen["ready"] is False, \
            "/ready must answer 503 once SIGTERM has started the drain"
    finally:
        s.close()


def test_metrics_after_traffic(stack):
    p, api, web = stack
    for i in range(6):
        assert get(p.url + f"/api/m{i}")[0] == 200
    assert get(p.url + "/home")[0] == 200
    assert get(p.url + "/api/x?status=503")[0] == 503
    want = {("api", "200"): 6, ("api", "503"): 1, ("web", "200"): 1}

    def scrape():
        status, headers, body = admin(p, "/metrics")
        assert status == 200
        assert headers["content-type"].startswith("text/plain"), headers
        text = body.decode()
        totals = {}
        for m in re.finditer(r'^causeway_requests_total\{([^}]*)\} (\S+)$', text, re.M):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            assert {"listener", "route", "cluster", "code"} <= set(labels), labels
            key = (labels["cluster"], labels["code"])
            totals[key] = totals.get(key, 0) + float(m.group(2))
        return text, totals

    # A request is counted when it ends, just after its last byte went out: poll briefly.
    assert poll(lambda: scrape()[1] == want), scrape()[1]
    text, totals = scrape()
    assert totals.get(("api", "200")) == 6, totals
    assert totals.get(("api", "503")) == 1, totals
    assert totals.get(("web", "200")) == 1, totals
    ratio = re.search(r'^causeway_upstream_connection_reuse_ratio\{cluster="api"\} (\S+)$', text,
                      re.M)
    assert ratio, text[:2000]
    assert 0.0 <= float(ratio.group(1)) <= 1.0
    # Every sample line is "name{labels} value" or "name value" with a number.
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfa]+', line), line


def test_clusters(stack):
    p, api, web = stack
    for i in range(4):
        assert get(p.url + f"/api/c{i}")[0] == 200
    status, doc = admin_json(p, "/api/v1/clusters")
    assert status == 200
    by_name = {c["name"]: c for c in doc}
    assert set(by_name) == {"api", "web"}
    hosts = by_name["api"]["hosts"]
    assert sorted(h["address"] for h in hosts) == sorted(e.addr for e in api)
    for h in hosts:
        assert h["weight"] == 1 and h["healthy"] is True
        assert isinstance(h["active_requests"], int) and h["active_requests"] >= 0
    assert sum(h["requests"] for h in hosts) == 4
    # The gauge drops right after the proxy wrote the response, which the client may read first.
    assert poll(lambda: all(h["active_requests"] == 0
                            for h in admin_json(p, "/api/v1/clusters")[1][0]["hosts"])), \
        "active_requests must return to 0 once no request is in flight"
    assert [h["address"] for h in by_name["web"]["hosts"]] == [web.addr]


def test_listeners(stack):
    p, _, _ = stack
    status, doc = admin_json(p, "/api/v1/listeners")
    assert status == 200 and len(doc) == 1
    l = doc[0]
    assert l["name"] == "edge" and l["address"] == f"127.0.0.1:{p.port}"
    assert [r.get("cluster") for r in l["routes"]] == ["api", "web"]
    assert l["routes"][0]["match"] == {"path_prefix": "/api/"}


def test_config_reflects_the_file(stack):
    p, api, web = stack
    status, doc = admin_json(p, "/api/v1/config")
    assert status == 200
    assert doc["source"] == p.config
    assert doc["workers"] == 2
    assert doc["admin"]["listen"] == f"127.0.0.1:{p.admin_port}"
    assert doc["listeners"][0]["listen"] == f"127.0.0.1:{p.port}"
    eps = {c["name"]: [e["address"] for e in c["endpoints"]] for c in doc["clusters"]}
    assert eps == {"api": [e.addr for e in api], "web": [web.addr]}


def test_reload_good_then_bad(stack):
    p, api, web = stack
    gen0 = admin_json(p, "/api/v1/config")[1]["generation"]
    new_cfg = basic_config({"api": [e.addr for e in api], "web": [web.addr]},
                           [("/api/", "api"), ("/", "web")]).replace(
        "    routes:\n",
        "    routes:\n      - match: { path: /fresh }\n"
        "        direct_response: { status: 200, body: \"fresh\" }\n", 1)
    p.write(new_cfg)
    status, doc = p.reload_api()
    assert status == 200, doc
    assert doc["generation"] > gen0
    # (test_reload_is_live_when_it_answers holds the proxy to "live at once"; here: eventually.)
    assert poll(lambda: get(p.url + "/fresh")[2] == b"fresh"), "the reloaded route never showed"
    assert json.loads(get(p.url + "/api/x")[2])["service"] == "api"
    gen1 = admin_json(p, "/api/v1/config")[1]["generation"]
    assert gen1 == doc["generation"]

    broken = new_cfg.replace("path_prefix: /api/", "path_prefx: /api/")
    p.write(broken)
    status, doc = p.reload_api()
    assert status == 400, doc
    assert doc["error"] == "config_invalid"
    assert doc["errors"], doc
    assert any(re.match(re.escape(p.config) + r":\d+:\d+: .*path_prefx", e) for e in doc["errors"]), \
        f"each error should read file:line:col: ... {doc['errors']}"
    # The old config keeps serving.
    assert get(p.url + "/fresh")[2] == b"fresh"
    assert json.loads(get(p.url + "/api/x")[2])["service"] == "api"
    assert admin_json(p, "/api/v1/config")[1]["generation"] == gen1


def test_reload_is_live_when_it_answers(echo_factory, proxy_factory):
    """Once POST /api/v1/reload has answered 200, the very next request (on a new connection)
    must be served by the new config: a script that reloads and then checks must not race.
    The first reload after start-up shows a race most often, so a few fresh proxies each get
    one, then the last one gets a series."""
    web = echo_factory("web", "web-1")
    base = basic_config({"web": [web.addr]})

    def with_version(body):
        return base.replace("    routes:\n",
                            "    routes:\n      - match: { path: /version }\n"
                            f"        direct_response: {{ status: 200, body: \"{body}\" }}\n", 1)

    stale = []
    tries = 0
    for k in range(6):
        p = proxy_factory(base)
        for i in range(1 if k < 5 else 10):
            body = f"p{k}v{i}"
            p.write(with_version(body))
            status, doc = p.reload_api()
            assert status == 200, doc
            got = get(p.url + "/version")[2]
            tries += 1
            if got != body.encode():
                stale.append((body, got[:80]))
        p.stop()
    assert not stale, (f"{len(stale)}/{tries} requests sent right after a reload answered 200 were "
                       f"served by the old config (the reload answers before every worker has "
                       f"installed the new snapshot): {stale[:3]}")


def test_reload_with_get_is_405(stack):
    p, _, _ = stack
    status, headers, body = admin(p, "/api/v1/reload")
    assert status == 405
    assert "POST" in headers.get("allow", ""), headers
    doc = json.loads(body)
    assert doc["error"] == "method_not_allowed"
    status, headers, body = admin(p, "/metrics", method="POST", data=b"")
    assert status == 405 and "GET" in headers.get("allow", "")


def test_unknown_path_is_404_json(stack):
    p, _, _ = stack
    status, headers, body = admin(p, "/api/v1/nope")
    assert status == 404
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"] == "not_found"


@pytest.mark.parametrize("raw", [
    b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET healthz HTTP/1.1\r\nHost: a\r\n\r\n",
    b"G@T /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"GET /healthz HTTP/1.1\nHost: a\n\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
], ids=["two_hosts", "relative_target", "bad_method", "two_lengths", "bare_lf", "bad_name"])
def test_malformed_admin_request_is_400_json(stack, raw):
    p, _, _ = stack
    data, closed = raw_admin(p, raw)
    assert data, f"the admin listener should answer {raw!r} with 400 JSON, not close silently"
    status, headers, body = split(data)
    assert status == 400, data
    assert headers["content-type"].startswith("application/json"), headers
    assert json.loads(body)["error"] == "bad_request"
    assert closed, "the admin listener should close after a malformed request"
    # ... and is still up.
    assert admin_json(p, "/healthz")[0] == 200


def test_dashboard_page(stack):
    p, _, _ = stack
    status, headers, body = admin(p, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"<html" in body.lower()
