"""Reload under resource exhaustion, and refused reloads in the log.
- A reload into more listeners than descriptors allow (prlimit 128, 81 listeners x 2 workers)
  is refused with the reason (it used to answer "reloaded" with half the sockets missing); the
  old listeners keep serving, and a later good reload works.
- At the descriptor limit (held client connections), the admin still answers and a reload
  still reads its config file (descriptors held back for the control plane); the accept loops
  shed and count instead of spinning.
- Every refused reload, by the API or by SIGHUP, bind failure included, logs its reasons."""
import os
import signal
import socket
import time

from conftest import get, parse_metrics

NOFILE = 128


def config(n_extra=0, body="edge"):
    lines = ["workers: 2", "admin: { listen: 127.0.0.1:{admin} }", "listeners:",
             "  - name: edge", "    listen: 127.0.0.1:{port}", "    routes:",
             "      - match: { path_prefix: / }",
             f'        direct_response: {{ status: 200, body: "{body}" }}']
    for i in range(n_extra):
        lines += [f"  - name: extra{i}", "    listen: 127.0.0.1:0", "    routes:",
                  "      - match: { path_prefix: / }",
                  f'        direct_response: {{ status: 200, body: "extra{i}" }}']
    return "\n".join(lines) + "\n"


def with_listener_on(port, body="edge"):
    return config(body=body) + "\n".join([
        "  - name: taken", f"    listen: 127.0.0.1:{port}", "    routes:",
        "      - match: { path_prefix: / }",
        '        direct_response: { status: 200, body: "taken" }']) + "\n"


def generation(p):
    return p.admin_json("/api/v1/config")["generation"]


def serves(p, want, n=12):
    for i in range(n):
        status, _, body = get(p.url + f"/c{i}", {"Connection": "close"}, timeout=3)
        if (status, body) != (200, want.encode()):
            return False
    return True


def wait_log(p, text, count=1, timeout=5.0):
    deadline = time.time() + timeout
    while p.output().count(text) < count:
        if time.time() >= deadline:
            return False
        time.sleep(0.02)
    return True


def limited(proxy_factory, text):
    p = proxy_factory(text, wrap=["prlimit", f"--nofile={NOFILE}:{NOFILE}"])
    with open(f"/proc/{p.pid}/limits") as f:
        line = next(l for l in f.read().splitlines() if "open files" in l)
    assert f" {NOFILE} " in f" {line} ", line
    return p


def test_reload_into_more_listeners_than_descriptors_is_refused(proxy_factory):
    p = limited(proxy_factory, config())
    gen = generation(p)
    p.write(config(81))
    status, doc = p.reload_api()
    assert status == 400, f"a reload that cannot open its sockets must be refused: {status} {doc}"
    assert doc["error"] == "config_invalid" and doc["generation"] == gen, doc
    assert any("cannot listen" in e and "Too many open files" in e for e in doc["errors"]), doc
    assert generation(p) == gen
    # Nothing of it was applied: the old listener serves every client, the new ones are absent.
    assert serves(p, "edge"), "the old listener must keep serving after a refused reload"
    assert [l["name"] for l in p.admin_json("/api/v1/listeners")] == ["edge"]
    assert wait_log(p, "reload refused"), p.output()[-3000:]
    assert "Too many open files" in p.output()

    # A later good reload works (the config file is readable, the descriptors came back).
    p.write(config(3, body="edge-v2"))
    status, doc = p.reload_api()
    assert status == 200, doc
    assert serves(p, "edge-v2")
    ls = {l["name"]: l["address"] for l in p.admin_json("/api/v1/listeners")}
    assert set(ls) == {"edge", "extra0", "extra1", "extra2"}, ls
    for i in range(3):
        port = int(ls[f"extra{i}"].rpartition(":")[2])
        status, _, body = get(f"http://127.0.0.1:{port}/", {"Connection": "close"}, timeout=3)
        assert (status, body) == (200, f"extra{i}".encode())


def test_admin_and_reload_work_at_the_descriptor_limit(proxy_factory):
    p = limited(proxy_factory, config())
    # Each path once before the limit: under UBSan (the ASan pass) the first check of each
    # type with a vtable needs a descriptor of its own, which the exhausted proxy would lack.
    assert get(p.admin_url + "/healthz")[0] == 200 and serves(p, "edge", n=2)
    p.admin_get("/metrics")
    assert p.reload_api()[0] == 200
    held = []
    try:
        # More idle clients than the proxy has descriptors: it holds what it can and sheds the
        # rest with a clean close.
        for _ in range(NOFILE + 20):
            held.append(socket.create_connection(("127.0.0.1", p.port), timeout=10))
        deadline = time.time() + 10
        while True:
            m = parse_metrics(p.admin_get("/metrics"))
            if m.get(("causeway_accept_errors_total", frozenset({("reason", "emfile")})), 0) > 0:
                break
            assert time.time() < deadline, "the workers never ran out of descriptors"
            time.sleep(0.05)
        assert m["causeway_accept_shed_total"] > 0, m
        # At the limit: health, metrics and a reload (which reads the config file) all work.
        status, _, body = get(p.admin_url + "/healthz", timeout=5)
        assert status == 200, body
        p.write(config(body="edge-v2"))
        status, doc = p.reload_api()
        assert status == 200, doc
    finally:
        for s in held:
            s.close()
    deadline = time.time() + 10
    while not serves(p, "edge-v2", n=1):
        assert time.time() < deadline, "the proxy did not recover once descriptors freed up"
        time.sleep(0.05)
    assert serves(p, "edge-v2")


def test_every_refused_reload_is_logged_with_its_reasons(proxy_factory):
    p = proxy_factory(config())
    gen = generation(p)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p.write(with_listener_on(port))
        status, doc = p.reload_api()
        assert status == 400 and any("Address already in use" in e for e in doc["errors"]), doc
        assert wait_log(p, "reload refused", 1), p.output()[-3000:]
        assert f"listener taken: cannot listen on 127.0.0.1:{port}: Address already in use" \
            in p.output()
        os.kill(p.pid, signal.SIGHUP)
        assert wait_log(p, "reload refused", 2), \
            "a reload refused after SIGHUP must be logged too:\n" + p.output()[-3000:]
        assert p.output().count(f"cannot listen on 127.0.0.1:{port}") >= 2
    # A bad config by SIGHUP is logged as well.
    p.write(config().replace("path_prefix", "path_prefx"))
    os.kill(p.pid, signal.SIGHUP)
    assert wait_log(p, "reload refused", 3), p.output()[-3000:]
    assert "path_prefx" in p.output()
    assert generation(p) == gen
    assert serves(p, "edge")
