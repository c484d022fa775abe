"""Integration test fixtures: run the real causeway binary (proxy and echo backends) on
loopback, with ports picked free by the OS, and stop only the processes we started."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("CAUSEWAY_BIN", os.path.join(ROOT, "build", "causeway"))


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
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
    def __init__(self, name="echo", instance=None, extra=(), host="127.0.0.1"):
        self.host = host
        self.port = free_port(host)
        args = [BIN, "echo", "--listen", f"{host}:{self.port}", "--name", name]
        if instance:
            args += ["--instance", instance]
        super().__init__(args + list(extra))
        wait_port(host, self.port)

    @property
    def addr(self):
        return f"{self.host}:{self.port}"


class Proxy(Proc):
    """Runs `causeway run -c` on a YAML text; {port} and {admin} are filled in."""

    def __init__(self, yaml_text, port=None, admin=None, extra_env=None):
        self.port = port or free_port()
        self.admin_port = admin or free_port()
        self.dir = tempfile.mkdtemp(prefix="causeway-test-")
        self.config = os.path.join(self.dir, "causeway.yaml")
        self.write(yaml_text)
        env = dict(os.environ)
        env.update(extra_env or {})
        super().__init__([BIN, "run", "-c", self.config], env=env)
        wait_port("127.0.0.1", self.port)
        wait_port("127.0.0.1", self.admin_port)

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
    for p in started:
        rc = p.stop()
        out = p.output()
        # Sanitizer reports must fail the test that produced them.
        assert "ERROR: AddressSanitizer" not in out, out[-4000:]
        assert "runtime error:" not in out, out[-4000:]
