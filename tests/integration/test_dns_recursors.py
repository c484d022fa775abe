"""Forwarding to recursors (docs/discovery.md "Forwarding to recursors") on the real binary:
names outside the DNS domain go to a fake recursor (dnspython, UDP and TCP on 127.0.0.1) that
counts what it is asked; answers are cached for their TTL (negative ones for the SOA minimum),
identical queries in flight share one upstream query, a truncated answer is fetched over TCP for
TCP clients, a dead recursor gives SERVFAIL without hurting causeway, and names inside the domain
are answered authoritatively and never forwarded. One worker, so one cache and one coalescing
table see every query (each worker has its own)."""
import collections
import concurrent.futures
import socket
import struct
import subprocess
import tempfile
import threading
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rrset

from conftest import basic_config, free_port, get, wait_for


class FakeRecursor:
    """A recursor for the test: UDP and TCP on one 127.0.0.1 port, counting queries by
    (name, type, transport).
    - example.test A: 192.0.2.10, TTL 2
    - slow.test A: 192.0.2.11, TTL 30, answered after 0.5 s
    - missing.test: NXDOMAIN with an SOA (TTL 600, minimum 60)
    - big.test TXT: ~2.5 KB; over UDP only TC is sent
    - anything else: NXDOMAIN without an SOA"""

    def __init__(self):
        self.port = free_port()
        self.counts = collections.Counter()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(16)
        self.threads = [threading.Thread(target=self._udp_loop, daemon=True),
                        threading.Thread(target=self._tcp_loop, daemon=True)]
        for t in self.threads:
            t.start()

    def count(self, name, rdtype="A", transport="udp"):
        with self.lock:
            return self.counts[(name, rdtype, transport)]

    def total(self):
        with self.lock:
            return sum(self.counts.values())

    def answer(self, q, tcp):
        name = q.question[0].name.to_text().rstrip(".").lower()
        rdtype = dns.rdatatype.to_text(q.question[0].rdtype)
        with self.lock:
            self.counts[(name, rdtype, "tcp" if tcp else "udp")] += 1
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        if name == "example.test":
            r.answer.append(dns.rrset.from_text(q.question[0].name, 2, "IN", "A", "192.0.2.10"))
        elif name == "slow.test":
            r.answer.append(dns.rrset.from_text(q.question[0].name, 30, "IN", "A", "192.0.2.11"))
        elif name == "missing.test":
            r.set_rcode(dns.rcode.NXDOMAIN)
            r.authority.append(dns.rrset.from_text(
                "test.", 600, "IN", "SOA", "ns.test. hostmaster.test. 1 3600 600 86400 60"))
        elif name == "big.test":
            if tcp:
                texts = ['"%s"' % (chr(ord("a") + i) * 120) for i in range(20)]
                r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "TXT", *texts))
            else:
                r.flags |= dns.flags.TC
        else:
            r.set_rcode(dns.rcode.NXDOMAIN)
        return r.to_wire(max_size=65535)

    def _udp_loop(self):
        while not self.stopped.is_set():
            try:
                data, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            q = dns.message.from_wire(data)
            wire = self.answer(q, False)
            delay = 0.5 if q.question[0].name.to_text().lower() == "slow.test." else 0
            threading.Timer(delay, self._send, (wire, peer)).start()

    def _send(self, wire, peer):
        try:
            self.udp.sendto(wire, peer)
        except OSError:
            pass

    def _tcp_loop(self):
        while not self.stopped.is_set():
            try:
                c, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(c,), daemon=True).start()

    def _tcp_conn(self, c):
        with c:
            try:
                while True:
                    head = c.recv(2, socket.MSG_WAITALL)
                    if len(head) < 2:
                        return
                    data = c.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
                    wire = self.answer(dns.message.from_wire(data), True)
                    c.sendall(struct.pack("!H", len(wire)) + wire)
            except OSError:
                return

    def stop(self):
        self.stopped.set()
        self.udp.close()
        self.tcp.close()


def start(proxy_factory, echo_factory, recursor):
    echo = echo_factory()
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="causeway-rec-")
    cfg = basic_config({"web": [echo.addr]},
                       top=f"registry: {{ data_dir: {data_dir} }}\n"
                           f"dns: {{ listen: 127.0.0.1:{port}, domain: internal, ttl: 5s, "
                           f"recursors: [\"127.0.0.1:{recursor.port}\"] }}")
    cfg = cfg.replace("workers: 2", "workers: 1")
    p = proxy_factory(cfg)
    p.dns_port = port
    return p


def ask(p, name, rdtype="A", tcp=False, timeout=6, **kw):
    q = dns.message.make_query(name, rdtype, **kw)
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=p.dns_port, timeout=timeout)
    return dns.query.udp(q, "127.0.0.1", port=p.dns_port, timeout=timeout)


def addresses(resp):
    return [r.address for rrset in resp.answer for r in rrset]


def metric(p, name):
    _, _, body = get(f"{p.admin_url}/metrics")
    for line in body.decode().splitlines():
        if line.startswith(f"causeway_{name} "):
            return float(line.split()[1])
    return None


def dig(p, *args):
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(p.dns_port), "+tries=1", "+time=6",
                          *args], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_forwarded_answer_is_cached_for_its_ttl(proxy_factory, echo_factory):
    rec = FakeRecursor()
    try:
        p = start(proxy_factory, echo_factory, rec)
        assert dig(p, "+short", "example.test").split() == ["192.0.2.10"]
        assert rec.count("example.test") == 1

        r = ask(p, "EXAMPLE.test")  # a hit, in the client's case
        assert r.rcode() == dns.rcode.NOERROR and addresses(r) == ["192.0.2.10"]
        assert r.flags & dns.flags.RA and not r.flags & dns.flags.AA
        assert r.question[0].name.to_text() == "EXAMPLE.test."
        assert r.answer[0].ttl <= 2
        assert rec.count("example.test") == 1
        # The TTL counts down while cached (in whole seconds of age).
        time.sleep(1.1)
        r = ask(p, "example.test")
        assert r.answer[0].ttl <= 1 and rec.count("example.test") == 1
        # Past the TTL it is asked again.
        time.sleep(1.2)
        assert addresses(ask(p, "example.test")) == ["192.0.2.10"]
        assert rec.count("example.test") == 2
        assert metric(p, "dns_forward_cache_hits_total") >= 2
        assert metric(p, "dns_forwarded_total") == 2
    finally:
        rec.stop()


def test_nxdomain_is_cached_from_the_soa(proxy_factory, echo_factory):
    rec = FakeRecursor()
    try:
        p = start(proxy_factory, echo_factory, rec)
        for _ in range(3):
            r = ask(p, "missing.test")
            assert r.rcode() == dns.rcode.NXDOMAIN
            assert r.authority and r.authority[0].rdtype == dns.rdatatype.SOA
        assert rec.count("missing.test") == 1
        # Without an SOA a negative answer is not cached.
        for _ in range(2):
            assert ask(p, "nosoa.test").rcode() == dns.rcode.NXDOMAIN
        assert rec.count("nosoa.test") == 2
        assert "status: NXDOMAIN" in dig(p, "missing.test")
    finally:
        rec.stop()


def test_concurrent_identical_queries_share_one_upstream_query(proxy_factory, echo_factory):
    rec = FakeRecursor()
    try:
        p = start(proxy_factory, echo_factory, rec)
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(lambda _: addresses(ask(p, "slow.test", timeout=10)),
                                    range(200)))
        assert all(a == ["192.0.2.11"] for a in answers)
        assert rec.count("slow.test") == 1
        assert metric(p, "dns_forward_coalesced_total") >= 1
    finally:
        rec.stop()


def test_truncated_answer_goes_over_tcp_for_tcp_clients(proxy_factory, echo_factory):
    rec = FakeRecursor()
    try:
        p = start(proxy_factory, echo_factory, rec)
        r = ask(p, "big.test", "TXT", use_edns=0, payload=1232)
        assert r.flags & dns.flags.TC
        r = ask(p, "big.test", "TXT", tcp=True)
        assert r.rcode() == dns.rcode.NOERROR and not r.flags & dns.flags.TC
        assert sum(len(rrset) for rrset in r.answer) == 20
        assert rec.count("big.test", "TXT", "tcp") == 1
        # Cached on the TCP side now.
        ask(p, "big.test", "TXT", tcp=True)
        assert rec.count("big.test", "TXT", "tcp") == 1
    finally:
        rec.stop()


def test_dead_recursor_gives_servfail_and_causeway_carries_on(proxy_factory, echo_factory):
    rec = FakeRecursor()
    p = start(proxy_factory, echo_factory, rec)
    rec.stop()
    t0 = time.time()
    r = ask(p, "gone.test", timeout=10)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert time.time() - t0 < 8
    # The authoritative side and the admin API are unaffected.
    r = ask(p, "nothing.internal")
    assert r.rcode() == dns.rcode.NXDOMAIN and r.flags & dns.flags.AA
    assert metric(p, "dns_forward_timeouts_total") >= 1
    assert metric(p, "dns_forward_servfail_total") >= 1
    status, _, _ = get(f"{p.admin_url}/metrics")
    assert status == 200


def test_names_in_the_domain_are_never_forwarded(proxy_factory, echo_factory):
    rec = FakeRecursor()
    try:
        p = start(proxy_factory, echo_factory, rec)
        for name, rdtype in [("internal", "SOA"), ("nothing.internal", "A"),
                             ("a.b.internal", "AAAA"), ("NS.Internal", "A")]:
            r = ask(p, name, rdtype)
            assert r.flags & dns.flags.AA, name
        assert "status: NXDOMAIN" in dig(p, "nothing.internal")
        # Other classes and zone transfers outside the domain are still refused.
        q = dns.message.make_query("example.test", "A", rdclass="CH")
        assert dns.query.udp(q, "127.0.0.1", port=p.dns_port,
                             timeout=5).rcode() == dns.rcode.REFUSED
        assert rec.total() == 0
    finally:
        rec.stop()
