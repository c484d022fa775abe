"""Bodies stream through with back-pressure and are never buffered whole: a 1 GiB upload
(Content-Length and chunked) and a 1 GiB download pass through exactly (deterministic
pseudo-random content, the same SHA-256 on both sides) while the proxy's RSS stays under 64 MiB,
and a client that stops reading does not make the proxy buffer."""
import hashlib
import json
import random
import socket
import time

import pytest

from conftest import SANITIZED, RssSampler, basic_config, rss_bytes, wait_for

GiB = 1 << 30
MiB = 1 << 20
RSS_LIMIT = 64 * MiB
# Under ASan everything is ~3-5x slower and RSS is meaningless: smaller sizes, no RSS bound.
UPLOAD = 256 * MiB if SANITIZED else GiB
CHUNKED_UPLOAD = 64 * MiB if SANITIZED else 256 * MiB
DOWNLOAD = 256 * MiB if SANITIZED else GiB
SLOW_DOWNLOAD = 64 * MiB if SANITIZED else 256 * MiB
IO_TIMEOUT = 60.0
STALL_POLLS = 5  # the upstream's progress unchanged over this many polls 0.1 s apart: blocked

PEAKS = {}


def vm_hwm(pid):
    """The kernel's own RSS high-water mark for the process (catches peaks between samples)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def check_rss(what, sampler):
    peak = sampler.stop()
    hwm = vm_hwm(sampler.pid)
    PEAKS[what] = peak
    print(f"{what}: peak proxy RSS {peak / MiB:.1f} MiB over {len(sampler.samples)} samples "
          f"(VmHWM {hwm / MiB:.1f} MiB)")
    assert sampler.samples, "no RSS samples were taken"
    if not SANITIZED:
        assert peak < RSS_LIMIT, (f"{what}: the proxy's RSS peaked at {peak / MiB:.1f} MiB "
                                  f"(limit {RSS_LIMIT / MiB:.0f} MiB): a body is being buffered")
        assert hwm < RSS_LIMIT, (f"{what}: the proxy's VmHWM reached {hwm / MiB:.1f} MiB "
                                 f"(limit {RSS_LIMIT / MiB:.0f} MiB) between samples")


class Reader:
    """Buffered reads from a socket: heads, exact byte counts, chunked bodies. Body bytes go
    through `sink(memoryview)` when one is given (hashing), never into a buffer of their own."""

    def __init__(self, sock):
        self.s = sock
        self.buf = bytearray()
        self.scratch = bytearray(MiB)

    def _more(self):
        n = self.s.recv_into(self.scratch)
        if n == 0:
            raise AssertionError("connection closed early")
        self.buf += memoryview(self.scratch)[:n]

    def head(self):
        """(start line, headers with lower-case names)."""
        while (i := self.buf.find(b"\r\n\r\n")) < 0:
            assert len(self.buf) < 1 << 16, "head too large"
            self._more()
        head = bytes(self.buf[:i]).decode("latin-1")
        del self.buf[:i + 4]
        lines = head.split("\r\n")
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        return lines[0], headers

    def response_head(self):
        start, headers = self.head()
        return int(start.split()[1]), headers

    def line(self):
        while b"\r\n" not in self.buf:
            self._more()
        i = self.buf.index(b"\r\n")
        out = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return out

    def count(self, n, sink=None, keep_edges=64):
        """Consumes exactly n bytes; returns (first bytes, last bytes). Reads straight into a
        scratch buffer once the buffered bytes are used up (no copies of the body)."""
        first = bytearray()
        last = bytearray()
        left = n

        def seen(mv):
            nonlocal first, last
            if sink:
                sink(mv)
            if len(first) < keep_edges:
                first += mv[:keep_edges - len(first)]
            last = (last + mv[-keep_edges:])[-keep_edges:]

        if self.buf:
            take = min(left, len(self.buf))
            seen(memoryview(self.buf)[:take])
            del self.buf[:take]
            left -= take
        view = memoryview(self.scratch)
        while left:
            k = self.s.recv_into(view, min(left, len(view)))
            if k == 0:
                raise AssertionError(f"connection closed with {left} of {n} body bytes missing")
            seen(view[:k])
            left -= k
        return bytes(first), bytes(last)

    def body(self, headers, sink=None, keep=64):
        """Reads the whole body; returns (length, first `keep` bytes, last `keep` bytes)."""
        if "content-length" in headers:
            n = int(headers["content-length"])
            f, l = self.count(n, sink, keep)
            return n, f, l
        assert "chunked" in headers.get("transfer-encoding", ""), headers
        total, first, last = 0, b"", b""
        while True:
            size = int(self.line().split(b";")[0], 16)
            if size == 0:
                while self.line():
                    pass
                return total, first, last
            f, l = self.count(size, sink, keep)
            if len(first) < keep:
                first = (first + f)[:keep]
            last = (last + l)[-keep:]
            total += size
            assert self.line() == b"", "bad chunk framing"


def content(size, piece=MiB):
    """Deterministic, non-constant bytes, piece by piece: pseudo-random, and each MiB carries its
    own index in its first 8 bytes, so a lost, repeated or reordered piece changes the hash.
    Yields views of one reused buffer: use each before asking for the next."""
    buf = bytearray(BLOCK)
    done, i = 0, 0
    while done < size:
        n = min(piece, size - done)
        buf[:8] = i.to_bytes(8, "little")
        yield memoryview(buf)[:n]
        done += n
        i += 1


BLOCK = random.Random(20261124).randbytes(MiB)


def new_hash():
    return hashlib.sha256()


def hashing_sink(c, srv):
    """Upstream for uploads: hashes the request body it receives (Content-Length or chunked, as
    the proxy frames it) and answers {"bytes": N, "sha256": HEX}."""
    r = Reader(c)
    c.settimeout(IO_TIMEOUT)
    start, headers = r.head()
    h = new_hash()
    n, _, _ = r.body(headers, sink=h.update)
    doc = json.dumps({"request": start, "bytes": n, "sha256": h.hexdigest()}).encode()
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(doc), doc))


class ContentSource:
    """Upstream for downloads: GET /dl?size=N answers N bytes of content(), Content-Length
    framed. `progress` is how many body bytes it has handed to the kernel so far; `digest` is
    the sha256 of what it sent, once it has sent everything."""

    def __init__(self):
        self.progress = 0
        self.digest = None

    def __call__(self, c, srv):
        r = Reader(c)
        c.settimeout(IO_TIMEOUT)
        start, _ = r.head()
        size = int(start.split()[1].partition("size=")[2])
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n" % size)
        h = new_hash()
        for piece in content(size):
            c.sendall(piece)
            h.update(piece)
            self.progress += len(piece)
        self.digest = h.hexdigest()


def download_request(s, size):
    s.sendall(f"GET /dl?size={size} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())


def check_same_content(up, src, n, size, got_hash):
    assert n == size, f"got {n} bytes, want {size}"
    assert up.wait_idle(IO_TIMEOUT) and src.digest, "the upstream did not finish sending"
    assert got_hash == src.digest, (
        f"the client received {n} bytes, but not the ones the upstream sent (sha256 "
        f"{got_hash} != {src.digest})")


def upload(port, size, chunked=False):
    """Sends `size` bytes of content(); returns (status, headers, body, sha256 of what was sent)."""
    h = new_hash()
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        framing = (b"Transfer-Encoding: chunked\r\n" if chunked
                   else f"Content-Length: {size}\r\n".encode())
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + framing + b"\r\n")
        sent = 0
        try:
            for piece in content(size):
                if chunked:
                    s.sendall(f"{len(piece):x}\r\n".encode())
                s.sendall(piece)
                h.update(piece)
                if chunked:
                    s.sendall(b"\r\n")
                sent += len(piece)
            if chunked:
                s.sendall(b"0\r\n\r\n")
        except OSError as e:
            raise AssertionError(f"upload broke off after {sent} of {size} bytes: {e!r}")
        r = Reader(s)
        status, headers = r.response_head()
        n, body, _ = r.body(headers, keep=1 << 16)
        assert n == len(body), f"unexpectedly large answer to an upload: {n} bytes"
        return status, headers, body, h.hexdigest()


def check_upload(port, size, chunked, sampler, what):
    t = time.time()
    status, _, body, sent_hash = upload(port, size, chunked=chunked)
    check_rss(f"{what} ({time.time() - t:.1f}s)", sampler)
    assert status == 200, body
    doc = json.loads(body)
    assert doc["bytes"] == size, f"the upstream got {doc['bytes']} of {size} bytes"
    assert doc["sha256"] == sent_hash, (
        f"{what}: the upstream received {size} bytes, but not the ones sent (sha256 "
        f"{doc['sha256']} != {sent_hash})")


def test_1gib_upload_content_length(raw_server, proxy_factory):
    up = raw_server(hashing_sink)
    p = proxy_factory(basic_config({"web": [up.addr]}))
    check_upload(p.port, UPLOAD, False, RssSampler(p.pid),
                 f"upload {UPLOAD >> 20} MiB (Content-Length)")


def test_chunked_upload(raw_server, proxy_factory):
    up = raw_server(hashing_sink)
    p = proxy_factory(basic_config({"web": [up.addr]}))
    check_upload(p.port, CHUNKED_UPLOAD, True, RssSampler(p.pid),
                 f"upload {CHUNKED_UPLOAD >> 20} MiB (chunked)")


def test_1gib_download(raw_server, proxy_factory):
    src = ContentSource()
    up = raw_server(src)
    p = proxy_factory(basic_config({"web": [up.addr]}))
    sampler = RssSampler(p.pid)
    t = time.time()
    h = new_hash()
    with socket.create_connection(("127.0.0.1", p.port), timeout=IO_TIMEOUT) as s:
        download_request(s, DOWNLOAD)
        r = Reader(s)
        status, headers = r.response_head()
        assert status == 200, headers
        n, _, _ = r.body(headers, sink=h.update)
    check_rss(f"download {DOWNLOAD >> 20} MiB ({time.time() - t:.1f}s)", sampler)
    check_same_content(up, src, n, DOWNLOAD, h.hexdigest())


def test_slow_reader_backpressure(raw_server, proxy_factory):
    src = ContentSource()
    up = raw_server(src)
    p = proxy_factory(basic_config({"web": [up.addr]}))
    base = rss_bytes(p.pid)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # keep kernel buffering small
    s.settimeout(IO_TIMEOUT)
    try:
        s.connect(("127.0.0.1", p.port))
        download_request(s, SLOW_DOWNLOAD)
        r = Reader(s)
        # Read the head only, then nothing while the upstream would happily send everything:
        # the proxy must stop reading from it, not buffer it, so the upstream ends up blocked
        # (its progress stops) with most of the body unsent.
        r.scratch = bytearray(4096)
        status, headers = r.response_head()
        r.scratch = bytearray(MiB)
        assert status == 200, headers
        sampler = RssSampler(p.pid)
        seen = []
        wait_for(lambda: seen.append(src.progress) or
                 (len(seen) >= STALL_POLLS and len(set(seen[-STALL_POLLS:])) == 1), IO_TIMEOUT,
                 lambda: f"the upstream never stopped sending: progress {seen[-STALL_POLLS:]}",
                 interval=0.1)
        stalled_at = src.progress
        stalled_peak = max(sampler.samples) if sampler.samples else 0
        check_rss(f"slow reader stalled on {SLOW_DOWNLOAD >> 20} MiB "
                  f"(RSS before the request {base / MiB:.1f} MiB)", sampler)
        assert p.p.poll() is None
        assert stalled_at <= SLOW_DOWNLOAD // 2, (
            f"the upstream sent {stalled_at >> 20} of {SLOW_DOWNLOAD >> 20} MiB to a client that "
            f"reads nothing: the proxy keeps reading from the upstream (no back-pressure)")
        # Then everything arrives, exactly.
        h = new_hash()
        n, _, _ = r.body(headers, sink=h.update)
        check_same_content(up, src, n, SLOW_DOWNLOAD, h.hexdigest())
        print(f"slow reader: stalled peak {stalled_peak / MiB:.1f} MiB, upstream blocked after "
              f"{stalled_at / MiB:.0f} MiB")
    finally:
        s.close()


@pytest.fixture(scope="module", autouse=True)
def report_peaks():
    yield
    if PEAKS:
        print("\npeak proxy RSS: " + ", ".join(f"{k}: {v / MiB:.1f} MiB" for k, v in PEAKS.items()))
