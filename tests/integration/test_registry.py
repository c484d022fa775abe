"""The registry API of SPEC 5 on the real binary: register, list, show, filters, deregister,
heartbeats, blocking queries (many watchers at once), 400s that name the field and change
nothing, durability across kill -9, and the data_dir lock."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

from conftest import BIN, Echo, Proxy, basic_config, free_port, get, http_request, wait_for


def registry_config(echo, data_dir):
    return basic_config({"web": [echo.addr]}, top=f"registry: {{ data_dir: {data_dir} }}")


def call(p, method, path, body=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    status, headers, raw = get(p.admin_url + path, method=method, data=data)
    return status, headers, (json.loads(raw) if raw else None)


def put(p, service, iid, body):
    return call(p, "PUT", f"/api/v1/services/{service}/instances/{iid}", body)


def instances(p, service, query=""):
    status, headers, j = call(p, "GET", f"/api/v1/services/{service}{query}")
    assert status == 200, j
    return {i["id"]: i for i in j["instances"]}


def start(proxy_factory, echo_factory, data_dir=None, **kw):
    echo = echo_factory()
    data_dir = data_dir or tempfile.mkdtemp(prefix="causeway-registry-")
    return proxy_factory(registry_config(echo, data_dir), **kw), data_dir


def test_register_list_show_filter_deregister(proxy_factory, echo_factory):
    p, _ = start(proxy_factory, echo_factory)
    status, headers, j = put(p, "api", "api-1", {"address": "127.0.0.2", "port": 9001,
                                                 "tags": ["canary"], "meta": {"zone": "a"},
                                                 "weight": 5})
    assert status == 200, j
    assert int(headers["x-causeway-index"]) == j["index"] >= 1
    assert j["instance"]["health"] == "passing" and j["instance"]["serving"] is True
    put(p, "api", "api-2", {"address": "::1", "port": 9002, "check": {"ttl": "30s"}})
    put(p, "web", "web-1", {"address": "127.0.0.3", "port": 80})

    status, headers, j = call(p, "GET", "/api/v1/services")
    assert status == 200
    by_name = {s["name"]: s for s in j["services"]}
    assert by_name["api"]["instances"] == 2 and by_name["api"]["passing"] == 1
    assert by_name["api"]["tags"] == ["canary"]
    assert int(headers["x-causeway-index"]) == j["index"]

    all_api = instances(p, "api")
    assert set(all_api) == {"api-1", "api-2"}
    assert all_api["api-1"]["weight"] == 5 and all_api["api-1"]["meta"] == {"zone": "a"}
    assert all_api["api-2"]["address"] == "::1" and all_api["api-2"]["health"] == "unknown"
    assert set(instances(p, "api", "?healthy=1")) == {"api-1"}
    assert set(instances(p, "api", "?tag=canary")) == {"api-1"}
    assert instances(p, "nobody") == {}  # unknown service: an empty list, as Consul

    status, _, j = call(p, "GET", "/api/v1/services/api/instances/api-1")
    assert status == 200 and j["port"] == 9001 and j["tags"] == ["canary"]
    status, _, j = call(p, "GET", "/api/v1/services/api/instances/nope")
    assert status == 404 and j["error"] == "not_found"

    status, _, j = call(p, "DELETE", "/api/v1/services/api/instances/api-1")
    assert status == 200 and j["deregistered"] == "api-1"
    assert set(instances(p, "api")) == {"api-2"}
    status, _, j = call(p, "DELETE", "/api/v1/services/api/instances/api-1")
    assert status == 404
    status, headers, j = call(p, "PATCH", "/api/v1/services/api/instances/api-2")
    assert status == 405 and "PUT" in headers["allow"]


def test_ttl_heartbeat_then_expiry(proxy_factory, echo_factory):
    p, _ = start(proxy_factory, echo_factory)
    put(p, "jobs", "j1", {"address": "127.0.0.2", "port": 7000, "check": {"ttl": "1s"}})
    assert instances(p, "jobs")["j1"]["health"] == "unknown"
    status, _, j = call(p, "PUT", "/api/v1/services/jobs/instances/j1/heartbeat", b"")
    assert status == 200 and j["health"] == "passing"
    assert instances(p, "jobs")["j1"]["health"] == "passing"
    # No more heartbeats: critical once the ttl passes (bounded wait, not a timing claim).
    wait_for(lambda: instances(p, "jobs")["j1"]["health"] == "critical", 15, "ttl expiry")
    assert "ttl" in instances(p, "jobs")["j1"]["health_detail"]
    assert instances(p, "jobs", "?healthy=1") == {}
    put(p, "jobs", "plain", {"address": "127.0.0.2", "port": 7001})
    status, _, j = call(p, "PUT", "/api/v1/services/jobs/instances/plain/heartbeat", b"")
    assert status == 400 and j["error"] == "not_ttl_check"
    status, _, j = call(p, "PUT", "/api/v1/services/jobs/instances/ghost/heartbeat", b"")
    assert status == 404


BAD_CALLS = [
    # (path tail, body, field named)
    ("api/instances/x1", b"{", "body"),
    ("api/instances/x1", b"[]", "body"),
    ("api/instances/x1", b"", "body"),
    ("api/instances/x1", {"port": 80}, "address"),
    ("api/instances/x1", {"address": "127.0.0.2"}, "port"),
    ("api/instances/x1", {"address": "localhost", "port": 80}, "address"),
    ("api/instances/x1", {"address": "256.0.0.1", "port": 80}, "address"),
    ("api/instances/x1", {"address": "0.0.0.0", "port": 80}, "address"),
    ("api/instances/x1", {"address": "224.0.0.1", "port": 80}, "address"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 0}, "port"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 65536}, "port"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": "80"}, "port"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": -1}, "port"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80, "weight": 0}, "weight"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80, "tags": ["Bad"]}, "tags[0]"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80, "tags": ["a", "a"]}, "tags[1]"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80, "meta": {"k": 1}}, "meta.k"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80, "extra": 1}, "extra"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80, "check": {"ttl": "0s"}},
     "check.ttl"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80,
                          "check": {"http": "/h", "interval": "1s", "timeout": "5s"}},
     "check.timeout"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80, "check": {"http": "nopath"}},
     "check.http"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80,
                          "check": {"http": "/h", "ttl": "5s"}}, "check"),
    ("Api/instances/x1", {"address": "127.0.0.2", "port": 80}, "service"),
    ("api/instances/-x", {"address": "127.0.0.2", "port": 80}, "id"),
    ("api/instances/" + "x" * 64, {"address": "127.0.0.2", "port": 80}, "id"),
    ("a_b/instances/x1", {"address": "127.0.0.2", "port": 80}, "service"),
    ("api/instances/x1", b"x" * (70 * 1024), "body"),
    ("api/instances/x1", (b'{"address":"127.0.0.2","port":80,"meta":{"k":"' + b"v" * (1 << 20))
     [:(1 << 20) - 3] + b'"}}', "body"),                              # exactly 1 MiB
    ("api/instances/x1", {"address": "127.0.0.2", "port": 70000}, "port"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80, "check": {"grpc": "x"}}, "check.grpc"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80, "weight": 70000}, "weight"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80, "tags": "canary"}, "tags"),
    ("api/instances/x1", {"address": "127.0.0.2 ", "port": 80}, "address"),
    ("api/instances/x1", {"address": "", "port": 80}, "address"),
    ("api/instances/x1", {"address": "127.0.0.2", "port": 80.5}, "port"),
    ("api/instances/x1", b'{"address":"127.0.0.2","port":80,"port":81}', "port"),
    ("api.v2/instances/x1", {"address": "127.0.0.2", "port": 80}, "service"),
    ("api/instances/x.1", {"address": "127.0.0.2", "port": 80}, "id"),
]


def test_bad_calls_name_the_field_and_change_nothing(proxy_factory, echo_factory):
    p, _ = start(proxy_factory, echo_factory)
    put(p, "api", "x1", {"address": "127.0.0.2", "port": 81, "tags": ["keep"]})
    before_list = call(p, "GET", "/api/v1/services")[2]
    before = instances(p, "api")
    for tail, body, field in BAD_CALLS:
        status, headers, j = call(p, "PUT", "/api/v1/services/" + tail, body)
        assert status == 400, (tail, body, status, j)
        assert j["error"] == "invalid_instance" and j["field"] == field, (tail, body, j)
        assert j["detail"], j
    # Over the admin listener's 1 MiB cap: refused before it is read, as 413. Only the head is
    # sent: the server answers and closes without reading the body, so a client still
    # writing it could see EPIPE before it reads the answer (a flake seen in CI).
    raw = http_request(p.admin_port, b"PUT /api/v1/services/api/instances/x1 HTTP/1.1\r\n"
                       b"Host: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n{\"address\"" % ((1 << 20) + 1))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), raw[:300]
    assert json.loads(body)["error"] == "payload_too_large", raw[:300]
    for query, field in [("?index=abc", "index"), ("?index=-1", "index"),
                         ("?index=1&wait=forever", "wait"), ("?healthy=maybe", "healthy"),
                         ("?tag=UP", "tag")]:
        status, _, j = call(p, "GET", "/api/v1/services/api" + query)
        assert status == 400 and j["error"] == "bad_query" and j["field"] == field, (query, j)
    status, _, j = call(p, "GET", "/api/v1/services/api/bogus")
    assert status == 404
    assert call(p, "GET", "/api/v1/services")[2] == before_list
    assert instances(p, "api") == before


def blocking_get(p, path, out):
    status, headers, j = call(p, "GET", path)
    out.append((status, int(headers.get("x-causeway-index", "0")), j))


def test_blocking_query_returns_on_change(proxy_factory, echo_factory):
    p, _ = start(proxy_factory, echo_factory)
    put(p, "api", "a1", {"address": "127.0.0.2", "port": 9001})
    status, headers, _ = call(p, "GET", "/api/v1/services/api")
    idx = int(headers["x-causeway-index"])
    # Nothing changes: the wait runs out and the same index comes back.
    status, headers, j = call(p, "GET", f"/api/v1/services/api?index={idx}&wait=200ms")
    assert status == 200 and int(headers["x-causeway-index"]) == idx
    out = []
    t = threading.Thread(target=blocking_get,
                         args=(p, f"/api/v1/services/api?index={idx}&wait=60s", out))
    t.start()
    time.sleep(0.2)  # let the watcher park (not an assertion: it returns either way)
    put(p, "web", "w1", {"address": "127.0.0.2", "port": 80})  # another service
    put(p, "api", "a2", {"address": "127.0.0.2", "port": 9002})
    t.join(30)
    assert not t.is_alive(), "the blocking query did not return after the change"
    status, new_idx, j = out[0]
    assert status == 200 and new_idx > idx
    assert {i["id"] for i in j["instances"]} == {"a1", "a2"}


def test_many_watchers_each_get_the_change(proxy_factory, echo_factory):
    p, _ = start(proxy_factory, echo_factory)
    put(p, "api", "a1", {"address": "127.0.0.2", "port": 9001})
    idx = int(call(p, "GET", "/api/v1/services/api")[1]["x-causeway-index"])
    socks = []
    try:
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", p.admin_port), timeout=30)
            s.sendall(f"GET /api/v1/services/api?index={idx}&wait=60s HTTP/1.1\r\n"
                      f"Host: x\r\nConnection: close\r\n\r\n".encode())
            socks.append(s)
        time.sleep(0.3)
        put(p, "api", "a2", {"address": "127.0.0.2", "port": 9002})
        answered = 0
        for s in socks:
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"HTTP/1.1 200"), data[:200]
            assert b'"a2"' in data
            answered += 1
        assert answered == 300
    finally:
        for s in socks:
            s.close()


def test_acknowledged_registrations_survive_kill_9(proxy_factory, echo_factory):
    p, data_dir = start(proxy_factory, echo_factory)
    n = 300
    for i in range(n):
        check = {"ttl": "30s"} if i % 3 == 0 else None
        body = {"address": "127.0.0.2", "port": 10000 + i, "tags": [f"t{i % 5}"]}
        if check:
            body["check"] = check
        status, _, j = put(p, "bulk", f"i{i}", body)
        assert status == 200, j
    svc = echo_factory(name="bulk")
    put(p, "bulk", "checked", {"address": "127.0.0.1", "port": svc.port,
                               "check": {"http": "/healthz", "interval": "300ms"}})
    wait_for(lambda: instances(p, "bulk")["checked"]["health"] == "passing", 15, "first check")
    call(p, "PUT", "/api/v1/services/bulk/instances/i0/heartbeat", b"")
    assert instances(p, "bulk")["i0"]["health"] == "passing"
    call(p, "DELETE", "/api/v1/services/bulk/instances/i1")
    last = int(call(p, "GET", "/api/v1/services")[1]["x-causeway-index"])
    os.kill(p.pid, signal.SIGKILL)
    p.p.wait(10)
    p.expected_exit = None
    p2 = Proxy(open(p.config).read(), port=p.port, admin=p.admin_port)
    try:
        got = instances(p2, "bulk")
        assert len(got) == n and "i1" not in got and "checked" in got
        assert got["i7"]["port"] == 10007 and got["i7"]["tags"] == ["t2"]
        assert got["i2"]["health"] == "passing"      # no check: serves at once
        assert got["i0"]["health"] == "unknown"      # checked: waits for its heartbeat
        assert "restarted" in got["i0"]["health_detail"]
        # Its check runs again after the restart and brings it back.
        wait_for(lambda: instances(p2, "bulk")["checked"]["health"] == "passing", 15,
                 "check after restart")
        now = int(call(p2, "GET", "/api/v1/services")[1]["x-causeway-index"])
        assert now >= last
        status, _, j = put(p2, "bulk", "after", {"address": "127.0.0.2", "port": 1})
        assert j["index"] > now
    finally:
        p2.stop()


def test_second_process_on_the_same_data_dir_is_refused(proxy_factory, echo_factory):
    p, data_dir = start(proxy_factory, echo_factory)
    echo = Echo()
    try:
        yaml = registry_config(echo, data_dir).replace("{port}", str(free_port())).replace(
            "{admin}", str(free_port()))
        cfg = os.path.join(tempfile.mkdtemp(prefix="causeway-test-"), "c.yaml")
        with open(cfg, "w") as f:
            f.write(yaml)
        r = subprocess.run([BIN, "run", "-c", cfg], capture_output=True, text=True, timeout=20)
        assert r.returncode != 0
        assert "in use by another causeway" in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        echo.stop(signal.SIGKILL)


def test_registry_paths_without_a_registry(proxy_factory, echo_factory):
    echo = echo_factory()
    p = proxy_factory(basic_config({"web": [echo.addr]}))
    status, _, j = call(p, "GET", "/api/v1/services")
    assert status == 404 and j["error"] == "registry_disabled"


def test_http_and_tcp_checks_run_through_the_health_monitor(proxy_factory, echo_factory):
    p, _ = start(proxy_factory, echo_factory)
    up = echo_factory(name="api")
    dead_port = free_port()
    put(p, "api", "up-http", {"address": "127.0.0.1", "port": up.port,
                              "check": {"http": "/healthz", "interval": "200ms",
                                        "timeout": "200ms"}})
    put(p, "api", "up-tcp", {"address": "127.0.0.1", "port": up.port,
                             "check": {"tcp": True, "interval": "200ms", "timeout": "200ms"}})
    put(p, "api", "down", {"address": "127.0.0.1", "port": dead_port,
                           "check": {"tcp": True, "interval": "200ms", "timeout": "200ms"}})
    wait_for(lambda: instances(p, "api")["up-http"]["health"] == "passing", 15, "http check")
    wait_for(lambda: instances(p, "api")["up-tcp"]["health"] == "passing", 15, "tcp check")
    wait_for(lambda: instances(p, "api")["down"]["health"] == "critical", 15, "tcp failure")
    assert instances(p, "api")["down"]["health_detail"], instances(p, "api")["down"]
    assert set(instances(p, "api", "?healthy=1")) == {"up-http", "up-tcp"}
    # The backend goes away: its checks turn critical; it comes back: passing again.
    up.stop(signal.SIGKILL)
    wait_for(lambda: instances(p, "api")["up-http"]["health"] == "critical", 15, "http down")
    again = echo_factory(name="api", port=up.port)
    wait_for(lambda: instances(p, "api")["up-http"]["health"] == "passing", 15, "http back")
    # Deregistered: its probe stops (the service keeps the other two).
    call(p, "DELETE", "/api/v1/services/api/instances/down")
    assert set(instances(p, "api")) == {"up-http", "up-tcp"}
    again.stop(signal.SIGKILL)


def test_a_burst_of_1000_acknowledged_registrations_survives_kill_9(proxy_factory, echo_factory):
    p, _ = start(proxy_factory, echo_factory)
    acked = []
    lock = threading.Lock()

    def worker(first):
        for i in range(first, 1000, 16):
            status, _, j = put(p, "burst", f"b{i}", {"address": "127.0.0.2", "port": 1 + i})
            if status == 200:
                with lock:
                    acked.append(i)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert len(acked) == 1000
    os.kill(p.pid, signal.SIGKILL)  # right after the last acknowledgement
    p.p.wait(10)
    p.expected_exit = None
    p2 = Proxy(open(p.config).read(), port=p.port, admin=p.admin_port)
    try:
        got = instances(p2, "burst")
        assert len(got) == 1000
        assert got["b999"]["port"] == 1000
    finally:
        p2.stop()
