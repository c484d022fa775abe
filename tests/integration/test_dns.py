"""The internal DNS server (SPEC 5) on the real binary, asked by dnspython and dig: answers
from the registry (A/AAAA rotated, SRV with additional records, tags, instance targets, SOA/NS,
NXDOMAIN/NODATA), EDNS and truncation with the full answer over TCP, the error codes, health
changes followed live, and malformed packets that get FORMERR or silence, never a crash."""
import json
import random
import socket
import struct
import subprocess
import tempfile

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype

from conftest import basic_config, free_port, get, wait_for

PORTS = {}


def dns_config(echo, data_dir, dns_port):
    return basic_config({"web": [echo.addr]},
                        top=f"registry: {{ data_dir: {data_dir} }}\n"
                            f"dns: {{ listen: 127.0.0.1:{dns_port}, domain: internal, ttl: 5s }}")


def start(proxy_factory, echo_factory):
    echo = echo_factory()
    port = free_port()
    p = proxy_factory(dns_config(echo, tempfile.mkdtemp(prefix="causeway-dns-"), port))
    p.dns_port = port
    return p


def put(p, service, iid, body):
    status, _, raw = get(f"{p.admin_url}/api/v1/services/{service}/instances/{iid}",
                         method="PUT", data=json.dumps(body).encode())
    assert status == 200, raw
    return json.loads(raw)["index"]


def ask(p, name, rdtype="A", tcp=False, **kw):
    q = dns.message.make_query(name, rdtype, **kw)
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=p.dns_port, timeout=5)
    return dns.query.udp(q, "127.0.0.1", port=p.dns_port, timeout=5, ignore_trailing=True)


def addresses(resp):
    return [r.address for rrset in resp.answer for r in rrset]


def test_answers_from_the_registry(proxy_factory, echo_factory):
    p = start(proxy_factory, echo_factory)
    put(p, "api", "api-1", {"address": "127.0.0.2", "port": 9001, "tags": ["canary"],
                            "weight": 7})
    put(p, "api", "api-2", {"address": "127.0.0.3", "port": 9002})
    idx = put(p, "api", "api-3", {"address": "::1", "port": 9003})
    wait_for(lambda: len(addresses(ask(p, "api.internal"))) == 2, 10, "zone rebuilt")

    r = ask(p, "api.internal")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert sorted(addresses(r)) == ["127.0.0.2", "127.0.0.3"]
    assert r.answer[0].ttl == 5
    # Rotated per query: over a few queries each instance comes first.
    firsts = {addresses(ask(p, "api.internal"))[0] for _ in range(24)}
    assert firsts == {"127.0.0.2", "127.0.0.3"}
    assert addresses(ask(p, "api.internal", "AAAA")) == ["::1"]

    srv = ask(p, "_api._tcp.internal", "SRV")
    targets = {str(r.target): (r.priority, r.weight, r.port) for rrset in srv.answer for r in rrset}
    assert targets["api-1.api.instance.internal."] == (0, 7, 9001)
    assert len(targets) == 3
    extra = {str(rrset.name): [r.address for r in rrset] for rrset in srv.additional}
    assert extra["api-1.api.instance.internal."] == ["127.0.0.2"]
    assert extra["api-3.api.instance.internal."] == ["::1"]
    assert len(ask(p, "api.internal", "SRV").answer[0]) == 3

    assert addresses(ask(p, "canary.api.internal")) == ["127.0.0.2"]
    assert ask(p, "blue.api.internal").rcode() == dns.rcode.NXDOMAIN
    assert addresses(ask(p, "api-2.api.instance.internal")) == ["127.0.0.3"]

    soa = ask(p, "internal", "SOA").answer[0][0]
    assert str(soa.mname) == "ns.internal." and str(soa.rname) == "hostmaster.internal."
    assert soa.serial >= idx
    assert str(ask(p, "internal", "NS").answer[0][0].target) == "ns.internal."
    nx = ask(p, "nope.internal")
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert nx.authority[0].rdtype == dns.rdatatype.SOA
    nodata = ask(p, "api.internal", "TXT")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority

    # dig agrees (the client operators will use).
    out = subprocess.run(["dig", "+short", "@127.0.0.1", "-p", str(p.dns_port),
                          "api-1.api.instance.internal"], capture_output=True, text=True,
                         timeout=10).stdout.split()
    assert out == ["127.0.0.2"]


def test_codes_edns_any_and_case(proxy_factory, echo_factory):
    p = start(proxy_factory, echo_factory)
    put(p, "api", "api-1", {"address": "127.0.0.2", "port": 9001})
    wait_for(lambda: addresses(ask(p, "api.internal")), 10, "zone rebuilt")
    assert ask(p, "example.com").rcode() == dns.rcode.REFUSED
    q = dns.message.make_query("api.internal", "A")
    q.set_opcode(dns.opcode.STATUS)
    assert dns.query.udp(q, "127.0.0.1", port=p.dns_port, timeout=5).rcode() == dns.rcode.NOTIMP
    # EDNS version 1 (dnspython 2.3 always writes 0): the OPT's version byte, 5th from the end.
    bad = bytearray(dns.message.make_query("api.internal", "A", use_edns=0).to_wire())
    bad[-5] = 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(bytes(bad), ("127.0.0.1", p.dns_port))
        assert dns.message.from_wire(s.recv(65535)).rcode() == dns.rcode.BADVERS
    e = ask(p, "api.internal", use_edns=0, payload=4096)
    assert e.edns == 0 and e.payload == 1232
    assert ask(p, "api.internal").edns == -1  # no OPT without one in the query
    anyr = ask(p, "api.internal", "ANY")
    assert len(anyr.answer) == 1  # one RRset (RFC 8482)
    mixed = ask(p, "ApI.InTeRnAl")
    assert str(mixed.question[0].name) == "ApI.InTeRnAl."


def test_truncation_then_tcp_gives_everything(proxy_factory, echo_factory):
    p = start(proxy_factory, echo_factory)
    for i in range(100):
        put(p, "big", f"i{i}", {"address": f"127.0.{i // 200}.{i % 200 + 2}", "port": 1000 + i})
    wait_for(lambda: len(ask(p, "big.internal", tcp=True).answer[0]) == 100, 10, "zone rebuilt")
    udp = ask(p, "big.internal")
    assert udp.flags & dns.flags.TC
    edns = ask(p, "big.internal", use_edns=0, payload=1232)
    assert edns.flags & dns.flags.TC
    raw = dns.message.make_query("big.internal", "A", use_edns=0, payload=4096).to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(raw, ("127.0.0.1", p.dns_port))
        assert len(s.recv(65535)) <= 1232
    full = ask(p, "big.internal", tcp=True)
    assert not full.flags & dns.flags.TC and len(full.answer[0]) == 100
    srv = ask(p, "_big._tcp.internal", "SRV", tcp=True)
    assert len(srv.answer[0]) == 100
    # Several messages on one TCP connection (RFC 7766 pipelining).
    with socket.create_connection(("127.0.0.1", p.dns_port), timeout=5) as s:
        for name in ("big.internal", "nope.internal", "internal"):
            w = dns.message.make_query(name, "A").to_wire()
            s.sendall(struct.pack("!H", len(w)) + w)
        for want in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.NOERROR):
            n = struct.unpack("!H", recv_exact(s, 2))[0]
            assert dns.message.from_wire(recv_exact(s, n)).rcode() == want


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        assert chunk, "connection closed early"
        buf += chunk
    return buf


def test_health_changes_are_followed(proxy_factory, echo_factory):
    p = start(proxy_factory, echo_factory)
    put(p, "jobs", "j1", {"address": "127.0.0.2", "port": 7000, "check": {"ttl": "30s"}})
    put(p, "jobs", "j2", {"address": "127.0.0.3", "port": 7001})
    wait_for(lambda: addresses(ask(p, "jobs.internal")) == ["127.0.0.3"], 10, "only j2 serves")
    status, _, _ = get(f"{p.admin_url}/api/v1/services/jobs/instances/j1/heartbeat",
                       method="PUT", data=b"")
    assert status == 200
    wait_for(lambda: sorted(addresses(ask(p, "jobs.internal"))) == ["127.0.0.2", "127.0.0.3"],
             10, "j1 after its heartbeat")
    get(f"{p.admin_url}/api/v1/services/jobs/instances/j2", method="DELETE")
    wait_for(lambda: addresses(ask(p, "jobs.internal")) == ["127.0.0.2"], 10, "j2 gone")
    get(f"{p.admin_url}/api/v1/services/jobs/instances/j1", method="DELETE")
    wait_for(lambda: ask(p, "jobs.internal").rcode() == dns.rcode.NXDOMAIN, 10, "service gone")


def malformed_packets(good):
    rng = random.Random(7)
    out = [
        b"",                                    # nothing
        b"\x12",                                # 1 byte
        good[:11],                              # short header
        good[:12],                              # header, no question
        good[:15],                              # question cut in the name
        good[:-2],                              # no class
        good[:2] + b"\x01\x00\x00\x05" + good[6:],   # qdcount 5, one question
        good[:2] + b"\x01\x00\x00\x00" + good[6:],   # qdcount 0
        good[:2] + b"\x01\x00\x00\x01\xff\xff" + good[8:],  # ancount 65535 in a query
        good[:12] + b"\xc0\x0c" + good[-4:],    # pointer to itself (a loop)
        good[:12] + b"\xc0\xff" + good[-4:],    # pointer past the end
        good[:12] + b"\x40" + b"a" * 64 + b"\x00" + good[-4:],  # 64-byte label
        good[:12] + (b"\x3f" + b"a" * 63) * 5 + b"\x00" + good[-4:],  # name over 255
        good[:12] + b"\x80abc\x00" + good[-4:],  # reserved label type
        good + b"\x00" * 3,                     # trailing junk
        good[:12] + b"\x03api\x08internal" + good[-4:],  # name without its root
        b"\xff" * 512,                          # noise
        bytes(12) + b"\x00" * 5,                # all zeros
    ]
    for _ in range(30):                         # random bytes after a plausible header
        out.append(good[:12] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80))))
    return out


def test_malformed_packets_get_formerr_or_silence(proxy_factory, echo_factory):
    p = start(proxy_factory, echo_factory)
    put(p, "api", "api-1", {"address": "127.0.0.2", "port": 9001})
    wait_for(lambda: addresses(ask(p, "api.internal")), 10, "zone rebuilt")
    good = dns.message.make_query("api.internal", "A").to_wire()
    packets = malformed_packets(good)
    assert len(packets) >= 40
    answered = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        for pkt in packets:
            s.sendto(pkt, ("127.0.0.1", p.dns_port))
            try:
                resp = s.recv(65535)
            except socket.timeout:
                continue  # silence is allowed
            answered += 1
            rcode = resp[3] & 0x0F
            assert resp[2] & 0x80, "a reply must be a response"
            assert rcode in (dns.rcode.FORMERR, dns.rcode.NOERROR, dns.rcode.NXDOMAIN,
                             dns.rcode.REFUSED, dns.rcode.NOTIMP), (pkt, resp)
        # A response (QR=1) is dropped, never answered (no reflection loops).
        reply = bytearray(good)
        reply[2] |= 0x80
        s.sendto(bytes(reply), ("127.0.0.1", p.dns_port))
        try:
            s.recv(65535)
            assert False, "a QR=1 packet was answered"
        except socket.timeout:
            pass
    assert answered > 0
    # Still serving, over UDP and TCP, after all of it.
    assert addresses(ask(p, "api.internal")) == ["127.0.0.2"]
    with socket.create_connection(("127.0.0.1", p.dns_port), timeout=5) as s:
        s.sendall(struct.pack("!H", 3) + b"\x00\x01\x02")  # a TCP message too short to answer
        assert s.recv(100) == b""  # closed, no crash
    assert addresses(ask(p, "api.internal", tcp=True)) == ["127.0.0.2"]


def test_metrics_count_queries_and_instances(proxy_factory, echo_factory):
    p = start(proxy_factory, echo_factory)
    put(p, "api", "api-1", {"address": "127.0.0.2", "port": 9001})
    put(p, "api", "api-2", {"address": "127.0.0.3", "port": 9002, "check": {"ttl": "30s"}})
    wait_for(lambda: addresses(ask(p, "api.internal")), 10, "zone rebuilt")
    for _ in range(5):
        ask(p, "api.internal")
    ask(p, "api.internal", tcp=True)

    def metric(name, labels=""):
        text = get(p.admin_url + "/metrics")[2].decode()
        for line in text.splitlines():
            if line.startswith(f"causeway_{name}{labels} ") or \
                    line.startswith(f"causeway_{name}{{{labels}}} "):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} {labels} not in /metrics")

    assert metric("dns_queries_total", 'transport="udp"') >= 6
    assert metric("dns_queries_total", 'transport="tcp"') >= 1
    assert metric("dns_responses_total", 'transport="udp"') >= 6
    assert metric("registry_instances", 'service="api",health="passing"') == 1
    assert metric("registry_instances", 'service="api",health="unknown"') == 1
    assert metric("registry_index") >= 2


def test_stop_with_connections_open_ends_them_all(proxy_factory, echo_factory):
    """SIGTERM while an idle admin connection, a parked blocking query and an idle DNS TCP
    connection are open: a clean exit (under ASan, nothing leaked by a coroutine left waiting)."""
    p = start(proxy_factory, echo_factory)
    put(p, "api", "api-1", {"address": "127.0.0.2", "port": 9001})
    idle_admin = socket.create_connection(("127.0.0.1", p.admin_port), timeout=5)
    watcher = socket.create_connection(("127.0.0.1", p.admin_port), timeout=30)
    watcher.sendall(b"GET /api/v1/services/api?index=1&wait=60s HTTP/1.1\r\nHost: x\r\n\r\n")
    dns_tcp = socket.create_connection(("127.0.0.1", p.dns_port), timeout=5)
    try:
        wait_for(lambda: b"causeway_registry_watchers 1" in get(p.admin_url + "/metrics")[2],
                 10, "the blocking query parked")
        assert p.stop() == 0, p.output()[-3000:]
        # The parked query was answered before the process went away.
        assert watcher.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for s in (idle_admin, watcher, dns_tcp):
            s.close()
