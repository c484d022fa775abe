"""A backend dies mid-load: clients get 200 or the proxy's own 502/503 JSON (never a hang), the
proxy keeps serving from the survivors and stays up; a backend restarted on the same port gets
traffic again once its connect back-off ends."""
import http.client
import json
import threading
import time

from conftest import basic_config, get, parse_metrics, wait_for

CLIENT_TIMEOUT = 5.0
THREADS = 8
BEFORE_KILL = 25    # requests per load thread before the kill (every pool warm)
AFTER_KILL = 4.0    # seconds of load after it
WORKERS = 2  # basic_config's


def load_thread(port, t0, until, log):
    """Keep-alive requests until time until["t"] (set by the test once it knows); every outcome
    is logged as (start, status or 'exception', x-causeway-error or exception name, body/detail,
    end), times in seconds since t0."""
    conn = None
    i = 0
    while time.time() < until["t"]:
        t = time.time() - t0
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
            conn.request("GET", f"/load/{i}")
            r = conn.getresponse()
            body = r.read()
            log.append((t, r.status, r.getheader("x-causeway-error"), body, time.time() - t0))
            if r.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            log.append((t, "exception", type(e).__name__, repr(e), time.time() - t0))
            if conn is not None:
                conn.close()
            conn = None
        i += 1
    if conn is not None:
        conn.close()


def test_killing_a_backend_mid_load(echo_factory, proxy_factory):
    backends = [echo_factory("web", f"b{i}") for i in range(3)]
    p = proxy_factory(basic_config({"web": [b.addr for b in backends]}))
    victim = backends[1]

    logs = [[] for _ in range(THREADS)]
    t0 = time.time()
    until = {"t": t0 + 120}  # a cap; set to AFTER_KILL past the kill below
    threads = [threading.Thread(target=load_thread, args=(p.port, t0, until, logs[i]))
               for i in range(THREADS)]
    for t in threads:
        t.start()
    try:
        # Load is flowing through every thread before the kill.
        wait_for(lambda: all(len(l) >= BEFORE_KILL for l in logs), 30,
                 lambda: f"load did not get going: {[len(l) for l in logs]} requests per thread")
    except BaseException:
        until["t"] = 0  # stop the load threads
        raise
    kill_start = time.time() - t0
    victim.p.kill()  # SIGKILL, our own echo process
    victim.p.wait(timeout=5)
    killed_at = time.time() - t0
    until["t"] = t0 + killed_at + AFTER_KILL
    for t in threads:
        t.join(timeout=AFTER_KILL + CLIENT_TIMEOUT + 10)
    assert not any(t.is_alive() for t in threads), "a load thread hung"
    end = time.time() - t0
    log = sorted(x for l in logs for x in l)

    exceptions = [x for x in log if x[1] == "exception"]
    timeouts = [x for x in exceptions if x[2] in ("TimeoutError", "timeout")]
    assert not timeouts, f"{len(timeouts)} requests hung past {CLIENT_TIMEOUT}s: {timeouts[:3]}"
    assert not exceptions, (f"{len(exceptions)} requests got no HTTP response at all "
                            f"(connection dropped by the proxy): {exceptions[:5]}")
    for t, status, err, body, _ in log:
        if status == 200:
            continue
        assert status in (502, 503), f"at {t:.2f}s: status {status} {err} {body[:200]!r}"
        assert err, f"at {t:.2f}s: {status} without x-causeway-error: {body[:200]!r}"
        doc = json.loads(body)
        assert doc.get("error") == err and doc.get("cluster") == "web", (t, status, doc)

    # Requests that finished before the kill began must all be 200; those in flight across it
    # may get the proxy's 502; those started after it are judged below.
    before = [x for x in log if x[4] < kill_start]
    after = [x for x in log if x[0] >= killed_at]
    last_second = [x for x in log if x[0] >= end - 1.0]
    errors_after = [x for x in after if x[1] != 200]
    print(f"backend kill: {len(log)} requests ({len(before)} before the kill at {killed_at:.2f}s, "
          f"{len(after)} after), {len(errors_after)} proxy errors after the kill: "
          f"{[(round(x[0], 2), x[1], x[2]) for x in errors_after[:10]]}")
    assert len(before) >= 20 and len(after) >= 40, "too little load to judge"
    assert all(x[1] == 200 for x in before), [x for x in before if x[1] != 200][:5]
    ok_after = sum(1 for x in after if x[1] == 200)
    assert ok_after >= 0.9 * len(after), (
        f"only {ok_after}/{len(after)} answers were 200 after the kill: the survivors should "
        f"carry the load; errors: {errors_after[:5]}")
    assert last_second and all(x[1] == 200 for x in last_second), (
        "the last second of load still had errors: "
        f"{[(round(x[0], 2), x[1], x[2]) for x in last_second if x[1] != 200][:10]}")
    seen_last = {json.loads(x[3])["instance"] for x in last_second}
    assert seen_last == {"b0", "b2"}, f"last second answered by {seen_last}, want the survivors b0, b2"
    assert p.p.poll() is None, "the proxy died"
    status, _, _ = get(p.url + "/after")
    assert status == 200


def host_failures(p, host):
    m = parse_metrics(p.admin_get("/metrics"))
    return m.get(("causeway_upstream_host_failures_total",
                  frozenset({("cluster", "web"), ("host", host)})), 0)


def test_restarted_backend_gets_traffic_again(echo_factory, proxy_factory):
    backends = [echo_factory("web", f"b{i}") for i in range(3)]
    p = proxy_factory(basic_config({"web": [b.addr for b in backends]}))
    victim = backends[1]
    port = victim.port

    def spread(n):
        """n requests on fresh connections (so both workers see them); the instances seen."""
        seen = []
        for i in range(n):
            status, _, body = get(p.url + f"/spread/{i}", {"Connection": "close"},
                                  timeout=CLIENT_TIMEOUT)
            assert status == 200, (status, body)
            seen.append(json.loads(body)["instance"])
        return seen

    assert set(spread(30)) == {"b0", "b1", "b2"}
    before = host_failures(p, victim.addr)
    victim.p.kill()
    victim.p.wait(timeout=5)
    # The proxy notices: the first connect refused by b1 is retried on a survivor (so every
    # client still gets 200 from b0 or b2, which spread() asserts) and puts b1 in a connect
    # back-off (1 s, doubling), so the proxy stops trying it. Without the back-off round robin
    # would try b1 for every third request: ~10 of these 30. With it each worker tries b1 once,
    # again only 1 s later, and then 2 s after that: at most 2 per worker unless these 30
    # requests take over 3 s.
    seen = spread(30)
    assert set(seen) == {"b0", "b2"}, seen
    failed = host_failures(p, victim.addr) - before
    assert 1 <= failed <= 2 * WORKERS, (
        f"{failed} connect failures against the killed backend over 30 requests: want at least "
        f"one (the proxy tried it and counted the failure) and at most {2 * WORKERS} (then it "
        f"backs off instead of trying a dead host again)")
    restarted = echo_factory("web", "b1-again", port=port)
    t_restart = time.time()
    # The back-off after one or two failures is 1-2 s; 30 s is the back-off's cap.
    wait_for(lambda: "b1-again" in spread(12), 35,
             f"the backend restarted on port {port} gets no traffic after its connect back-off")
    print(f"restarted backend back in rotation after {time.time() - t_restart:.2f}s")
    # And it takes its share again (on both workers: the other may still be backing off).
    seen = []
    wait_for(lambda: seen.append(spread(30)) or set(seen[-1]) == {"b0", "b1-again", "b2"}, 35,
             lambda: f"restarted backend not in full rotation: {seen[-1]}")
    assert restarted.p.poll() is None and p.p.poll() is None
