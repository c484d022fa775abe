"""Real etcd for the integration tests: Debian's etcd-server (/usr/bin/etcd) started on loopback
in temp dirs, one member or a three-member cluster, stopped, paused (SIGSTOP) and resumed only
by the PIDs started here."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import free_port

ETCD = "/usr/bin/etcd"


def need_etcd():
    if not os.path.exists(ETCD):
        pytest.skip("etcd-server is not installed (scripts/install-deps.sh installs it)")


class Member:
    def __init__(self, name, client_port, peer_port, cluster, data_dir, state="new"):
        self.name = name
        self.client_port = client_port
        self.peer_port = peer_port
        self.cluster = cluster
        self.data_dir = data_dir
        self.state = state
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"etcd-{name}-", suffix=".log",
                                               delete=False)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.client_port}"

    def start(self):
        args = [ETCD, "--name", self.name, "--data-dir", self.data_dir,
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_port}",
                "--initial-cluster", self.cluster, "--initial-cluster-state", self.state,
                "--initial-cluster-token", "causeway-test",
                "--heartbeat-interval", "100", "--election-timeout", "1000",
                "--logger", "zap", "--log-outputs", "stderr", "--log-level", "error"]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def healthy(self):
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                return json.loads(r.read()).get("health") == "true"
        except Exception:  # noqa: BLE001 - any failure means not (yet) healthy
            return False

    def kill(self):
        if self.running():
            self.proc.send_signal(signal.SIGCONT)  # a paused member would not die of SIGTERM
            self.proc.kill()
            self.proc.wait()

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def output(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()


class EtcdCluster:
    """n members on 127.0.0.1; `endpoints` lists their client URLs."""

    def __init__(self, n=1):
        need_etcd()
        self.dir = tempfile.mkdtemp(prefix="causeway-etcd-")
        ports = [(free_port(), free_port()) for _ in range(n)]
        cluster = ",".join(f"m{i}=http://127.0.0.1:{p}" for i, (_, p) in enumerate(ports))
        self.members = [Member(f"m{i}", c, p, cluster, os.path.join(self.dir, f"m{i}"))
                        for i, (c, p) in enumerate(ports)]
        for m in self.members:
            m.start()
        self.wait_healthy()

    @property
    def endpoints(self):
        return [m.url for m in self.members]

    def wait_healthy(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(m.healthy() for m in self.members):
                return
            for m in self.members:
                if not m.running():
                    raise RuntimeError(f"etcd {m.name} exited:\n{m.output()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError("etcd did not become healthy:\n" +
                           "\n".join(m.output()[-1500:] for m in self.members))

    def restart(self, member):
        """Starts a killed member again on its data dir and ports."""
        member.state = "existing"
        member.start()
        self.wait_healthy()

    def stop(self):
        for m in self.members:
            m.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def etcd_factory():
    started = []

    def make(n=1):
        c = EtcdCluster(n)
        started.append(c)
        return c

    yield make
    for c in started:
        c.stop()
