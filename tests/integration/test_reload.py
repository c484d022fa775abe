"""Reload without losing anything: 10 config changes (SIGHUP and POST /api/v1/reload in turn)
under wrk load lose zero requests; a bad config is refused and the old one keeps serving;
listeners come and go by reload; a request in flight to an endpoint the reload removes still
completes."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading

from conftest import SANITIZED, free_port, get, parse_metrics, wait_for

LB_CYCLE = ["least_request", "random", "round_robin", "weighted_round_robin"]
# Requests the proxy serves between two config changes in the reload-under-load test.
LOAD_BETWEEN = 500 if SANITIZED else 2000


def make_config(endpoints, lb="round_robin", toggle=None, side_port=None, web_only=False):
    """One listener `edge` on {port}: /toggle answers `toggle` directly when set (else it goes
    to the cluster like everything else). side_port adds a second listener `side`."""
    lines = ["workers: 2", "drain_timeout: 2s", "admin: { listen: 127.0.0.1:{admin} }",
             "listeners:", "  - name: edge", "    listen: 127.0.0.1:{port}", "    routes:"]
    if toggle is not None:
        lines += ["      - match: { path: /toggle }",
                  f'        direct_response: {{ status: 200, body: "{toggle}" }}']
    lines += ["      - match: { path_prefix: / }", "        cluster: web"]
    if side_port:
        lines += ["  - name: side", f"    listen: 127.0.0.1:{side_port}", "    routes:",
                  "      - match: { path_prefix: / }",
                  '        direct_response: { status: 200, body: "side" }']
    lines += ["clusters:", "  - name: web", f"    lb: {lb}", "    endpoints:"]
    lines += [f"      - {a}" for a in endpoints]
    return "\n".join(lines) + "\n"


def generation(p):
    return p.admin_json("/api/v1/config")["generation"]


def toggle_state(p):
    """What /toggle answers now: the direct_response body, or None when it went to the cluster."""
    status, _, body = get(p.url + "/toggle", {"Connection": "close"})
    assert status == 200, (status, body)
    if body.startswith(b"{"):
        assert json.loads(body)["path"] == "/toggle"
        return None
    return body.decode()


def instances(p, k=12):
    """The instances that answered k fresh-connection requests."""
    seen = set()
    for _ in range(k):
        status, _, body = get(p.url + "/who", {"Connection": "close"})
        assert status == 200, (status, body)
        seen.add(json.loads(body)["instance"])
    return seen


def test_reload_under_load_loses_nothing(echo_factory, proxy_factory):
    a = echo_factory("web", "a")
    b = echo_factory("web", "b")
    state = {"endpoints": [a.addr], "lb": "round_robin", "toggle": None}
    p = proxy_factory(make_config(**state))
    gen = generation(p)
    assert toggle_state(p) is None

    # wrk runs until the reloads are done and is then stopped with SIGINT (it prints its
    # summary); its -d is only a cap. Every change waits for LOAD_BETWEEN more requests to be
    # served, so each reload lands in the middle of the load whatever the machine's speed.
    cap = 300
    wrk = subprocess.Popen(["wrk", "-t2", "-c32", f"-d{cap}s", "--timeout", "5s",
                            p.url + "/"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    results = []  # (step, how, what changed, status/generation)
    out = b""

    def served():
        return parse_metrics(p.admin_get("/metrics")).get("causeway_downstream_requests_total", 0)

    def load_flows(since, what):
        wait_for(lambda: served() >= since + LOAD_BETWEEN, 30,
                 lambda: f"{what}: wrk's load does not reach the proxy")
        assert wrk.poll() is None, f"wrk ended early: {wrk.communicate()[0].decode()}"

    try:
        wait_for(lambda: parse_metrics(p.admin_get("/metrics"))
                 .get("causeway_downstream_connections_active", 0) >= 32, 15,
                 "wrk's 32 connections did not all reach the proxy")
        load_flows(0, "before the first change")
        for i in range(10):
            kind = i % 3
            if kind == 0:
                state["toggle"] = f"step-{i}" if state["toggle"] is None else None
                what = f"toggle -> {state['toggle']}"
            elif kind == 1:
                state["endpoints"] = [a.addr, b.addr] if len(state["endpoints"]) == 1 else [a.addr]
                what = f"endpoints -> {state['endpoints']}"
            else:
                state["lb"] = LB_CYCLE[(LB_CYCLE.index(state["lb"]) + 1) % len(LB_CYCLE)]
                what = f"lb -> {state['lb']}"
            p.write(make_config(**state))
            how = "SIGHUP" if i % 2 == 0 else "api"
            if how == "SIGHUP":
                os.kill(p.pid, signal.SIGHUP)
                new_gen = wait_for(lambda: generation(p) > gen and generation(p), 5,
                                   f"step {i} ({what}): SIGHUP reload did not bump the generation "
                                   f"past {gen}")
            else:
                status, doc = p.reload_api()
                assert status == 200 and doc.get("status") == "reloaded", \
                    f"step {i} ({what}): POST /api/v1/reload answered {status} {doc}"
                new_gen = doc["generation"]
            assert new_gen == gen + 1, f"step {i}: generation {gen} -> {new_gen}, expected +1"
            gen = new_gen
            want = state["toggle"]
            wait_for(lambda: toggle_state(p) == want, 3,
                     f"step {i} ({what}): /toggle does not answer {want!r} after the reload")
            if kind == 1:
                # The endpoint change is live: b gets traffic once added, none once removed.
                # (How evenly a and b share it is checked by the least_request test below.)
                added = len(state["endpoints"]) == 2
                seen = []
                wait_for(lambda: seen.append(instances(p)) or
                         ("b" in seen[-1] if added else seen[-1] == {"a"}), 3,
                         lambda: f"step {i} ({what}): b should {'' if added else 'not '}answer; "
                                 f"{len(seen)} polls saw {seen[-3:]}")
            results.append((i, how, what, gen))

            if i == 4:
                # A bad config in the middle: refused with 400, generation unchanged, old config
                # keeps serving (wrk keeps going).
                p.write(make_config(**state).replace("cluster: web", "cluster: nope", 1))
                status, doc = p.reload_api()
                assert status == 400, f"bad config reload answered {status} {doc}, want 400"
                assert doc.get("error") == "config_invalid" and doc.get("errors"), doc
                assert any("nope" in e for e in doc["errors"]), doc["errors"]
                refusals = p.output().count("reload refused")
                os.kill(p.pid, signal.SIGHUP)  # refused by SIGHUP as well
                wait_for(lambda: p.output().count("reload refused") > refusals, 5,
                         "the proxy did not log the refusal of the SIGHUP reload")
                assert generation(p) == gen, "a refused config changed the generation"
                assert toggle_state(p) == state["toggle"], "a refused config changed the routes"
                p.write(make_config(**state))

            load_flows(served(), f"step {i} ({what})")
        wrk.send_signal(signal.SIGINT)
        out, _ = wrk.communicate(timeout=30)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait()
    out = out.decode(errors="replace")
    print(out)
    assert wrk.returncode == 0, out
    m = re.search(r"(\d+) requests in", out)
    assert m and int(m.group(1)) > 1000, f"wrk did not report a plausible request count:\n{out}"
    total = int(m.group(1))
    print(f"reload under load: {total} requests through 10 reloads + 1 refused")
    assert "Non-2xx or 3xx responses" not in out, f"non-2xx responses during reloads:\n{out}"
    assert "Socket errors" not in out, f"socket errors (dropped connections) during reloads:\n{out}"

    # The proxy's own books agree: nothing but 200 was answered.
    m = parse_metrics(p.admin_get("/metrics"))
    bad = {k: v for k, v in m.items() if isinstance(k, tuple) and k[0] == "causeway_requests_total"
           and dict(k[1]).get("code") != "200" and v}
    assert not bad, f"proxy answered non-200 during reloads: {bad}"

    # The final config is live: routes, endpoints and lb.
    assert toggle_state(p) == state["toggle"]
    cfg = p.admin_json("/api/v1/config")
    web = next(c for c in cfg["clusters"] if c["name"] == "web")
    assert web["lb"] == state["lb"], web
    eps = sorted(e["address"] if isinstance(e, dict) else e for e in web["endpoints"])
    assert eps == sorted(state["endpoints"]), web
    want_instances = {"a"} if state["endpoints"] == [a.addr] else {"a", "b"}
    seen = set()
    for _ in range(40):
        status, _, body = get(p.url + "/final", {"Connection": "close"})
        assert status == 200
        seen.add(json.loads(body)["instance"])
    assert seen == want_instances, f"final endpoints {state['endpoints']} but answers came from {seen}"
    assert p.p.poll() is None


def refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def answers_side(port):
    try:
        status, _, body = get(f"http://127.0.0.1:{port}/x", {"Connection": "close"}, timeout=3)
        return status == 200 and body == b"side"
    except OSError:
        return False


def listed(p):
    """/api/v1/listeners as {name: bound address}."""
    return {l["name"]: l["address"] for l in p.admin_json("/api/v1/listeners")}


def test_listeners_added_and_removed_by_reload(echo_factory, proxy_factory):
    a = echo_factory("web", "a")
    p = proxy_factory(make_config([a.addr]))
    side = free_port()
    assert refused(side)
    # One keep-alive client on the first listener rides through every reload.
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=5)

    def first_serves(tag):
        conn.request("GET", f"/{tag}")
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200 and json.loads(body)["path"] == f"/{tag}", (tag, r.status, body)

    first_serves("before")
    for round_ in range(2):  # add, remove, and add again: the port is really released
        p.write(make_config([a.addr], side_port=side))
        status, doc = p.reload_api()
        assert status == 200, doc
        wait_for(lambda: answers_side(side), 5,
                 f"round {round_}: listener 'side' on {side} added by reload does not answer")
        first_serves(f"added{round_}")
        assert listed(p) == {"edge": f"127.0.0.1:{p.port}", "side": f"127.0.0.1:{side}"}, \
            f"round {round_}: /api/v1/listeners after adding 'side'"

        p.write(make_config([a.addr]))
        status, doc = p.reload_api()
        assert status == 200, doc
        wait_for(lambda: refused(side), 5,
                 f"round {round_}: listener 'side' on {side} removed by reload still accepts "
                 "connections")
        first_serves(f"removed{round_}")
        assert listed(p) == {"edge": f"127.0.0.1:{p.port}"}, \
            f"round {round_}: /api/v1/listeners after removing 'side'"
    conn.close()


def test_inflight_request_survives_reload_removing_its_endpoint(echo_factory, proxy_factory):
    a = echo_factory("web", "a")
    b = echo_factory("web", "b")
    p = proxy_factory(make_config([b.addr]))
    result = {}

    def slow():
        result["r"] = get(p.url + "/slow?delay=1500ms", timeout=15)

    t = threading.Thread(target=slow)
    t.start()
    try:
        def inflight():
            m = parse_metrics(p.admin_get("/metrics"))
            return m.get(("causeway_upstream_host_active_requests",
                          frozenset({("cluster", "web"), ("host", b.addr)})), 0) >= 1
        wait_for(inflight, 5 if not SANITIZED else 15, "the slow request never reached b")
        p.write(make_config([a.addr]))
        status, doc = p.reload_api()
        assert status == 200, doc
        # New requests go to a at once (after the workers install the snapshot).
        wait_for(lambda: json.loads(get(p.url + "/new", {"Connection": "close"})[2])["instance"] == "a",
                 3, "new requests do not go to the new endpoint")
    finally:
        t.join(timeout=20)
    assert not t.is_alive(), "the in-flight request never completed"
    status, _, body = result["r"]
    assert status == 200, f"in-flight request to a removed endpoint failed: {status} {body!r}"
    assert json.loads(body)["instance"] == "b"


def test_least_request_stays_balanced_after_reload_with_requests_in_flight(echo_factory,
                                                                           proxy_factory):
    """A reload copies each host's in-flight count into the new cluster view; the requests that
    were in flight must not leave it inflated there once they finish, or least_request shuns
    that host forever (and more so with every reload under load)."""
    a = echo_factory("web", "a")
    b = echo_factory("web", "b")
    cfg = make_config([a.addr, b.addr], lb="least_request").replace("workers: 2", "workers: 1")
    p = proxy_factory(cfg)

    def balanced():
        seen = {}
        for _ in range(40):
            status, _, body = get(p.url + "/lr", {"Connection": "close"})
            assert status == 200
            inst = json.loads(body)["instance"]
            seen[inst] = seen.get(inst, 0) + 1
        return seen

    first = balanced()
    assert set(first) == {"a", "b"}, f"least_request with two idle hosts used only {first}"

    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", get(p.url + "/slow?delay=1500ms",
                                                                    timeout=15)))
    t.start()

    def inflight():
        m = parse_metrics(p.admin_get("/metrics"))
        return m.get("causeway_upstream_host_active_requests", 0) >= 1
    wait_for(inflight, 10, "the slow request never reached a backend")
    p.write(make_config([a.addr, b.addr], lb="least_request", toggle="t")
            .replace("workers: 2", "workers: 1"))
    status, doc = p.reload_api()
    assert status == 200, doc
    t.join(timeout=20)
    assert not t.is_alive() and result["r"][0] == 200, result
    slow_host = json.loads(result["r"][2])["instance"]

    # Nothing is in flight any more (the proxy's own gauge agrees) ...
    wait_for(lambda: parse_metrics(p.admin_get("/metrics"))
             .get("causeway_upstream_host_active_requests", -1) == 0, 5,
             "upstream_host_active_requests did not return to 0")
    # ... so both hosts are equally idle and least_request must use both.
    after = balanced()
    assert set(after) == {"a", "b"}, (
        f"after a reload with one request in flight to {slow_host!r}, least_request sent all of "
        f"40 sequential requests to {after} (before the reload: {first}): the in-flight count "
        f"copied into the new snapshot was never decremented (the finishing request decremented "
        f"the old snapshot's counter), so {slow_host!r} looks busy forever")
