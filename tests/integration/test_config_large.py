"""`causeway check` on very large configs (issue 12, "Large configs"): checks are linear and
memory stays proportional to the config. Each run is bounded by a resource limit the kernel
enforces (`prlimit --cpu`: CPU seconds, SIGXCPU kills the process; `prlimit --as`: address
space, allocations fail), not by a wall-clock assertion.

Measured on the 2-core dev machine (2026-11-30), release build:
  200,000 endpoints in one cluster: before 103 s CPU (quadratic duplicate check), after 1.4 s.
  51,661 listeners: before 460 MB peak RSS and >400 MiB address space (yaml-cpp's node tree,
  ~8 KiB a listener) and 12 s CPU (pairwise address clash check); after 109 MB RSS, runs
  in 150 MiB of address space, 2.6 s CPU.
The limits sit between the two with a wide margin either way."""
import shutil
import subprocess

import pytest

from conftest import BIN, SANITIZED

MiB = 1 << 20

pytestmark = [
    pytest.mark.slow,
    # ASan reserves terabytes of address space and runs several times slower: the limits
    # below describe the release build.
    pytest.mark.skipif(SANITIZED, reason="resource limits are calibrated for the release build"),
    pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)"),
]


def check_under_limits(path, cpu_seconds, address_space=None):
    args = ["prlimit", f"--cpu={cpu_seconds}"]
    if address_space is not None:
        args.append(f"--as={address_space}")
    args += [BIN, "check", "-c", str(path)]
    return subprocess.run(args, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)


def endpoints_config(n):
    out = ["admin: { listen: 127.0.0.1:0 }\n",
           "listeners:\n  - name: edge\n    listen: 127.0.0.1:0\n    routes:\n",
           "      - match: { path_prefix: / }\n        cluster: big\n",
           "clusters:\n  - name: big\n    endpoints:\n"]
    out += [f"      - 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}:80\n" for i in range(n)]
    return "".join(out)


def listeners_config(n):
    out = ["admin: { listen: 127.0.0.1:0 }\nlisteners:\n"]
    out += [f"  - name: listener-{i}\n"
            f"    listen: 127.0.0.{1 + i // 60000}:{1024 + i % 60000}\n"
            "    routes:\n"
            "      - match: { path_prefix: / }\n"
            "        cluster: web\n"
            "        timeout: 3s\n" for i in range(n)]
    out.append("clusters:\n  - name: web\n    endpoints: [127.0.0.1:9001]\n")
    return "".join(out)


def test_200k_endpoints_are_checked_in_linear_time(tmp_path):
    path = tmp_path / "endpoints.yaml"
    path.write_text(endpoints_config(200_000))
    # After: ~1.4 CPU seconds. Before: the duplicate check compared every pair (11 s on the
    # issue's machine, 103 s here).
    r = check_under_limits(path, cpu_seconds=5)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert "ok (1 listeners, 1 clusters)" in r.stdout


def test_duplicate_endpoint_among_200k_is_found(tmp_path):
    text = endpoints_config(200_000) + "      - 10.0.0.7:80\n"
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    r = check_under_limits(path, cpu_seconds=5)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    line = text.count("\n")
    assert (f"dup.yaml:{line}:9: clusters[0].endpoints[200000]: duplicate endpoint 10.0.0.7:80"
            in r.stderr), r.stderr[-2000:]


def test_51661_listeners_fit_in_a_few_kib_each(tmp_path):
    path = tmp_path / "listeners.yaml"
    path.write_text(listeners_config(51_661))
    # After: runs in ~150 MiB of address space (~2.3 KiB a listener above the process's
    # ~20 MiB) and 2.6 CPU seconds. Before: yaml-cpp's node tree alone took ~6 KiB a listener
    # (460 MB peak RSS; bad_alloc under 400 MiB) and the clash check compared every pair.
    r = check_under_limits(path, cpu_seconds=10, address_space=256 * MiB)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert "ok (51661 listeners, 1 clusters)" in r.stdout
