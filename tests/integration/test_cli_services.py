"""`causeway services` (SPEC 1, 5) on the real binary against a real registry: register from a
file or stdin, list, show, --json, deregister by SERVICE/ID and by a bare ID (unique, unknown,
ambiguous), bad registration files, the API's 400s surfacing field and detail, the admin address
from --admin, -c FILE or ./causeway.yaml, an unreachable, silent or foreign admin address, and a
registry that is off."""
import json
import re
import subprocess
import tempfile

import pytest

from conftest import BIN, basic_config, free_port, get

ACTIONS = ["list", "show", "register", "deregister"]


def cw(*args, input=None, cwd=None, timeout=30):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                          input=input, cwd=cwd,
                          stdin=None if input is not None else subprocess.DEVNULL)


def svc(p, *args, input=None):
    """`causeway services ARGS --admin` the proxy's admin listener."""
    return cw("services", *args, "--admin", f"127.0.0.1:{p.admin_port}", input=input)


def write(tmp_path, name, obj):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


@pytest.fixture
def registry_proxy(proxy_factory, echo_factory):
    echo = echo_factory()
    data_dir = tempfile.mkdtemp(prefix="causeway-cli-registry-")
    return proxy_factory(basic_config({"web": [echo.addr]},
                                      top=f"registry: {{ data_dir: {data_dir} }}"))


def api(p, path):
    status, _, body = get(p.admin_url + path)
    assert status == 200, body
    return json.loads(body)


def ids(p, service):
    return {i["id"] for i in api(p, f"/api/v1/services/{service}")["instances"]}


def table(stdout):
    """The rows of a table as lists of cells (columns are separated by 2+ spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in stdout.splitlines() if line.strip()]


def register(p, tmp_path, service, iid, **body):
    r = svc(p, "register", write(tmp_path, f"{service}-{iid}.json",
                                 {"service": service, "id": iid, **body}))
    assert r.returncode == 0, r.stderr
    return r


# ---- help and usage ----

def test_help_for_services_and_every_action():
    r = cw("services", "--help")
    assert r.returncode == 0, r.stderr
    for action in ACTIONS:
        assert action in r.stdout, r.stdout
    for action in ACTIONS:
        r = cw("services", action, "--help")
        assert r.returncode == 0, (action, r.stderr)
        assert action in r.stdout and "--admin" in r.stdout and "--json" in r.stdout, r.stdout


@pytest.mark.parametrize("args", [["show"], ["register"], ["deregister"], ["show", "a", "b"],
                                  ["list", "--no-such-flag"], ["nope"],
                                  ["list", "--admin", "not-an-address"],
                                  ["list", "--timeout", "soon"],
                                  ["show", "Bad_Name", "--admin", "127.0.0.1:9"],
                                  ["deregister", "a/b/c", "--admin", "127.0.0.1:9"]],
                         ids=["show_no_name", "register_no_file", "deregister_no_id",
                              "show_two_names", "unknown_flag", "unknown_action", "bad_admin",
                              "bad_timeout", "show_bad_name", "deregister_bad_id"])
def test_usage_errors_exit_2(args):
    r = cw("services", *args)
    assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
    assert r.stderr.strip(), r


# ---- register, list, show, --json ----

def test_register_list_show(registry_proxy, tmp_path):
    p = registry_proxy
    r = register(p, tmp_path, "api", "api-1", address="127.0.0.2", port=9001, tags=["canary"],
                 meta={"zone": "a"}, weight=5)
    m = re.fullmatch(r"registered api/api-1 \(index (\d+)\)\n", r.stdout)
    assert m, r.stdout
    assert int(m.group(1)) == api(p, "/api/v1/services/api/instances/api-1")["modify_index"]
    register(p, tmp_path, "api", "api-2", address="::1", port=9002,
             check={"ttl": "30s"})
    register(p, tmp_path, "api", "api-3", address="127.0.0.4", port=9003,
             check={"http": "/healthz", "interval": "2s", "timeout": "1s"})
    register(p, tmp_path, "web", "web-1", address="127.0.0.3", port=80,
             check={"tcp": True, "interval": "3s"})

    r = svc(p, "list")
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout)
    assert rows[0] == ["SERVICE", "INSTANCES", "PASSING", "TAGS"], r.stdout
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {"api", "web"}, r.stdout
    listing = {s["name"]: s for s in api(p, "/api/v1/services")["services"]}
    assert by_name["api"][1] == "3" and by_name["api"][3] == "canary", r.stdout
    assert by_name["api"][2] == str(listing["api"]["passing"]), r.stdout
    assert by_name["web"][1] == "1" and by_name["web"][3] == "-", r.stdout
    assert r.stdout == svc(p).stdout  # `causeway services` alone lists

    r = svc(p, "show", "api")
    assert r.returncode == 0, r.stderr
    head, _, details = r.stdout.partition("\n\n")
    rows = table(head)
    assert rows[0] == ["ID", "ADDRESS:PORT", "HEALTH", "WEIGHT", "TAGS", "CHECK"], r.stdout
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id["api-1"] == ["api-1", "127.0.0.2:9001", "passing", "5", "canary", "none"]
    assert by_id["api-2"][:2] == ["api-2", "[::1]:9002"], r.stdout
    assert by_id["api-2"][5] == "ttl 30s", r.stdout
    assert by_id["api-3"][5] == "http /healthz every 2s", r.stdout
    shown = {i["id"]: i for i in api(p, "/api/v1/services/api")["instances"]}
    for iid, row in by_id.items():  # health as the API reports it (it may move on in between)
        assert row[2] in ("passing", "unknown", "critical"), row
    # api-2 has had no heartbeat: not served, and the table is followed by why.
    assert shown["api-2"]["serving"] is False
    assert re.search(r"^api-2: (unknown|critical): \S", details, re.M), r.stdout
    assert not re.search(r"^api-1:", details, re.M), r.stdout

    r = svc(p, "show", "web")
    assert table(r.stdout)[1][5] == "tcp every 3s", r.stdout


def test_register_from_stdin_and_replace(registry_proxy):
    p = registry_proxy
    body = {"service": "jobs", "id": "j1", "address": "127.0.0.9", "port": 7000}
    r = svc(p, "register", "-", input=json.dumps(body))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("registered jobs/j1 (index "), r.stdout
    r = svc(p, "register", "-", input=json.dumps({**body, "weight": 7}))
    assert r.returncode == 0, r.stderr
    assert api(p, "/api/v1/services/jobs/instances/j1")["weight"] == 7


def test_json_prints_the_api_answers(registry_proxy, tmp_path):
    p = registry_proxy
    f = write(tmp_path, "a.json", {"service": "api", "id": "a1", "address": "127.0.0.2",
                                   "port": 81, "tags": ["blue"]})
    r = svc(p, "register", f, "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["instance"]["id"] == "a1" and j["instance"]["tags"] == ["blue"] and j["index"] >= 1

    r = svc(p, "list", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["services"] == api(p, "/api/v1/services")["services"]

    r = svc(p, "show", "api", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["service"] == "api" and [i["id"] for i in j["instances"]] == ["a1"]

    # The shared options also work before the action.
    r = cw("services", "--json", "--admin", f"127.0.0.1:{p.admin_port}", "show", "nobody")
    assert r.returncode == 0 and json.loads(r.stdout)["instances"] == [], r

    r = svc(p, "deregister", "a1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["deregistered"] == "a1"


def test_show_unknown_service_is_empty_not_an_error(registry_proxy):
    r = svc(registry_proxy, "show", "nobody")
    assert r.returncode == 0, r.stderr
    assert "no instances" in r.stdout
    r = svc(registry_proxy, "list")
    assert r.returncode == 0 and "no services" in r.stdout, r


# ---- deregister ----

def test_deregister_bare_id_and_service_slash_id(registry_proxy, tmp_path):
    p = registry_proxy
    register(p, tmp_path, "api", "a1", address="127.0.0.2", port=81)
    register(p, tmp_path, "api", "a2", address="127.0.0.2", port=82)
    register(p, tmp_path, "web", "w1", address="127.0.0.3", port=80)

    r = svc(p, "deregister", "a1")  # bare: found in api only
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"deregistered api/a1 \(index \d+\)\n", r.stdout), r.stdout
    assert ids(p, "api") == {"a2"}

    r = svc(p, "deregister", "web/w1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("deregistered web/w1 (index "), r.stdout
    assert ids(p, "web") == set()

    r = svc(p, "deregister", "a1")
    assert r.returncode == 1 and "no instance a1" in r.stderr, r
    r = svc(p, "deregister", "web/w1")
    assert r.returncode == 1 and "no instance w1 in service web" in r.stderr, r
    r = svc(p, "deregister", "web/a2")  # the id exists, but not in that service
    assert r.returncode == 1 and "no instance a2 in service web" in r.stderr, r
    assert ids(p, "api") == {"a2"}

    # SERVICE ID as two arguments (the SPEC's form).
    r = svc(p, "deregister", "api", "a2")
    assert r.returncode == 0 and r.stdout.startswith("deregistered api/a2 (index "), r
    assert ids(p, "api") == set()
    r = svc(p, "deregister", "api/a2", "a2")
    assert r.returncode == 2 and "not both" in r.stderr, r


def test_deregister_ambiguous_bare_id_changes_nothing(registry_proxy, tmp_path):
    p = registry_proxy
    register(p, tmp_path, "api", "x1", address="127.0.0.2", port=81)
    register(p, tmp_path, "web", "x1", address="127.0.0.3", port=80)
    r = svc(p, "deregister", "x1")
    assert r.returncode == 1, r
    assert "api/x1" in r.stderr and "web/x1" in r.stderr and "SERVICE/ID" in r.stderr, r.stderr
    assert ids(p, "api") == {"x1"} and ids(p, "web") == {"x1"}
    r = svc(p, "deregister", "api/x1")
    assert r.returncode == 0, r.stderr
    assert ids(p, "api") == set() and ids(p, "web") == {"x1"}


# ---- bad input and API refusals ----

@pytest.mark.parametrize("content,message", [
    ("{not json", "is not JSON"),
    ("", "is not JSON"),
    ('["api", "a1"]', "must hold one JSON object"),
    ('{"service": "api", "address": "127.0.0.2", "port": 80}', 'has no "id"'),
    ('{"id": "a1", "address": "127.0.0.2", "port": 80}', 'has no "service"'),
    ('{"service": "api", "id": 7, "address": "127.0.0.2", "port": 80}', '"id"'),
    ('{"service": "api", "id": "a/b", "address": "127.0.0.2", "port": 80}', "id: the instance id"),
], ids=["not_json", "empty", "array", "no_id", "no_service", "id_not_string", "id_not_label"])
def test_bad_registration_file(registry_proxy, tmp_path, content, message):
    r = svc(registry_proxy, "register", write(tmp_path, "bad.json", content))
    assert r.returncode == 1, r
    assert r.stderr.startswith("causeway: register: ") and message in r.stderr, r.stderr
    assert api(registry_proxy, "/api/v1/services")["services"] == []


def test_missing_registration_file(registry_proxy, tmp_path):
    r = svc(registry_proxy, "register", str(tmp_path / "absent.json"))
    assert r.returncode == 1 and "cannot read" in r.stderr, r


@pytest.mark.parametrize("body,line", [
    ({"address": "127.0.0.2", "port": 0}, "causeway: register: port: must be 1-65535, not 0"),
    ({"address": "127.0.0.2", "port": 80, "tags": ["ok", "Bad"]},
     "causeway: register: tags[1]: the tag"),
    ({"address": "127.0.0.2", "port": 80, "health": "passing"},
     "causeway: register: health: unknown field"),
    ({"port": 80}, "causeway: register: address: is required"),
], ids=["port_0", "bad_tag", "unknown_field", "no_address"])
def test_api_refusal_names_field_and_detail(registry_proxy, tmp_path, body, line):
    r = svc(registry_proxy, "register",
            write(tmp_path, "r.json", {"service": "api", "id": "a1", **body}))
    assert r.returncode == 1, r
    assert r.stderr.startswith(line), r.stderr
    assert r.stdout == ""
    assert api(registry_proxy, "/api/v1/services")["services"] == []


def test_api_refusal_with_json_prints_the_answer_too(registry_proxy, tmp_path):
    r = svc(registry_proxy, "register", write(tmp_path, "r.json", {
        "service": "api", "id": "a1", "address": "127.0.0.2", "port": 0}), "--json")
    assert r.returncode == 1, r
    j = json.loads(r.stdout)
    assert j["error"] == "invalid_instance" and j["field"] == "port", j
    assert "port: must be 1-65535" in r.stderr


# ---- finding the admin API ----

@pytest.mark.parametrize("args", [["list"], ["show", "api"], ["deregister", "api/a1"],
                                  ["deregister", "a1"]],
                         ids=["list", "show", "deregister", "deregister_bare"])
def test_unreachable_admin_exits_1(args):
    port = free_port()
    r = cw("services", *args, "--admin", f"127.0.0.1:{port}")
    assert r.returncode == 1, r
    assert f"cannot reach the admin API at 127.0.0.1:{port}: " in r.stderr, r.stderr


def test_unreachable_admin_on_register(tmp_path):
    port = free_port()
    f = write(tmp_path, "a.json", {"service": "api", "id": "a1", "address": "127.0.0.2",
                                   "port": 80})
    r = cw("services", "register", f, "--admin", f"127.0.0.1:{port}")
    assert r.returncode == 1 and "cannot reach the admin API" in r.stderr, r


def test_admin_that_never_answers_is_bounded(raw_server):
    def silent(c, srv):
        srv.read_head(c)
        while srv.recv(c):  # until the CLI gives up and closes
            pass

    s = raw_server(silent)
    r = cw("services", "list", "--admin", s.addr, "--timeout", "300ms")
    assert r.returncode == 1, r
    assert f"the admin API at {s.addr} did not answer GET /api/v1/services" in r.stderr, r.stderr


def test_admin_address_that_is_not_causeway(raw_server):
    s = raw_server()  # answers every request 200 "ok" (text/plain)
    r = cw("services", "list", "--admin", s.addr)
    assert r.returncode == 1, r
    assert "not the registry API's JSON" in r.stderr, r.stderr


def test_registry_disabled(proxy_factory, echo_factory, tmp_path):
    echo = echo_factory()
    p = proxy_factory(basic_config({"web": [echo.addr]}))
    f = write(tmp_path, "a.json", {"service": "api", "id": "a1", "address": "127.0.0.2",
                                   "port": 80})
    for args in (["list"], ["show", "api"], ["register", f], ["deregister", "api/a1"]):
        r = svc(p, *args)
        assert r.returncode == 1, (args, r)
        assert "has no registry" in r.stderr and "registry:" in r.stderr, (args, r.stderr)


def test_admin_address_from_config_and_cwd(registry_proxy, tmp_path):
    p = registry_proxy
    register(p, tmp_path, "api", "a1", address="127.0.0.2", port=81)
    r = cw("services", "show", "api", "-c", p.config)  # admin.listen of -c FILE
    assert r.returncode == 0 and "a1" in r.stdout, r
    r = cw("services", "show", "api", cwd=p.dir)  # ./causeway.yaml, as `causeway run` reads
    assert r.returncode == 0 and "a1" in r.stdout, r


def test_config_with_admin_port_0_or_errors_is_refused(tmp_path):
    path = write(tmp_path, "c.yaml", "admin: { listen: 127.0.0.1:0 }\n")
    r = cw("services", "list", "-c", path)
    assert r.returncode == 1 and "port 0" in r.stderr and "--admin" in r.stderr, r
    path = write(tmp_path, "bad.yaml", "admin: { listen: nowhere }\n")
    r = cw("services", "list", "-c", path)
    assert r.returncode == 1 and "bad.yaml" in r.stderr and "--admin" in r.stderr, r
