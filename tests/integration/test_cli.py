"""The command line (SPEC 1): help and exit codes (0 ok, 1 runtime/config error, 2 usage),
`check` with file:line:column errors and "did you mean" hints, `run` without a config or on a
taken port, an unreachable upstream at start-up, `version`, and `causeway demo` end to end."""
import json
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import BIN, Proc, basic_config, free_port, get, wait_port

SUBCOMMANDS = ["run", "check", "demo", "echo", "trace", "services", "version"]


def cw(*args, cwd=None, timeout=30):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, stdin=subprocess.DEVNULL)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


GOOD = """workers: 2
admin: { listen: 127.0.0.1:0 }
listeners:
  - name: edge
    listen: 127.0.0.1:0
    routes:
      - match: { path_prefix: /api/ }
        cluster: api
        timeout: 3s
      - match: { path_prefix: / }
        direct_response: { status: 200, body: "hi" }
clusters:
  - name: api
    endpoints: [127.0.0.1:9]
"""


def test_top_level_help():
    r = cw("--help")
    assert r.returncode == 0, r
    for sub in SUBCOMMANDS:
        assert sub in r.stdout, f"--help should list {sub!r}: {r.stdout}"


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_subcommand_help(sub):
    r = cw(sub, "--help")
    assert r.returncode == 0, (sub, r)
    assert sub in r.stdout, f"`causeway {sub} --help` should mention {sub!r}: {r.stdout}"


@pytest.mark.parametrize("args", [["--no-such-flag"], ["run", "--no-such-flag"],
                                  ["check"], ["no-such-command"], []],
                         ids=["top_flag", "run_flag", "check_without_c", "unknown_command",
                              "nothing"])
def test_usage_errors_exit_2(args):
    r = cw(*args)
    assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
    assert r.stderr.strip(), "a usage error should say what is wrong on stderr"


def test_version():
    r = cw("version")
    assert r.returncode == 0, r
    assert re.search(r"causeway \d+\.\d+\.\d+", r.stdout), r.stdout


def test_check_good_config(tmp_path):
    path = write(tmp_path, "good.yaml", GOOD)
    r = cw("check", "-c", path)
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


@pytest.mark.parametrize("old,new,line,key,hint", [
    ("match: { path_prefix: /api/ }", "match: { path_prefx: /api/ }", 7,
     "path_prefx", "did you mean 'path_prefix'?"),
    ("timeout: 3s", "timeout: 3", 9, "listeners[0].routes[0].timeout", "did you mean 3s?"),
    ("        cluster: api\n", "        cluster: apii\n", 8, "listeners[0].routes[0].cluster",
     "did you mean 'api'?"),
], ids=["typo_key", "bad_duration", "unknown_cluster"])
def test_check_bad_config(tmp_path, old, new, line, key, hint):
    assert old in GOOD
    path = write(tmp_path, "bad.yaml", GOOD.replace(old, new, 1))
    r = cw("check", "-c", path)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    m = re.search(re.escape(path) + r":(\d+):(\d+): (.*)", r.stderr)
    assert m, f"the error must name file:line:column: {r.stderr}"
    assert int(m.group(1)) == line, r.stderr
    assert int(m.group(2)) >= 1
    assert key in m.group(3), f"the error must name {key!r}: {r.stderr}"
    assert hint in m.group(3), f"expected the hint {hint!r}: {r.stderr}"


def test_run_reports_config_errors_too(tmp_path):
    path = write(tmp_path, "bad.yaml", GOOD.replace("path_prefix: /api/", "path_prefx: /api/"))
    r = cw("run", "-c", path)
    assert r.returncode == 1, r
    assert "path_prefx" in r.stderr and "did you mean 'path_prefix'?" in r.stderr, r.stderr
    assert re.search(re.escape(path) + r":\d+:\d+:", r.stderr), r.stderr


def test_run_without_config_points_to_demo(tmp_path):
    r = cw("run", cwd=str(tmp_path))
    assert r.returncode == 1, r
    assert "causeway.yaml" in r.stderr, r.stderr
    assert "causeway demo" in r.stderr, r.stderr


def test_run_with_missing_file(tmp_path):
    r = cw("run", "-c", str(tmp_path / "nope.yaml"))
    assert r.returncode == 1, r
    assert "nope.yaml" in r.stderr, r.stderr


@pytest.mark.parametrize("which", ["listener", "admin"])
def test_run_on_a_taken_port_exits_1_naming_it(tmp_path, which):
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        other = free_port()
        lport, aport = (port, other) if which == "listener" else (other, port)
        cfg = GOOD.replace("admin: { listen: 127.0.0.1:0 }", f"admin: {{ listen: 127.0.0.1:{aport} }}")
        cfg = cfg.replace("    listen: 127.0.0.1:0", f"    listen: 127.0.0.1:{lport}")
        path = write(tmp_path, "c.yaml", cfg)
        r = cw("run", "-c", path, timeout=20)
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert str(port) in r.stderr, f"the message must name port {port}: {r.stderr}"
    finally:
        taken.close()


def test_unreachable_upstream_at_startup_is_not_fatal(echo_factory, proxy_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    web = echo_factory("web", "web-1")
    p = proxy_factory(basic_config({"api": [dead], "web": [web.addr]},
                                   [("/api/", "api"), ("/", "web")]))
    assert p.p.poll() is None, p.output()
    status, headers, body = get(p.url + "/api/x")
    assert status == 503, (status, body)
    assert headers.get("x-causeway-error") in ("upstream_connect_refused", "no_healthy_upstream")
    doc = json.loads(body)
    assert doc["cluster"] == "api" and doc["error"] == headers["x-causeway-error"]
    status, _, body = get(p.url + "/index.html")
    assert status == 200 and json.loads(body)["instance"] == "web-1"


class Demo(Proc):
    def __init__(self):
        self.port = free_port()
        self.admin_port = free_port()
        self.dns_port = free_port()
        super().__init__([BIN, "demo", "--listen", f"127.0.0.1:{self.port}",
                          "--admin", f"127.0.0.1:{self.admin_port}",
                          "--dns", f"127.0.0.1:{self.dns_port}"])


def wait_output(proc, needle, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = proc.output()
        if needle in out:
            return out
        assert proc.p.poll() is None, f"the demo exited early ({proc.p.returncode}): {out}"
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not printed within {timeout}s: {proc.output()}")


def test_demo_end_to_end():
    d = Demo()
    try:
        out = wait_output(d, "Ctrl-C")
        proxy = f"127.0.0.1:{d.port}"
        admin = f"127.0.0.1:{d.admin_port}"
        assert f"http://{proxy}" in out, out
        assert f"http://{admin}" in out, out
        assert re.search(r"curl .*http://" + re.escape(proxy), out), out
        assert re.search(r"curl .*http://" + re.escape(admin) + r"/metrics", out), out
        assert f"dig @127.0.0.1 -p {d.dns_port} api.internal" in out, out
        wait_port("127.0.0.1", d.port)
        wait_port("127.0.0.1", d.admin_port)

        # The services are in the registry, healthy, and in DNS.
        status, _, body = get(f"http://{admin}/api/v1/services")
        names = {s["name"]: s for s in json.loads(body)["services"]}
        assert names["api"]["passing"] == 3 and names["auth"]["passing"] == 2, names
        dig = subprocess.run(["dig", "+short", "@127.0.0.1", "-p", str(d.dns_port),
                              "api.internal"], capture_output=True, text=True, timeout=10)
        assert sorted(dig.stdout.split()) == ["127.0.0.1"] * 3, dig.stdout
        dig = subprocess.run(["dig", "+short", "@127.0.0.1", "-p", str(d.dns_port),
                              "canary.api.internal", "SRV"], capture_output=True, text=True,
                             timeout=10)
        assert "api-3.api.instance.internal." in dig.stdout, dig.stdout

        seen = {}
        for i in range(30):
            status, _, body = get(f"http://{proxy}/api/item{i}")
            assert status == 200, (status, body)
            doc = json.loads(body)
            assert doc["service"] == "api"
            seen[doc["instance"]] = seen.get(doc["instance"], 0) + 1
        assert set(seen) == {"api-1", "api-2", "api-3"}, seen

        auth = set()
        for _ in range(10):
            status, _, body = get(f"http://{proxy}/auth/login")
            assert status == 200
            doc = json.loads(body)
            assert doc["service"] == "auth"
            auth.add(doc["instance"])
        assert auth == {"auth-1", "auth-2"}, auth

        status, _, body = get(f"http://{proxy}/")
        assert status == 200 and json.loads(body)["service"] == "web"
        assert json.loads(body)["instance"] == "web-1"

        status, _, metrics = get(f"http://{admin}/metrics")
        assert status == 200
        api_total = 0.0
        for line in metrics.decode().splitlines():
            if line.startswith("causeway_requests_total{") and 'route="api"' in line:
                api_total += float(line.rsplit(" ", 1)[1])
        assert api_total >= 30, metrics.decode()[:3000]

        d.p.send_signal(signal.SIGINT)
        try:
            rc = d.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the demo did not stop within 20s of SIGINT: {d.output()}")
        assert rc == 0, (rc, d.output())
    finally:
        d.stop(signal.SIGKILL)
