"""Bodies stream through with back-pressure and are never buffered whole: a 1 GiB upload
(Content-Length and chunked) and a 1 GiB download pass through exactly while the proxy's RSS
stays under 64 MiB, and a client that stops reading does not make the proxy buffer."""
import json
import socket
import time

import pytest

from conftest import SANITIZED, RssSampler, basic_config, rss_bytes

GiB = 1 << 30
MiB = 1 << 20
RSS_LIMIT = 64 * MiB
# Under ASan everything is ~3-5x slower and RSS is meaningless: smaller sizes, no RSS bound.
UPLOAD = 256 * MiB if SANITIZED else GiB
CHUNKED_UPLOAD = 64 * MiB if SANITIZED else 256 * MiB
DOWNLOAD = 256 * MiB if SANITIZED else GiB
SLOW_DOWNLOAD = 64 * MiB if SANITIZED else 256 * MiB
IO_TIMEOUT = 60.0

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
    """Buffered reads from a socket: head, exact byte counts, chunked bodies."""

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
        while (i := self.buf.find(b"\r\n\r\n")) < 0:
            assert len(self.buf) < 1 << 16, "response head too large"
            self._more()
        head = bytes(self.buf[:i]).decode("latin-1")
        del self.buf[:i + 4]
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    def line(self):
        while b"\r\n" not in self.buf:
            self._more()
        i = self.buf.index(b"\r\n")
        out = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return out

    def count(self, n, keep_edges=64):
        """Consumes exactly n bytes; returns (first bytes, last bytes). Reads straight into a
        scratch buffer once the buffered bytes are used up (no copies of the body)."""
        first = bytearray()
        last = bytearray()
        left = n

        def seen(mv):
            nonlocal first, last
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

    def body(self, headers, keep=64):
        """Reads the whole body; returns (length, first `keep` bytes, last `keep` bytes)."""
        if "content-length" in headers:
            n = int(headers["content-length"])
            f, l = self.count(n, keep)
            return n, f, l
        assert "chunked" in headers.get("transfer-encoding", ""), headers
        total, first, last = 0, b"", b""
        while True:
            size = int(self.line().split(b";")[0], 16)
            if size == 0:
                while self.line():
                    pass
                return total, first, last
            f, l = self.count(size, keep)
            if len(first) < keep:
                first = (first + f)[:keep]
            last = (last + l)[-keep:]
            total += size
            assert self.line() == b"", "bad chunk framing"


def upload(port, size, chunked=False, piece=MiB):
    block = memoryview(b"u" * piece)
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        framing = (b"Transfer-Encoding: chunked\r\n" if chunked
                   else f"Content-Length: {size}\r\n".encode())
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + framing + b"\r\n")
        sent = 0
        try:
            while sent < size:
                n = min(piece, size - sent)
                if chunked:
                    s.sendall(f"{n:x}\r\n".encode())
                s.sendall(block[:n])
                if chunked:
                    s.sendall(b"\r\n")
                sent += n
            if chunked:
                s.sendall(b"0\r\n\r\n")
        except OSError as e:
            raise AssertionError(f"upload broke off after {sent} of {size} bytes: {e!r}")
        r = Reader(s)
        status, headers = r.head()
        n, body, _ = r.body(headers, keep=1 << 16)
        assert n == len(body), f"unexpectedly large answer to an upload: {n} bytes"
        return status, headers, body


def test_1gib_upload_content_length(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]}))
    sampler = RssSampler(p.pid)
    t = time.time()
    status, _, body = upload(p.port, UPLOAD)
    secs = time.time() - t
    check_rss(f"upload {UPLOAD >> 20} MiB (Content-Length, {secs:.1f}s)", sampler)
    assert status == 200, body
    doc = json.loads(body)
    assert doc["body_bytes"] == UPLOAD, f"backend got {doc['body_bytes']} of {UPLOAD} bytes"


def test_chunked_upload(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]}))
    sampler = RssSampler(p.pid)
    t = time.time()
    status, _, body = upload(p.port, CHUNKED_UPLOAD, chunked=True)
    secs = time.time() - t
    check_rss(f"upload {CHUNKED_UPLOAD >> 20} MiB (chunked, {secs:.1f}s)", sampler)
    assert status == 200, body
    doc = json.loads(body)
    assert doc["body_bytes"] == CHUNKED_UPLOAD, \
        f"backend got {doc['body_bytes']} of {CHUNKED_UPLOAD} bytes"


def test_1gib_download(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]}))
    sampler = RssSampler(p.pid)
    t = time.time()
    with socket.create_connection(("127.0.0.1", p.port), timeout=IO_TIMEOUT) as s:
        s.sendall(f"GET /dl?size={DOWNLOAD} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                  .encode())
        r = Reader(s)
        status, headers = r.head()
        assert status == 200, headers
        n, first, last = r.body(headers)
    secs = time.time() - t
    check_rss(f"download {DOWNLOAD >> 20} MiB ({secs:.1f}s)", sampler)
    assert n == DOWNLOAD, f"got {n} bytes, want {DOWNLOAD}"
    assert first.startswith(b'{"service":"web"') and last.endswith(b"\n"), (first, last)


def test_slow_reader_backpressure(echo_factory, proxy_factory):
    e = echo_factory("web")
    p = proxy_factory(basic_config({"web": [e.addr]}))
    base = rss_bytes(p.pid)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # keep kernel buffering small
    s.settimeout(IO_TIMEOUT)
    try:
        s.connect(("127.0.0.1", p.port))
        s.sendall(f"GET /slow?size={SLOW_DOWNLOAD} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                  .encode())
        r = Reader(s)
        # Read the head only, then nothing for 2 s while the backend would happily send
        # everything: the proxy must stop reading from it, not buffer it.
        r.scratch = bytearray(4096)
        status, headers = r.head()
        r.scratch = bytearray(MiB)
        assert status == 200, headers
        sampler = RssSampler(p.pid)
        time.sleep(2.0)
        stalled_peak = max(sampler.samples) if sampler.samples else 0
        check_rss(f"slow reader stalled 2s on {SLOW_DOWNLOAD >> 20} MiB "
                  f"(RSS before the request {base / MiB:.1f} MiB)", sampler)
        assert p.p.poll() is None
        # Then everything arrives, exactly.
        n, first, last = r.body(headers)
        assert n == SLOW_DOWNLOAD, f"got {n} bytes, want {SLOW_DOWNLOAD}"
        assert first.startswith(b'{"service":"web"') and last.endswith(b"\n")
        print(f"slow reader: stalled peak {stalled_peak / MiB:.1f} MiB")
    finally:
        s.close()


@pytest.fixture(scope="module", autouse=True)
def report_peaks():
    yield
    if PEAKS:
        print("\npeak proxy RSS: " + ", ".join(f"{k}: {v / MiB:.1f} MiB" for k, v in PEAKS.items()))
