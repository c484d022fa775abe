"""`discovery: registry` clusters on the real binary: the proxy follows the registry live
(register, deregister, health), survives a reload and a restart with the same hosts, and an
instance the proxy ejects is ejected in the registry and in DNS too (one health view)."""
import json
import signal
import tempfile
import threading
import time

import dns.message
import dns.query

from conftest import Proxy, free_port, get, wait_for


def config(data_dir, dns_port=None, outlier=""):
    top = f"registry: {{ data_dir: {data_dir} }}\n"
    if dns_port:
        top += f"dns: {{ listen: 127.0.0.1:{dns_port}, domain: internal, ttl: 1s }}\n"
    return (top + "workers: 2\nadmin: { listen: 127.0.0.1:{admin} }\n"
            "listeners:\n  - name: edge\n    listen: 127.0.0.1:{port}\n    routes:\n"
            "      - match: { path_prefix: / }\n        cluster: api\n"
            "clusters:\n  - name: api\n    discovery: registry\n    service: api\n" + outlier)


def put(p, iid, body):
    status, _, raw = get(f"{p.admin_url}/api/v1/services/api/instances/{iid}", method="PUT",
                         data=json.dumps(body).encode())
    assert status == 200, raw


def served_by(p, n=20):
    seen = {}
    for _ in range(n):
        status, _, body = get(p.url + "/")
        key = json.loads(body).get("instance") if status == 200 else status
        seen[key] = seen.get(key, 0) + 1
    return seen


def test_cluster_follows_the_registry(proxy_factory, echo_factory):
    p = proxy_factory(config(tempfile.mkdtemp(prefix="causeway-rc-")))
    status, _, body = get(p.url + "/")
    assert status == 503 and b"no_healthy_upstream" in body  # no instances yet
    a = echo_factory(name="api", instance="a1")
    b = echo_factory(name="api", instance="a2")
    put(p, "a1", {"address": "127.0.0.1", "port": a.port})
    wait_for(lambda: served_by(p, 4) == {"a1": 4}, 10, "a1 serves")
    put(p, "a2", {"address": "127.0.0.1", "port": b.port})
    wait_for(lambda: set(served_by(p)) == {"a1", "a2"}, 10, "both serve")
    # The admin view follows too: the cluster's hosts are the instances.
    api = next(c for c in p.admin_json("/api/v1/clusters") if c["name"] == "api")
    assert sorted(h["address"] for h in api["hosts"]) == sorted([a.addr, b.addr])
    get(f"{p.admin_url}/api/v1/services/api/instances/a1", method="DELETE")
    wait_for(lambda: set(served_by(p)) == {"a2"}, 10, "a1 gone")
    # A ttl instance joins only once it beats.
    c = echo_factory(name="api", instance="a3")
    put(p, "a3", {"address": "127.0.0.1", "port": c.port, "check": {"ttl": "60s"}})
    assert set(served_by(p)) == {"a2"}
    get(f"{p.admin_url}/api/v1/services/api/instances/a3/heartbeat", method="PUT", data=b"")
    wait_for(lambda: set(served_by(p)) == {"a2", "a3"}, 10, "a3 after its heartbeat")
    # A reload keeps the registry's hosts.
    status, j = p.reload_api()
    assert status == 200, j
    assert set(served_by(p)) == {"a2", "a3"}


def test_hosts_come_back_after_a_restart(proxy_factory, echo_factory):
    data = tempfile.mkdtemp(prefix="causeway-rc-")
    p = proxy_factory(config(data))
    a = echo_factory(name="api", instance="a1")
    put(p, "a1", {"address": "127.0.0.1", "port": a.port})
    wait_for(lambda: served_by(p, 4) == {"a1": 4}, 10, "a1 serves")
    p.stop(signal.SIGKILL)
    p.expected_exit = None
    p2 = Proxy(open(p.config).read(), port=p.port, admin=p.admin_port)
    try:
        assert served_by(p2, 4) == {"a1": 4}  # no check: served from the first request
    finally:
        p2.stop()


def test_ejection_reaches_the_registry_and_dns(proxy_factory, echo_factory):
    dns_port = free_port()
    p = proxy_factory(config(tempfile.mkdtemp(prefix="causeway-rc-"), dns_port,
                             "    outlier_detection: { consecutive_5xx: 2, "
                             "base_ejection_time: 60s, max_ejection_percent: 50 }\n"))
    good = echo_factory(name="api", instance="good")
    bad = echo_factory(name="api", instance="bad", extra=["--error-rate", "1"])
    put(p, "good", {"address": "127.0.0.1", "port": good.port})
    put(p, "bad", {"address": "127.0.0.2", "port": bad.port})

    def dns_addresses():
        q = dns.message.make_query("api.internal", "A")
        r = dns.query.udp(q, "127.0.0.1", port=dns_port, timeout=5)
        return sorted(a.address for rrset in r.answer for a in rrset)

    wait_for(lambda: dns_addresses() == ["127.0.0.1", "127.0.0.2"], 10, "both in DNS")

    def ejected():
        served_by(p, 10)  # traffic for outlier detection to judge
        status, _, raw = get(f"{p.admin_url}/api/v1/services/api/instances/bad")
        return json.loads(raw)["ejected"]

    wait_for(ejected, 20, "the failing instance ejected in the registry")
    # The registry shows the ejection at once; DNS gets it with the zone rebuilt after the
    # change is stored (a moment later).
    wait_for(lambda: dns_addresses() == ["127.0.0.1"], 10, "the ejected instance out of DNS")
    status, _, raw = get(f"{p.admin_url}/api/v1/services/api?healthy=1")
    assert [i["id"] for i in json.loads(raw)["instances"]] == ["good"]


def test_migration_under_load_fails_no_request(proxy_factory, echo_factory):
    """Instances move from 127.0.0.2 to 127.0.0.3 while requests flow: register the new ones,
    deregister the old ones; every request succeeds."""
    p = proxy_factory(config(tempfile.mkdtemp(prefix="causeway-rc-")))
    old = [echo_factory(name="api", instance=f"old{i}", host="127.0.0.2") for i in range(2)]
    new = [echo_factory(name="api", instance=f"new{i}", host="127.0.0.3") for i in range(2)]
    for i, e in enumerate(old):
        put(p, f"old{i}", {"address": "127.0.0.2", "port": e.port})
    wait_for(lambda: set(served_by(p, 8)) == {"old0", "old1"}, 10, "old instances serve")

    results = {"ok": 0, "failed": [], "by": {}}
    stop = threading.Event()

    def load():
        deadline = time.time() + 60  # bounded in time and count
        for _ in range(20000):
            if stop.is_set() or time.time() > deadline:
                return
            status, _, body = get(p.url + "/")
            if status == 200:
                results["ok"] += 1
                inst = json.loads(body)["instance"]
                results["by"][inst] = results["by"].get(inst, 0) + 1
            else:
                results["failed"].append((status, body[:200]))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i, e in enumerate(new):
            put(p, f"new{i}", {"address": "127.0.0.3", "port": e.port})
        wait_for(lambda: all(results["by"].get(f"new{i}", 0) > 0 for i in range(2)), 15,
                 "new instances take traffic")
        for i in range(2):
            status, _, _ = get(f"{p.admin_url}/api/v1/services/api/instances/old{i}",
                               method="DELETE")
            assert status == 200
        seen = dict(results["by"])
        wait_for(lambda: sum(results["by"].get(f"new{i}", 0) for i in range(2))
                 > sum(seen.get(f"new{i}", 0) for i in range(2)) + 200, 15, "load continues")
        before_old = sum(results["by"].get(f"old{i}", 0) for i in range(2))
        time.sleep(0.5)
        assert sum(results["by"].get(f"old{i}", 0) for i in range(2)) == before_old, \
            "old instances still get requests after deregistration"
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert results["failed"] == [], results["failed"][:5]
    assert results["ok"] > 500


def test_instance_weight_feeds_the_balancer(proxy_factory, echo_factory):
    p = proxy_factory(config(tempfile.mkdtemp(prefix="causeway-rc-")).replace(
        "    service: api\n", "    service: api\n    lb: weighted_round_robin\n"))
    heavy = echo_factory(name="api", instance="heavy")
    light = echo_factory(name="api", instance="light")
    put(p, "heavy", {"address": "127.0.0.1", "port": heavy.port, "weight": 3})
    put(p, "light", {"address": "127.0.0.1", "port": light.port, "weight": 1})
    wait_for(lambda: set(served_by(p, 8)) == {"heavy", "light"}, 10, "both serve")
    seen = served_by(p, 80)
    # Smooth weighted round robin per worker: 3 to 1, give or take a pick per worker.
    assert seen["heavy"] > 2 * seen["light"], seen
    api = next(c for c in p.admin_json("/api/v1/clusters") if c["name"] == "api")
    assert sorted(h["weight"] for h in api["hosts"]) == [1, 3]
