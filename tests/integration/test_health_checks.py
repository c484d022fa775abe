"""Active health checks against real `causeway echo` upstreams: failover under load with a
killed and restarted upstream (zero client-visible errors; marked unhealthy within
unhealthy_threshold x interval + timeout and back after healthy_threshold checks, shown in
/api/v1/clusters and /metrics), a host down at start-up, TCP checks and timeouts, and a reload
that keeps the verdicts of kept hosts."""
import http.client
import json
import socket
import threading
import time

from conftest import get, parse_metrics, wait_for

INTERVAL = 0.25
TIMEOUT = 0.2
UNHEALTHY, HEALTHY = 2, 2
JITTER = 0.10
CHECK = (f"{{ http: /healthz, interval: {int(INTERVAL * 1000)}ms, timeout: {int(TIMEOUT * 1000)}ms,"
         f" unhealthy_threshold: {UNHEALTHY}, healthy_threshold: {HEALTHY} }}")


def config(clusters, routes=None, retry=None):
    """clusters: {name: (addrs, health_check text or None[, more cluster keys])};
    routes: [(prefix, cluster)]; retry: a retry policy for every route."""
    routes = routes or [("/", next(iter(clusters)))]
    out = ["workers: 2", "admin: { listen: 127.0.0.1:{admin} }", "listeners:",
           "  - name: edge", "    listen: 127.0.0.1:{port}", "    routes:"]
    for prefix, cluster in routes:
        out += [f"      - match: {{ path_prefix: {prefix} }}", f"        cluster: {cluster}"]
        if retry:
            out.append(f"        retry: {retry}")
    out.append("clusters:")
    for name, (addrs, check, *more) in clusters.items():
        out += [f"  - name: {name}", "    endpoints:"] + [f"      - {a}" for a in addrs]
        if check:
            out.append(f"    health_check: {check}")
        out += [f"    {line}" for line in more]
    return "\n".join(out) + "\n"


def hosts(p, cluster="web"):
    for c in p.admin_json("/api/v1/clusters"):
        if c["name"] == cluster:
            return {h["address"]: h for h in c["hosts"]}
    raise AssertionError(f"no cluster {cluster}")


def state(p, addr, cluster="web"):
    h = hosts(p, cluster).get(addr)
    return h and h.get("check", {}).get("state")


def closed_port():
    """A loopback port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def served_without_connect_failures(p, n=40):
    """n requests on fresh connections (both workers see some), all 200; the instances that
    answered. Fails if the cluster counted a connect failure meanwhile."""
    before = p.admin_json("/api/v1/clusters")[0]["connect_failures"]
    seen = set()
    for i in range(n):
        status, _, body = get(p.url + f"/s/{i}", {"Connection": "close"})
        assert status == 200, (status, body)
        seen.add(json.loads(body)["instance"])
    assert p.admin_json("/api/v1/clusters")[0]["connect_failures"] == before
    return seen


def load_thread(port, stop, max_requests, log):
    """Keep-alive GETs until `stop` is set or max_requests are done; logs (start, status,
    x-causeway-error or exception, instance or detail)."""
    conn = None
    for i in range(max_requests):
        if stop.is_set():
            break
        start = time.time()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", f"/load/{i}")
            r = conn.getresponse()
            body = r.read()
            inst = json.loads(body).get("instance") if r.status == 200 else body[:200]
            log.append((start, r.status, r.getheader("x-causeway-error"), inst))
            if r.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException, ValueError) as e:
            log.append((start, "exception", type(e).__name__, repr(e)))
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(0.002)  # a few hundred requests a second in all: steady, bounded load
    if conn is not None:
        conn.close()


def test_failover_under_load(echo_factory, proxy_factory):
    backends = [echo_factory("web", f"b{i}") for i in range(3)]
    # Retries on connect failure and reset: a request the killed upstream had already received
    # (idempotent GETs) goes to another host instead of failing.
    p = proxy_factory(config({"web": ([b.addr for b in backends], CHECK)},
                             retry="{ attempts: 3, retry_on: [connect-failure, reset] }"))
    victim = backends[1]
    wait_for(lambda: all(state(p, b.addr) == "healthy" for b in backends), 10,
             "every upstream healthy after its first check")

    stop = threading.Event()
    logs = [[] for _ in range(4)]
    threads = [threading.Thread(target=load_thread, args=(p.port, stop, 20000, logs[i]))
               for i in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: all(len(l) >= 30 for l in logs), 30, "load under way")
        killed = time.time()
        victim.p.kill()  # SIGKILL: requests in flight to it are cut
        victim.p.wait(timeout=5)
        dead = time.time()
        bound = UNHEALTHY * INTERVAL * (1 + JITTER) + TIMEOUT
        wait_for(lambda: state(p, victim.addr) == "unhealthy", bound + 2.0,
                 f"the killed upstream marked unhealthy (bound {bound:.2f}s + margin)")
        marked = time.time() - killed
        h = hosts(p)[victim.addr]
        assert h["healthy"] is False
        assert h["check"]["consecutive_failures"] >= UNHEALTHY
        assert h["check"]["last"]["result"] == "failure"
        assert h["check"]["last"]["error"].startswith("connect: "), h["check"]
        time.sleep(0.5)  # load keeps flowing to the two survivors
        restarted = time.time()
        victim = echo_factory("web", "b1", port=victim.port)
        wait_for(lambda: state(p, victim.addr) == "healthy", HEALTHY * INTERVAL * 1.1 + 3.0,
                 "the restarted upstream healthy again")
        back = time.time() - restarted
        h = hosts(p)[victim.addr]
        assert h["healthy"] is True and h["check"]["consecutive_successes"] >= HEALTHY
        wait_for(lambda: sum(1 for l in logs for x in l[-50:] if x[3] == "b1") > 0, 10,
                 "the restarted upstream serves again")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a load thread hung"
    log = sorted(x for l in logs for x in l)
    errors = [x for x in log if x[1] != 200]
    after = [x for x in log if x[0] >= dead]
    print(f"failover: {len(log)} requests, {len(after)} started after the kill; marked "
          f"unhealthy {marked:.2f}s after the kill (bound {bound:.2f}s); healthy {back:.2f}s "
          f"after the restart; {len(errors)} client-visible errors: "
          f"{[(round(x[0] - killed, 3), x[1], x[2]) for x in errors[:5]]}")
    assert len(after) >= 100, "too little load to judge"
    # Zero client-visible errors: requests cut by the kill and connect failures are retried on
    # another host, then the checks take the dead one out of every worker's picks.
    assert not errors, errors[:10]

    m = parse_metrics(p.admin_get("/metrics"))
    labels = lambda **kw: frozenset({("cluster", "web"), ("host", victim.addr), *kw.items()})
    assert m[("causeway_health_checks_total", labels(result="failure"))] >= UNHEALTHY
    assert m[("causeway_health_checks_total", labels(result="success"))] >= HEALTHY + 1
    assert m[("causeway_host_healthy", labels())] == 1
    assert m[("causeway_host_healthy", frozenset({("cluster", "web"),
                                                   ("host", backends[0].addr)}))] == 1


def test_host_down_at_start_up_is_marked_down_and_the_proxy_serves(echo_factory,
                                                                    proxy_factory):
    up = [echo_factory("web", f"b{i}") for i in range(2)]
    down = f"127.0.0.1:{closed_port()}"
    p = proxy_factory(config({"web": ([up[0].addr, down, up[1].addr], CHECK)}))
    wait_for(lambda: state(p, down) == "unhealthy", 5, "the down host marked at its first check")
    h = hosts(p)[down]
    assert h["healthy"] is False and h["check"]["consecutive_failures"] >= 1
    # Picks skip it: every request answered by the others, none even tried to connect to it.
    assert served_without_connect_failures(p) == {"b0", "b1"}
    assert "unhealthy" in p.output()


def test_tcp_check_and_http_timeout(echo_factory, proxy_factory):
    """A listener that accepts and never answers: a TCP check passes it, an HTTP check fails it
    by timeout; a closed port fails both."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    quiet = f"127.0.0.1:{silent.getsockname()[1]}"
    gone = f"127.0.0.1:{closed_port()}"
    try:
        e = echo_factory("web", "b0")
        tcp = "{ tcp: true, interval: 200ms, timeout: 200ms, unhealthy_threshold: 1, healthy_threshold: 1 }"
        httpc = ("{ http: /healthz, interval: 200ms, timeout: 150ms, unhealthy_threshold: 1,"
                 " healthy_threshold: 1 }")
        p = proxy_factory(config({"web": ([e.addr, quiet, gone], tcp),
                                  "api": ([e.addr, quiet], httpc)},
                                 routes=[("/api/", "api"), ("/", "web")]))
        wait_for(lambda: state(p, quiet) == "healthy" and state(p, gone) == "unhealthy", 5,
                 "tcp: the silent listener passes, the closed port fails")
        assert state(p, e.addr) == "healthy"
        wait_for(lambda: state(p, quiet, "api") == "unhealthy", 5,
                 "http: the silent listener fails by timeout")
        last = hosts(p, "api")[quiet]["check"]["last"]
        assert last["error"] == "read: timeout", last
        assert state(p, e.addr, "api") == "healthy"
        assert hosts(p, "api")[e.addr]["check"]["last"]["status"] == 200
        cfg = p.admin_json("/api/v1/config")["clusters"]
        assert cfg[0]["health_check"]["tcp"] is True
        assert cfg[1]["health_check"]["expected_statuses"] == ["200-399"]
    finally:
        silent.close()


def test_expected_statuses(echo_factory, proxy_factory):
    e = echo_factory("web", "b0")
    strict = ("{ http: \"/x?status=503\", expected_statuses: [200], interval: 200ms,"
              " timeout: 200ms, unhealthy_threshold: 1, healthy_threshold: 1 }")
    lenient = ("{ http: \"/x?status=503\", expected_statuses: [\"200-299\", 503], interval: 200ms,"
               " timeout: 200ms, host: checks.internal }")
    # panic_threshold 0: no panic mode, so a cluster whose hosts are all out fails fast.
    p = proxy_factory(config({"web": ([e.addr], strict, "panic_threshold: 0"),
                              "api": ([e.addr], lenient)},
                             routes=[("/api/", "api"), ("/", "web")]))
    wait_for(lambda: state(p, e.addr) == "unhealthy" and state(p, e.addr, "api") == "healthy",
             5, "503 fails the strict check and passes the lenient one")
    assert hosts(p)[e.addr]["check"]["last"]["status"] == 503
    assert hosts(p)[e.addr]["check"]["last"]["error"] == "status 503"
    # With its only host out (and no panic mode), the cluster answers 503 no_healthy_upstream.
    status, headers, _ = get(p.url + "/x")
    assert status == 503 and headers.get("x-causeway-error") == "no_healthy_upstream"


def test_reload_keeps_verdicts_of_kept_hosts(echo_factory, proxy_factory):
    up = [echo_factory("web", f"b{i}") for i in range(3)]
    down = f"127.0.0.1:{closed_port()}"
    slow = ("{ http: /healthz, interval: 300ms, timeout: 200ms, unhealthy_threshold: 2,"
            " healthy_threshold: 2 }")
    p = proxy_factory(config({"web": ([up[0].addr, down, up[1].addr], slow)}))
    wait_for(lambda: state(p, down) == "unhealthy" and state(p, up[0].addr) == "healthy"
             and state(p, up[1].addr) == "healthy", 5, "first verdicts")
    wait_for(lambda: hosts(p)[down]["check"]["checks_failed"] >= 3, 5, "a few failed checks")
    failed_before = hosts(p)[down]["check"]["checks_failed"]

    # Reload: up[1] leaves, up[2] joins, the down host and up[0] stay.
    p.write(config({"web": ([up[0].addr, down, up[2].addr], slow)}))
    status, body = p.reload_api()
    assert status == 200, body
    after = hosts(p)
    assert set(after) == {up[0].addr, down, up[2].addr}
    assert after[down]["check"]["state"] == "unhealthy"  # kept, not unchecked again
    assert after[down]["healthy"] is False
    assert after[down]["check"]["checks_failed"] >= failed_before
    assert after[up[0].addr]["check"]["state"] == "healthy"
    assert after[up[2].addr]["check"]["state"] in ("unchecked", "healthy")
    wait_for(lambda: state(p, up[2].addr) == "healthy", 5, "the new host checked")

    # The new generation on every worker still leaves the down host out.
    assert served_without_connect_failures(p) == {"b0", "b2"}

    # Checks turned off: the host they had taken out is back in the picks.
    p.write(config({"web": ([up[0].addr, down, up[2].addr], None)}))
    status, body = p.reload_api()
    assert status == 200, body
    h = hosts(p)[down]
    assert h["healthy"] is True and "check" not in h
