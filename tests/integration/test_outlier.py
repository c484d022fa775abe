"""Passive outlier detection, the per-host breaker and panic mode against real `causeway echo`
upstreams: an upstream answering 503 half the time is ejected (shown in /api/v1/clusters and
/metrics) and then receives next to nothing; so is one that times out, and one whose success
rate is an outlier; max_ejection_percent keeps a second bad host in;
with every host failing, panic mode spreads load over all of them instead of answering
no_healthy_upstream; a host added by a reload ramps up (slow start). One worker, so one detector
sees every request (detection is per worker)."""
import http.client
import json
from collections import Counter

from conftest import parse_metrics, wait_for


def config(backends, outlier="", breaker="", route=""):
    lines = ["workers: 1", "admin: { listen: 127.0.0.1:{admin} }", "listeners:",
             "  - name: edge", "    listen: 127.0.0.1:{port}", "    routes:",
             "      - match: { path_prefix: / }", "        cluster: web"]
    if route:
        lines.append(f"        {route}")
    lines += ["clusters:", "  - name: web", "    endpoints:"]
    lines += [f"      - {b.addr}" for b in backends]
    if outlier:
        lines.append(f"    outlier_detection: {outlier}")
    if breaker:
        lines.append(f"    circuit_breaker: {breaker}")
    return "\n".join(lines) + "\n"


class Client:
    """Keep-alive GETs; counts which instance answered (echo names itself in 200s and its own
    503s) and the proxy's own errors."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def send(self, n):
        seen, proxy_errors = Counter(), Counter()
        for i in range(n):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            self.conn.request("GET", f"/o/{i}")
            r = self.conn.getresponse()
            body = r.read()
            err = r.getheader("x-causeway-error")
            if err:
                proxy_errors[err] += 1
            else:
                seen[json.loads(body)["instance"]] += 1
            if r.will_close:
                self.conn.close()
                self.conn = None
        return seen, proxy_errors

    def close(self):
        if self.conn is not None:
            self.conn.close()


def hosts(p):
    [web] = [c for c in p.admin_json("/api/v1/clusters") if c["name"] == "web"]
    return {h["address"]: h for h in web["hosts"]}


def ejections(p, host, reason):
    m = parse_metrics(p.admin_get("/metrics"))
    return m.get(("causeway_outlier_ejections_total",
                  frozenset({("cluster", "web"), ("host", host), ("reason", reason)})), 0)


def test_a_host_failing_half_its_requests_is_ejected(echo_factory, proxy_factory):
    good = [echo_factory("web", f"g{i}") for i in range(2)]
    bad = echo_factory("web", "bad", extra=["--error-rate", "0.5"])
    p = proxy_factory(config(good + [bad]))
    c = Client(p.port)
    before = Counter()

    def ejected():
        seen, errs = c.send(30)
        assert not errs, errs
        before.update(seen)
        return hosts(p)[bad.addr]["outlier"]["ejected"]

    # Five 503s in a row from `bad` take ~62 of its answers on average (~190 requests).
    wait_for(ejected, 60, lambda: f"the bad host was never ejected: {dict(before)}")
    h = hosts(p)[bad.addr]
    assert h["outlier"]["times_ejected"] >= 1, h
    assert 0 < h["outlier"]["remaining_ms"] <= 30000, h
    assert h["outlier"]["until_unix_ms"], h
    assert h["outlier"]["ejections"]["consecutive_gateway_failure"] >= 1, h
    assert not hosts(p)[good[0].addr]["outlier"]["ejected"]
    assert ejections(p, bad.addr, "consecutive_gateway_failure") >= 1
    assert ejections(p, good[0].addr, "consecutive_gateway_failure") == 0

    after, errs = c.send(300)  # well inside the 30 s ejection
    c.close()
    assert not errs, errs
    share_before = before["bad"] / sum(before.values())
    share_after = after["bad"] / sum(after.values())
    print(f"bad host's share: {share_before:.2f} before its ejection, {share_after:.2f} after "
          f"({dict(before)} -> {dict(after)})")
    # Round robin gave it every third request until the ejection (at least the 5 that ejected
    # it); in the 300 after, it gets none.
    assert before["bad"] >= 5, before
    assert share_after < 0.02, after
    assert after["g0"] > 100 and after["g1"] > 100, after


def test_a_host_that_times_out_is_ejected(echo_factory, proxy_factory):
    """A hung host (no answer before the route timeout) is a gateway failure: five in a row
    eject it, and then the clients stop waiting on it."""
    good = [echo_factory("web", f"g{i}") for i in range(2)]
    slow = echo_factory("web", "slow", extra=["--hang-rate", "1.0"])
    p = proxy_factory(config(good + [slow], route="timeout: 200ms"))
    c = Client(p.port)
    first, errs = c.send(30)  # round robin: every third request waits out the timeout
    assert errs["upstream_timeout"] == 5, (first, errs)
    h = hosts(p)[slow.addr]
    assert h["outlier"]["ejected"], h
    assert h["outlier"]["ejections"]["consecutive_gateway_failure"] == 1, h
    after, errs = c.send(100)
    c.close()
    assert not errs and set(after) == {"g0", "g1"}, (after, errs)


def test_a_host_with_a_low_success_rate_is_ejected(echo_factory, proxy_factory):
    """Success-rate detection alone (the consecutive detectors and the breaker off): among five
    hosts with enough volume in one interval, the one failing a third of its requests is below
    mean - 1.9 stdev (with four perfect peers it sits at exactly mean - 2 stdev)."""
    good = [echo_factory("web", f"g{i}") for i in range(4)]
    bad = echo_factory("web", "bad", extra=["--error-rate", "0.3"])
    p = proxy_factory(config(
        good + [bad],
        outlier="{ consecutive_5xx: 0, consecutive_gateway_failure: 0, interval: 1s,"
                " success_rate_request_volume: 20 }",
        breaker="{ host: { consecutive_failures: 0 } }"))
    c = Client(p.port)

    def ejected():
        c.send(50)
        return hosts(p)[bad.addr]["outlier"]["ejected"]

    wait_for(ejected, 30, lambda: f"not ejected: {hosts(p)[bad.addr]['outlier']}")
    c.close()
    assert ejections(p, bad.addr, "success_rate") == 1
    assert not any(hosts(p)[g.addr]["outlier"]["ejected"] for g in good)


def test_max_ejection_percent_keeps_the_second_bad_host_in(echo_factory, proxy_factory):
    good = echo_factory("web", "good")
    bads = [echo_factory("web", f"bad{i}", extra=["--error-rate", "1.0"]) for i in range(2)]
    # The default max_ejection_percent (10) lets one host go; the host breaker is turned off
    # here, or it would take the second bad host out on its own.
    p = proxy_factory(config([good] + bads, breaker="{ host: { consecutive_failures: 0 } }"))
    c = Client(p.port)
    seen, errs = c.send(300)
    c.close()
    assert not errs, errs
    state = hosts(p)
    out = [b.addr for b in bads if state[b.addr]["outlier"]["ejected"]]
    assert len(out) == 1, {a: h["outlier"] for a, h in state.items()}
    kept = [b for b in bads if b.addr not in out][0]
    total = sum(ejections(p, b.addr, r) for b in bads
                for r in ("consecutive_5xx", "consecutive_gateway_failure", "success_rate"))
    assert total == 1, total
    # The bad host kept in still takes about half the requests after the other's ejection.
    name = "bad0" if kept is bads[0] else "bad1"
    assert seen[name] > 100, seen


def test_every_host_failing_panic_spreads_the_load(echo_factory, proxy_factory):
    bads = [echo_factory("web", f"bad{i}", extra=["--error-rate", "1.0"]) for i in range(3)]
    p = proxy_factory(config(bads, outlier="{ max_ejection_percent: 100 }"))
    c = Client(p.port)
    c.send(60)  # every host ejected after five 503s in a row
    wait_for(lambda: all(h["outlier"]["ejected"] for h in hosts(p).values()), 10,
             lambda: f"not every host ejected: {hosts(p)}")
    seen, errs = c.send(300)
    c.close()
    # Panic: with no fit host, picks spread over all three instead of failing every request.
    assert not errs, errs
    assert set(seen) == {"bad0", "bad1", "bad2"} and min(seen.values()) > 50, seen
    m = parse_metrics(p.admin_get("/metrics"))
    assert m.get(("causeway_upstream_panic", frozenset({("cluster", "web")}))) == 1, m
    assert m.get(("causeway_panic_total", frozenset({("cluster", "web")})), 0) >= 1
    [web] = [x for x in p.admin_json("/api/v1/clusters") if x["name"] == "web"]
    assert web["panic"]["workers"] == 1, web["panic"]


def test_without_panic_mode_every_request_fails_fast(echo_factory, proxy_factory):
    """The control for the test above: panic_threshold 0 answers no_healthy_upstream instead."""
    bads = [echo_factory("web", f"bad{i}", extra=["--error-rate", "1.0"]) for i in range(2)]
    text = config(bads, outlier="{ max_ejection_percent: 100 }") + "    panic_threshold: 0\n"
    p = proxy_factory(text)
    c = Client(p.port)
    c.send(30)
    seen, errs = c.send(50)
    c.close()
    assert errs["no_healthy_upstream"] == 50 and not seen, (seen, errs)


def test_disabled_outlier_detection_ejects_nothing(echo_factory, proxy_factory):
    bads = [echo_factory("web", f"bad{i}", extra=["--error-rate", "1.0"]) for i in range(2)]
    p = proxy_factory(config(bads, outlier="{ enabled: false }",
                             breaker="{ host: { consecutive_failures: 0 } }"))
    c = Client(p.port)
    seen, errs = c.send(100)
    c.close()
    assert not errs and seen["bad0"] == 50 and seen["bad1"] == 50, (seen, errs)
    assert not any(h["outlier"]["ejected"] for h in hosts(p).values())
    assert all(h["breaker"]["state"] == "closed" for h in hosts(p).values())


def test_slow_start_ramps_a_host_added_by_a_reload(echo_factory, proxy_factory):
    """A host added by a reload starts at 10% of its share (slow_start), not a full third."""
    old = [echo_factory("web", f"o{i}") for i in range(2)]
    new = echo_factory("web", "new")
    extra = "    slow_start: { window: 60s, min_weight_percent: 10 }\n"
    p = proxy_factory(config(old) + extra)
    c = Client(p.port)
    seen, errs = c.send(30)
    assert not errs and set(seen) == {"o0", "o1"}, (seen, errs)
    p.write(config(old + [new]) + extra)
    status, body = p.reload_api()
    assert status == 200, body
    seen, errs = c.send(600)
    c.close()
    assert not errs, errs
    print(f"after the reload: {dict(seen)}")
    # A full share would be ~200 of 600 (as it is without slow_start); at 10-11% weight, round
    # robin gives it ~6% of picks (a skipped turn goes to the next host in the cycle).
    assert 0 < seen["new"] < 60, seen
