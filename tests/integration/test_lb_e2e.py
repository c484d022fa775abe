"""Load balancing through the proxy, end to end: the cluster's `lb`, endpoint weights and
`hash_on` (header, cookie, source IP) shape which echo instance answers, and a reload that
changes the policy changes the distribution. The balancers' own properties are unit-tested
(tests/unit/upstream/load_balancer_test.cc); these prove the config reaches them."""
import http.client
import json
from collections import Counter

import pytest

USERS = 60   # distinct hash keys: with 3 hosts, P(one host gets none) ~ 3 * (2/3)^60
REPEAT = 3   # requests per key
INSTANCES = {"i0", "i1", "i2"}  # the `three` fixture's echo instances


def lb_config(backends, lb, hash_on=None, workers=2, weights=None):
    """One listener on {port} to cluster `web` with the given echo backends."""
    eps = [f"{{ address: \"{b.addr}\", weight: {weights[i]} }}" if weights else b.addr
           for i, b in enumerate(backends)]
    lines = [f"workers: {workers}", "admin: { listen: 127.0.0.1:{admin} }", "listeners:",
             "  - name: edge", "    listen: 127.0.0.1:{port}", "    routes:",
             "      - match: { path_prefix: / }", "        cluster: web",
             "clusters:", "  - name: web", f"    lb: {lb}"]
    if hash_on:
        lines.append(f"    hash_on: \"{hash_on}\"")
    lines += ["    endpoints:"] + [f"      - {e}" for e in eps]
    return "\n".join(lines) + "\n"


def instance(p, path="/", headers=None, source=None):
    """The echo instance that answered one request on a fresh connection (so it may land on
    any worker), from the given source address."""
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", path, headers={"Connection": "close", **(headers or {})})
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    assert r.status == 200, (r.status, body)
    return json.loads(body)["instance"]


def by_key(p, keys, headers_for=None, source_for=None):
    """{key: Counter of instances} over REPEAT requests per key."""
    out = {}
    for k in keys:
        out[k] = Counter(instance(p, f"/k/{k}",
                                  headers=headers_for(k) if headers_for else None,
                                  source=source_for(k) if source_for else None)
                         for _ in range(REPEAT))
    return out


def assert_sticky_and_spread(seen, what, want=INSTANCES):
    """Every key stuck to one instance; together the keys used every instance."""
    unstuck = {k: dict(c) for k, c in seen.items() if len(c) != 1}
    assert not unstuck, (f"{what}: {len(unstuck)} of {len(seen)} keys went to several "
                         f"instances, e.g. {dict(list(unstuck.items())[:4])}")
    used = Counter(next(iter(c)) for c in seen.values())
    assert set(used) == want, (f"{what}: {len(seen)} distinct keys all landed on {dict(used)}; "
                               f"the hash does not spread them over {sorted(want)}")
    return used


@pytest.fixture
def three(echo_factory):
    return [echo_factory("web", f"i{k}") for k in range(3)]


def test_weighted_round_robin_follows_the_weights(echo_factory, proxy_factory):
    """weights 3:1 on one worker: smooth weighted round robin gives exactly 3:1."""
    a = echo_factory("web", "a")
    b = echo_factory("web", "b")
    p = proxy_factory(lb_config([a, b], "weighted_round_robin", workers=1, weights=[3, 1]))
    n = 40
    got = Counter(instance(p, f"/w/{i}") for i in range(n))
    assert got == {"a": 30, "b": 10}, f"weights 3:1 over {n} requests gave {dict(got)}"


def test_round_robin_alternates_exactly(three, proxy_factory):
    p = proxy_factory(lb_config(three, "round_robin", workers=1))
    order = [instance(p, f"/rr/{i}") for i in range(9)]
    assert Counter(order) == {"i0": 3, "i1": 3, "i2": 3}, order
    assert order[:3] == order[3:6] == order[6:], f"round robin is not a fixed rotation: {order}"


@pytest.mark.parametrize("lb", ["ring_hash", "maglev"])
def test_hash_on_header_sticks_each_value_to_one_instance(three, proxy_factory, lb):
    p = proxy_factory(lb_config(three, lb, hash_on="header:x-user"))
    seen = by_key(p, [f"user-{u}" for u in range(USERS)], headers_for=lambda k: {"x-user": k})
    assert_sticky_and_spread(seen, f"{lb} on header:x-user")
    # Without the header there is no key: requests are spread, not pinned.
    spread = Counter(instance(p, f"/nokey/{i}") for i in range(30))
    assert len(spread) >= 2, f"{lb} without its header sent all 30 requests to {dict(spread)}"


def test_hash_on_cookie_uses_only_the_named_cookie(three, proxy_factory):
    p = proxy_factory(lb_config(three, "ring_hash", hash_on="cookie:session"))
    # Other cookies around it change from request to request; only `session` decides.
    n = iter(range(1 << 30))
    seen = by_key(p, [f"s{u}" for u in range(USERS)],
                  headers_for=lambda k: {"Cookie": f"theme=t{next(n)}; session={k}; x={next(n)}"})
    assert_sticky_and_spread(seen, "ring_hash on cookie:session")


def test_hash_on_source_ip(three, proxy_factory):
    p = proxy_factory(lb_config(three, "maglev", hash_on="source_ip"))
    # Clients from 127.0.0.2 ... (all loopback on Linux), each from fresh source ports.
    sources = [f"127.0.{u // 200}.{u % 200 + 2}" for u in range(USERS)]
    seen = by_key(p, sources, source_for=lambda k: k)
    assert_sticky_and_spread(seen, "maglev on source_ip")


def test_policy_change_by_reload_changes_the_distribution(three, proxy_factory):
    p = proxy_factory(lb_config(three, "round_robin", workers=1))
    user = {"x-user": "alice"}

    def alice(n=12):
        return Counter(instance(p, "/alice", headers=user) for _ in range(n))

    def reload_to(cfg):
        gen = p.admin_json("/api/v1/config")["generation"]
        p.write(cfg)
        status, doc = p.reload_api()
        assert status == 200 and doc["generation"] == gen + 1, (status, doc)
        web = next(c for c in p.admin_json("/api/v1/config")["clusters"] if c["name"] == "web")
        return web

    assert alice() == {"i0": 4, "i1": 4, "i2": 4}, "round robin ignores the header"
    web = reload_to(lb_config(three, "ring_hash", hash_on="header:x-user", workers=1))
    assert web["lb"] == "ring_hash", web
    pinned = alice()
    assert len(pinned) == 1, f"after the reload to ring_hash, alice went to {dict(pinned)}"
    seen = by_key(p, [f"user-{u}" for u in range(USERS)], headers_for=lambda k: {"x-user": k})
    assert_sticky_and_spread(seen, "after the reload to ring_hash")
    # And back: the header no longer matters.
    reload_to(lb_config(three, "round_robin", workers=1))
    assert alice() == {"i0": 4, "i1": 4, "i2": 4}, "the reload back to round_robin"
