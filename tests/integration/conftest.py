"""Integration test fixtures: run the real causeway binary (proxy and echo backends) on
loopback, on free ports picked below the ephemeral range, and stop only the processes we started."""
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CAUSEWAY_BIN", os.path.join(ROOT, "build", "causeway"))


def _ephemeral_low():
    """The first port the kernel hands out to outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_port_rng = random.Random(os.getpid() ^ int(time.time() * 1000))
_recent_ports = []  # handed out lately: a test's proxy and admin ports must never coincide


def free_port(host="127.0.0.1"):
    """A port free for a listener to bind now, picked below the ephemeral range: a port the
    kernel just gave back from bind(0) can be taken by any outgoing connection (the proxies'
    own upstream connections, clients) before the process under test binds it."""
    high = min(_ephemeral_low(), 65536)
    low = max(10000, high - 12000)
    for _ in range(200):
        port = _port_rng.randrange(low, high)
        if port in _recent_ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _recent_ports.append(port)
        del _recent_ports[:-512]
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # crowded: any free port
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=10.0, proc=None):
    """Waits (bounded) until host:port accepts connections; fails at once, with the process's
    output, when `proc` (a Proc) exits first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            if proc is not None and proc.p.poll() is not None:
                raise RuntimeError(f"{proc.args[:3]} exited with {proc.p.returncode} before "
                                   f"{host}:{port} opened:\n{proc.output()[-3000:]}")
            time.sleep(0.02)
    raise TimeoutError(f"{host}:{port} did not open within {timeout}s")


class Proc:
    def __init__(self, args, env=None):
        self.args = args
        self.log = tempfile.NamedTemporaryFile(prefix="causeway-", suffix=".log", delete=False)
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env)

    @property
    def pid(self):
        return self.p.pid

    def output(self):
        with open(self.log.name, "r", errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


class Echo(Proc):
    def __init__(self, name="echo", instance=None, extra=(), host="127.0.0.1", port=None):
        self.host = host
        self.port = port or free_port(host)  # port: e.g. to restart a backend where it was
        args = [BIN, "echo", "--listen", f"{host}:{self.port}", "--name", name]
        if instance:
            args += ["--instance", instance]
        super().__init__(args + list(extra))
        wait_port(host, self.port, proc=self)

    @property
    def addr(self):
        return f"{self.host}:{self.port}"


class Proxy(Proc):
    """Runs `causeway run -c` on a YAML text; {port} and {admin} are filled in.
    `expected_exit` is the exit code the teardown demands after its SIGTERM (0: a clean drain);
    a test that kills the proxy on purpose sets it to what it expects, or None to skip it."""

    def __init__(self, yaml_text, port=None, admin=None, extra_env=None, wrap=None):
        # wrap: an optional command prefix that execs the proxy (e.g. ["prlimit", "--nofile=N:N"]),
        # so the PID stays the proxy's own.
        self.expected_exit = 0
        self.port = port or free_port()
        self.admin_port = admin or free_port()
        self.dir = tempfile.mkdtemp(prefix="causeway-test-")
        self.config = os.path.join(self.dir, "causeway.yaml")
        self.write(yaml_text)
        env = dict(os.environ)
        env.update(extra_env or {})
        super().__init__(list(wrap or []) + [BIN, "run", "-c", self.config], env=env)
        wait_port("127.0.0.1", self.port, proc=self)
        wait_port("127.0.0.1", self.admin_port, proc=self)

    def write(self, yaml_text):
        text = yaml_text.replace("{port}", str(self.port)).replace("{admin}", str(self.admin_port))
        with open(self.config, "w") as f:
            f.write(text)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self):
        return f"http://127.0.0.1:{self.admin_port}"

    def admin_get(self, path):
        with urllib.request.urlopen(self.admin_url + path, timeout=10) as r:
            return r.read().decode()

    def admin_json(self, path):
        return json.loads(self.admin_get(path))

    def reload_api(self):
        req = urllib.request.Request(self.admin_url + "/api/v1/reload", method="POST", data=b"")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


def http_request(port, raw, host="127.0.0.1", timeout=10.0, read_all=True):
    """Sends raw bytes, returns everything received until the server closes or timeout."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(raw)
        chunks = []
        s.settimeout(timeout)
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
                if not read_all:
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)


def get(url, headers=None, timeout=10, method="GET", data=None):
    """Returns (status, headers dict lower-cased, body bytes); never raises on HTTP errors."""
    req = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def basic_config(clusters, routes=None, extra_listener="", top=""):
    """A config with one listener on {port}, admin on {admin}.
    clusters: {name: [addr, ...]}; routes: list of (prefix, cluster)."""
    routes = routes or [("/", next(iter(clusters)))]
    out = [top, "workers: 2", "admin: { listen: 127.0.0.1:{admin} }", "listeners:",
           "  - name: edge", "    listen: 127.0.0.1:{port}", extra_listener, "    routes:"]
    for prefix, cluster in routes:
        out += [f"      - match: {{ path_prefix: {prefix} }}", f"        cluster: {cluster}"]
    out.append("clusters:")
    for name, addrs in clusters.items():
        out += [f"  - name: {name}", "    endpoints:"] + [f"      - {a}" for a in addrs]
    return "\n".join(line for line in out if line != "") + "\n"


@pytest.fixture
def echo_factory():
    started = []

    def make(*a, **kw):
        e = Echo(*a, **kw)
        started.append(e)
        return e

    yield make
    for e in started:
        e.stop(signal.SIGKILL)


@pytest.fixture
def proxy_factory():
    started = []

    def make(*a, **kw):
        p = Proxy(*a, **kw)
        started.append(p)
        return p

    yield make
    failures = []
    for p in started:  # stop every one, then report the first failure
        try:
            stop_and_check(p)
        except AssertionError as e:
            failures.append(e)
    if failures:
        raise failures[0]


def stop_and_check(p):
    """Stops a Proxy with SIGTERM (a drain) and fails on what a clean run never shows: an exit
    code other than p.expected_exit (a crash or a hang during the drain) or a sanitizer report."""
    rc = p.stop()
    out = p.output()
    # Sanitizer reports must fail the test that produced them.
    assert "ERROR: AddressSanitizer" not in out, out[-4000:]
    assert "ERROR: LeakSanitizer" not in out, out[-4000:]
    assert "runtime error:" not in out, out[-4000:]
    if p.expected_exit is not None:
        assert rc == p.expected_exit, (
            f"the proxy's exit code was {rc}, want {p.expected_exit} (a clean SIGTERM drain); "
            f"negative = killed by that signal, -9 = still running 20 s after SIGTERM:\n"
            f"{out[-4000:]}")


def wait_for(cond, timeout, what, interval=0.02):
    """Polls cond() until it returns a truthy value and returns that; fails with `what` after
    `timeout` seconds (what may be a callable giving the message then). A bound on a wait for
    a condition, never a claim about how long something takes."""
    deadline = time.time() + timeout
    last = None
    while True:
        last = cond()
        if last:
            return last
        if time.time() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"{what() if callable(what) else what} (not within {timeout}s; "
                         f"last: {last!r})")


# ---- Python upstreams for what `causeway echo` cannot play (garbage, counting, truncation) ----

import threading as _threading


def recv_until_closed(sock, timeout=5.0, limit=1 << 22):
    """Reads until the peer closes (returns (data, True)) or `timeout` passes without it
    (returns (data, False)). Bounded by time and by `limit` bytes."""
    deadline = time.time() + timeout
    chunks = []
    total = 0
    while time.time() < deadline and total < limit:
        sock.settimeout(max(0.01, deadline - time.time()))
        try:
            b = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, BrokenPipeError):
            return b"".join(chunks), True
        if not b:
            return b"".join(chunks), True
        chunks.append(b)
        total += len(b)
    return b"".join(chunks), False


class RawServer:
    """A threaded TCP server on 127.0.0.1 with a Python handler per connection:
    handler(conn, server). Every byte received through `server.recv(conn)` is kept in
    `server.received` (one bytearray per connection). Stop with stop(); fixture: raw_server."""

    def __init__(self, handler, host="127.0.0.1", backlog=64):
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(backlog)
        self.host, self.port = self.sock.getsockname()
        self.lock = _threading.Lock()
        self.received = []        # bytearray per accepted connection
        self.request_lines = []   # filled by http_handler
        self.conns = []
        self._bufs = {}
        self.active = 0           # connections whose handler is still running
        self.closed = False
        self.thread = _threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        return f"{self.host}:{self.port}"

    def _accept_loop(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            buf = bytearray()
            with self.lock:
                self.conns.append(c)
                self.received.append(buf)
                self._bufs[id(c)] = buf
                self.active += 1
            _threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            c.settimeout(10)
            self.handler(c, self)
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass
            with self.lock:
                self.active -= 1

    def recv(self, c, n=65536):
        b = c.recv(n)
        with self.lock:
            self._bufs[id(c)].extend(b)
        return b

    def read_head(self, c, pending=b""):
        """Returns (head, rest) or (None, buffered) when the peer closed first."""
        buf = bytearray(pending)
        while b"\r\n\r\n" not in buf:
            b = self.recv(c)
            if not b:
                return None, bytes(buf)
            buf += b
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        return head + b"\r\n\r\n", rest

    def wait_idle(self, timeout=5.0):
        """Polls (bounded) until no connection is open; returns whether that happened."""
        deadline = time.time() + timeout
        while True:
            with self.lock:
                if self.active == 0:
                    return True
            if time.time() >= deadline:
                return False
            time.sleep(0.005)

    def all_received(self):
        with self.lock:
            return [bytes(b) for b in self.received]

    def stop(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def http_handler(c, srv):
    """A minimal, strict-enough HTTP/1.1 origin: frames each request (Content-Length or chunked),
    records its request line in srv.request_lines, answers 200 "ok" and keeps the connection."""
    pending = b""
    while True:
        head, pending = srv.read_head(c, pending)
        if head is None:
            return
        line = head.split(b"\r\n", 1)[0]
        with srv.lock:
            srv.request_lines.append(line)
        hdrs = {}
        for l in head.split(b"\r\n")[1:]:
            k, sep, v = l.partition(b":")
            if sep:
                hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        if b"chunked" in b",".join(hdrs.get(b"transfer-encoding", [])).lower():
            # Read chunks until the last one and the empty trailer line.
            while True:
                while b"\r\n" not in pending:
                    b = srv.recv(c)
                    if not b:
                        return
                    pending += b
                size_line, _, pending = pending.partition(b"\r\n")
                try:
                    size = int(size_line.split(b";")[0], 16)
                except ValueError:
                    return  # garbage framing from the proxy: give up on this connection
                if size == 0:
                    while b"\r\n\r\n" not in b"\r\n" + pending:
                        b = srv.recv(c)
                        if not b:
                            return
                        pending += b
                    idx = (b"\r\n" + pending).index(b"\r\n\r\n")
                    pending = pending[idx + 2:]
                    break
                while len(pending) < size + 2:
                    b = srv.recv(c)
                    if not b:
                        return
                    pending += b
                pending = pending[size + 2:]
        elif b"content-length" in hdrs:
            n = int(hdrs[b"content-length"][0])
            while len(pending) < n:
                b = srv.recv(c)
                if not b:
                    return
                pending += b
            pending = pending[n:]
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")


@pytest.fixture
def raw_server():
    started = []

    def make(handler=http_handler, **kw):
        s = RawServer(handler, **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


# ---- markers, sanitizer flag, process memory and /metrics helpers ----

import re as _mre
import threading as _mthreading

SANITIZED = os.environ.get("CAUSEWAY_SANITIZED") == "1"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (~1 min); deselect with -m 'not slow'")


def rss_bytes(pid):
    """VmRSS of a process, in bytes (from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds on a thread until stop(); keeps the peak."""

    def __init__(self, pid, interval=0.1):
        self.pid, self.interval = pid, interval
        self.samples = []
        self._stop = _mthreading.Event()
        self._t = _mthreading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append(rss_bytes(self.pid))
            except (OSError, RuntimeError):
                return
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(timeout=5)
        return self.peak

    @property
    def peak(self):
        return max(self.samples) if self.samples else 0


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset(labels.items())): value}, plus {name: sum} under
    the plain name for convenience."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _mre.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$', line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        lab = frozenset(_mre.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels))
        out[(name, lab)] = value
        out[name] = out.get(name, 0.0) + value
    return out
