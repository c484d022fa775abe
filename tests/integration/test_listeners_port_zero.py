"""Port-0 listeners: each gets a kernel-chosen port of its own (two used to share one socket,
so the second was unreachable), shared by that listener's workers, kept across reloads, shown
by /api/v1/listeners; a port-0 listener added by reload gets a fresh port too."""
import time

from conftest import get


def config(extra_names, body_suffix=""):
    """`edge` on {port} plus one direct-response listener on 127.0.0.1:0 per name."""
    lines = ["workers: 2", "admin: { listen: 127.0.0.1:{admin} }", "listeners:",
             "  - name: edge", "    listen: 127.0.0.1:{port}", "    routes:",
             "      - match: { path_prefix: / }",
             '        direct_response: { status: 200, body: "edge" }']
    for name in extra_names:
        lines += [f"  - name: {name}", "    listen: 127.0.0.1:0", "    routes:",
                  "      - match: { path_prefix: / }",
                  f'        direct_response: {{ status: 200, body: "{name}{body_suffix}" }}']
    return "\n".join(lines) + "\n"


def listeners(p):
    return {l["name"]: l for l in p.admin_json("/api/v1/listeners")}


def port_of(l):
    host, _, port = l["address"].rpartition(":")
    assert host == "127.0.0.1", l
    return int(port)


def answers(port, want, tries=8):
    """`want` from every one of `tries` fresh connections (spread over the workers)."""
    for _ in range(tries):
        status, _, body = get(f"http://127.0.0.1:{port}/x", {"Connection": "close"}, timeout=3)
        if status != 200 or body != want.encode():
            return False
    return True


def wait_for(cond, timeout=5.0):
    deadline = time.time() + timeout
    while not cond():
        if time.time() >= deadline:
            return False
        time.sleep(0.02)
    return True


def test_two_port_zero_listeners_each_answer_on_their_own_port(proxy_factory):
    p = proxy_factory(config(["one", "two"]))
    ls = listeners(p)
    assert set(ls) == {"edge", "one", "two"}, ls
    one, two = port_of(ls["one"]), port_of(ls["two"])
    assert ls["one"]["configured_address"] == ls["two"]["configured_address"] == "127.0.0.1:0"
    assert one != 0 and two != 0 and one != two, ls
    assert answers(one, "one"), "listener 'one' does not answer on its own port"
    assert answers(two, "two"), "listener 'two' does not answer on its own port"

    # A reload keeps each port-0 listener's port (and socket); one added by the reload gets a
    # port of its own.
    p.write(config(["one", "two", "three"], body_suffix="-v2"))
    status, doc = p.reload_api()
    assert status == 200, doc
    ls = listeners(p)
    assert port_of(ls["one"]) == one and port_of(ls["two"]) == two, ls
    three = port_of(ls["three"])
    assert three not in (0, one, two, p.port), ls
    assert answers(one, "one-v2") and answers(two, "two-v2") and answers(three, "three-v2")
    assert answers(p.port, "edge")
