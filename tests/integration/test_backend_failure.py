"""A backend dies mid-load: clients get 200 or the proxy's own 502/503 JSON (never a hang), the
proxy keeps serving from the survivors and stays up; a backend restarted on the same port gets
traffic again once its connect back-off ends."""
import http.client
import json
import threading
import time

from conftest import basic_config, get

CLIENT_TIMEOUT = 5.0
THREADS = 8
DURATION = 6.0
KILL_AT = 2.0


def load_thread(port, t0, stop_at, log):
    """Keep-alive requests until stop_at; every outcome is logged as (start, status or
    'exception', x-causeway-error or exception name, body/detail, end), times in seconds since
    t0."""
    conn = None
    i = 0
    while time.time() < stop_at:
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
    stop_at = t0 + DURATION
    threads = [threading.Thread(target=load_thread, args=(p.port, t0, stop_at, logs[i]))
               for i in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(max(0.0, t0 + KILL_AT - time.time()))
    kill_start = time.time() - t0
    victim.p.kill()  # SIGKILL, our own echo process
    victim.p.wait(timeout=5)
    killed_at = time.time() - t0
    for t in threads:
        t.join(timeout=DURATION + CLIENT_TIMEOUT + 10)
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
    victim.p.kill()
    victim.p.wait(timeout=5)
    # The proxy notices (connect refused -> retried on a survivor, host backed off).
    deadline = time.time() + 1.5
    while time.time() < deadline:
        assert "b1" not in spread(10)
    restarted = echo_factory("web", "b1-again", port=port)
    t_restart = time.time()
    limit = 12.0
    while True:
        seen = spread(12)
        if "b1-again" in seen:
            break
        assert time.time() - t_restart < limit, (
            f"the backend restarted on port {port} got no traffic within {limit}s "
            "(connect back-off should end within a few seconds)")
    waited = time.time() - t_restart
    print(f"restarted backend back in rotation after {waited:.2f}s")
    # And it takes its share again.
    deadline = time.time() + 5
    while True:
        seen = spread(30)
        if set(seen) == {"b0", "b1-again", "b2"}:
            break
        assert time.time() < deadline, f"restarted backend not in full rotation: {seen}"
    assert restarted.p.poll() is None and p.p.poll() is None
