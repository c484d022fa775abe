"""`registry.backend: etcd` on the real binary against real etcd (Debian's etcd-server on
loopback): causeways share one registry (DNS and registry clusters follow it), TTL checks are
leases, a partition leaves the minority read-only (no split-brain), and etcd going away under
load costs no proxied request."""
import json
import subprocess
import threading
import time
import uuid

import dns.message
import dns.query
import dns.rdatatype
import pytest

from conftest import BIN, free_port, get, wait_for
from etcd_cluster import etcd_factory  # noqa: F401 - a fixture


def config(endpoints, prefix, dns_port):
    eps = ", ".join(f'"{e}"' for e in endpoints)
    return (f"registry: {{ backend: etcd, etcd: {{ endpoints: [{eps}], prefix: {prefix} }} }}\n"
            f"dns: {{ listen: 127.0.0.1:{dns_port}, domain: internal, ttl: 1s }}\n"
            "workers: 2\nadmin: { listen: 127.0.0.1:{admin} }\n"
            "listeners:\n  - name: edge\n    listen: 127.0.0.1:{port}\n    routes:\n"
            "      - match: { path_prefix: / }\n        cluster: api\n"
            "clusters:\n  - name: api\n    discovery: registry\n    service: api\n")


class Causeway:
    def __init__(self, proxy_factory, endpoints, prefix):
        self.dns_port = free_port()
        self.p = proxy_factory(config(endpoints, prefix, self.dns_port))

    def call(self, method, path, body=None, timeout=15):
        data = json.dumps(body).encode() if body is not None else (b"" if method == "PUT" else None)
        status, headers, raw = get(f"{self.p.admin_url}/api/v1/services{path}", method=method,
                                   data=data, timeout=timeout)
        try:
            j = json.loads(raw) if raw else {}
        except ValueError:
            j = {"raw": raw.decode(errors="replace")}
        return status, j

    def services(self):
        return self.call("GET", "")[1]

    def instances(self, service="api"):
        return {i["id"]: i for i in self.call("GET", f"/{service}")[1].get("instances", [])}

    def synced(self):
        s = self.services()
        return s.get("backend") == "etcd" and s.get("stale") is False

    def stale(self):
        return self.services().get("stale") is True

    def dig(self, name, rdtype="A"):
        q = dns.message.make_query(name, rdtype)
        r = dns.query.udp(q, "127.0.0.1", port=self.dns_port, timeout=2)
        return sorted(rr.to_text() for rrset in r.answer for rr in rrset)


def test_two_causeways_share_one_registry(proxy_factory, echo_factory, etcd_factory):
    etcd = etcd_factory(1)
    prefix = f"/cw-{uuid.uuid4().hex[:8]}/"
    a = Causeway(proxy_factory, etcd.endpoints, prefix)
    b = Causeway(proxy_factory, etcd.endpoints, prefix)
    wait_for(lambda: a.synced() and b.synced(), 15, "both causeways in step with etcd")

    # Registered through a, answered by b's DNS.
    t0 = time.time()
    status, j = a.call("PUT", "/api/instances/x1", {"address": "127.0.0.2", "port": 9001})
    assert status == 200, j
    wait_for(lambda: b.dig("api.internal") == ["127.0.0.2"], 10, "b's DNS answers x1")
    print(f"\nregistered through causeway a, answered by causeway b's DNS after "
          f"{(time.time() - t0) * 1000:.0f} ms (including the PUT)")
    assert b.instances()["x1"]["serving"] is True

    # A TTL instance: passing on both while it beats (through either), critical on both after.
    status, j = a.call("PUT", "/api/instances/t1",
                       {"address": "127.0.0.3", "port": 9001, "check": {"ttl": "2s"}})
    assert status == 200, j
    assert b.instances()["t1"]["health"] == "unknown"
    for side in (a, b, a):
        status, j = side.call("PUT", "/api/instances/t1/heartbeat")
        assert status == 200, j
    wait_for(lambda: a.instances()["t1"]["health"] == "passing" and
             b.instances()["t1"]["health"] == "passing", 10, "t1 passing on both")
    assert sorted(b.dig("api.internal")) == ["127.0.0.2", "127.0.0.3"]
    wait_for(lambda: a.instances()["t1"]["health"] == "critical" and
             b.instances()["t1"]["health"] == "critical", 15, "t1 expired on both")
    assert "lease expired" in b.instances()["t1"]["health_detail"]
    assert b.dig("api.internal") == ["127.0.0.2"]

    # Deregistered through b: gone from a's registry-driven cluster.
    e = echo_factory(name="api", instance="e1")
    status, j = b.call("PUT", "/api/instances/e1", {"address": "127.0.0.1", "port": e.port})
    assert status == 200, j
    wait_for(lambda: get(a.p.url + "/")[0] == 200, 10, "a routes to e1")
    status, j = b.call("DELETE", "/api/instances/e1")
    assert status == 200, j
    status, j = b.call("DELETE", "/api/instances/e1")
    assert status == 404, j
    wait_for(lambda: "e1" not in a.instances(), 10, "e1 gone from a")
    wait_for(lambda: get(a.p.url + "/")[0] != 200, 10, "a no longer routes to e1")
    # Both report the etcd revisions as the instances' indexes.
    assert a.instances()["x1"]["create_index"] == b.instances()["x1"]["create_index"] > 0


def test_etcd_restart_under_load(proxy_factory, echo_factory, etcd_factory):
    etcd = etcd_factory(1)
    prefix = f"/cw-{uuid.uuid4().hex[:8]}/"
    c = Causeway(proxy_factory, etcd.endpoints, prefix)
    wait_for(c.synced, 15, "in step with etcd")
    backends = [echo_factory(name="api", instance=f"e{i}") for i in range(2)]
    for i, e in enumerate(backends):
        status, j = c.call("PUT", f"/api/instances/e{i}", {"address": "127.0.0.1", "port": e.port})
        assert status == 200, j
    wait_for(lambda: get(c.p.url + "/")[0] == 200, 10, "routes")

    results = {"ok": 0, "failed": []}
    stop = threading.Event()

    def load():
        deadline = time.time() + 60  # bounded in time and count
        n = 0
        while not stop.is_set() and time.time() < deadline and n < 200000:
            n += 1
            status = get(c.p.url + "/", timeout=10)[0]
            if status == 200:
                results["ok"] += 1
            else:
                results["failed"].append(status)

    t = threading.Thread(target=load)
    t.start()
    try:
        time.sleep(0.5)
        member = etcd.members[0]
        member.kill()
        wait_for(c.stale, 15, "stale once etcd is gone")
        s = c.services()
        assert "stale_reason" in s and s["stale_for_ms"] >= 0, s
        assert c.dig("api.internal") == ["127.0.0.1"]  # from the last state
        assert len(c.dig("_api._tcp.internal", "SRV")) == 2
        status, j = c.call("PUT", "/api/instances/e9", {"address": "127.0.0.1", "port": 1})
        assert status == 503 and j["error"] == "registry_unavailable", j
        assert "nothing was written" in j["detail"], j
        metrics = c.p.admin_get("/metrics")
        assert "causeway_registry_stale 1" in metrics
        cli = subprocess.run([BIN, "services", "list", "--admin", f"127.0.0.1:{c.p.admin_port}"],
                             capture_output=True, text=True, timeout=20)
        assert cli.returncode == 0 and "registry is stale" in cli.stderr, cli
        assert "api" in cli.stdout, cli
        etcd.restart(member)
        wait_for(c.synced, 20, "in step again without a restart")
        status, j = c.call("PUT", "/api/instances/e9", {"address": "127.0.0.4", "port": 9})
        assert status == 200, j
        assert "e9" in c.instances()
        assert "causeway_registry_stale 0" in c.p.admin_get("/metrics")
        time.sleep(0.5)
    finally:
        stop.set()
        t.join()
    print(f"\nproxied requests while etcd was killed and restarted: {results['ok']} ok, "
          f"{len(results['failed'])} failed")
    assert results["ok"] > 0
    assert results["failed"] == []


def test_partition_minority_refuses_writes(proxy_factory, etcd_factory):
    """Three members, one causeway on each. SIGSTOP one member: the two others are a majority
    and keep acknowledging writes, the paused member's causeway refuses them. SIGSTOP two: the
    third is a minority; its causeway turns read-only (503) and keeps answering DNS from its
    last state. SIGCONT: all converge; every acknowledged write (before, during, after) is on
    all three, no refused one anywhere."""
    etcd = etcd_factory(3)
    prefix = f"/cw-{uuid.uuid4().hex[:8]}/"
    cws = [Causeway(proxy_factory, [m.url], prefix) for m in etcd.members]
    wait_for(lambda: all(c.synced() for c in cws), 20, "all in step")
    acked, refused, unknown = set(), set(), set()

    addresses = {}

    def write(c, iid):
        addresses[iid] = f"127.0.1.{len(addresses) + 1}"
        status, j = c.call("PUT", f"/api/instances/{iid}", {"address": addresses[iid], "port": 9000})
        (acked if status == 200 else refused if status == 503 else unknown).add(iid)
        return status, j

    for i, c in enumerate(cws):
        assert write(c, f"before{i}")[0] == 200
    wait_for(lambda: all(len(c.instances()) == 3 for c in cws), 10, "before-writes everywhere")

    # One member paused: a majority remains; writes through its two causeways are acknowledged
    # (once a leader is elected among them, if the paused one led), the third refuses.
    etcd.members[2].pause()
    try:
        wait_for(cws[2].stale, 15, "the paused member's causeway turns stale")
        status, j = write(cws[2], "cut-off")
        assert status == 503, j
        during = 0
        for attempt in range(60):  # bounded: a new leader takes an election timeout or two
            if during == 4:
                break
            status, _ = write(cws[attempt % 2], f"majority{attempt}")
            during += status == 200
            if status != 200:
                time.sleep(0.25)
        assert during == 4, (acked, refused, unknown)
    finally:
        etcd.members[2].resume()
    wait_for(lambda: all(c.synced() for c in cws), 30, "all in step after the first SIGCONT")

    minority = cws[0]
    for m in etcd.members[1:]:
        m.pause()
    try:
        wait_for(minority.stale, 15, "the minority's causeway sees it has no quorum")
        s = minority.services()
        assert "quorum" in s["stale_reason"] or "watch" in s["stale_reason"], s
        for i in range(5):
            status, j = write(minority, f"during{i}")
            assert status == 503 and j["error"] == "registry_unavailable", j
        status, j = minority.call("DELETE", "/api/instances/before1")
        assert status == 503, j
        last = sorted(addresses[i] for i in acked)
        assert minority.dig("api.internal") == last  # its last state
        assert set(minority.instances()) == acked
    finally:
        for m in etcd.members[1:]:
            m.resume()
    wait_for(lambda: all(c.synced() for c in cws), 30, "all converge after SIGCONT")
    for i, c in enumerate(cws):
        assert write(c, f"after{i}")[0] == 200
    assert {f"before{i}" for i in range(3)} | {f"after{i}" for i in range(3)} <= acked
    assert len([i for i in acked if i.startswith("majority")]) == 4
    assert {f"during{i}" for i in range(5)} | {"cut-off"} <= refused
    for c in cws:
        wait_for(lambda c=c: set(c.instances()) == acked, 10,
                 lambda c=c: f"acknowledged writes on every causeway: {set(c.instances())}")
        assert not (set(c.instances()) & refused)
    print(f"\npartition: {len(acked)} writes acknowledged (all present on 3/3 causeways), "
          f"{len(refused)} refused with 503 by the minority (present nowhere), "
          f"{len(unknown)} of unknown outcome")
