#!/usr/bin/python3
"""Open COUNT keep-alive HTTP/1.1 connections to HOST:PORT, send ONE request on each, read
its whole response, then keep every connection open and idle until SIGTERM/SIGINT or --hold
seconds pass. Used by bench/load/run.sh to measure a proxy's memory per idle connection.

Output (stdout, and --ready-file once every connection is set up):
    READY ok=N failed=M elapsed=S
and on exit:
    DONE still_open=N closed_by_peer=M
Everything is bounded in time: --setup-timeout for the set-up phase, --hold for the idle phase.
Only 127.0.0.0/8 targets are accepted.

usage: idle_conns.py --port P [--host 127.0.0.1] [--count 10000] [--concurrency 200]
                     [--setup-timeout 90] [--hold 120] [--ready-file FILE] [--path /]
"""
import argparse
import errno
import ipaddress
import os
import resource
import selectors
import signal
import socket
import struct
import sys
import time


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        sys.exit(f"idle_conns: RLIMIT_NOFILE is {soft} (hard {hard}), need {need}")


class Conn:
    __slots__ = ("sock", "state", "buf", "deadline")

    def __init__(self, sock, deadline):
        self.sock = sock
        self.state = "connecting"  # -> "reading" -> "idle"
        self.buf = b""
        self.deadline = deadline


def response_complete(buf):
    """True when buf holds one whole response (Content-Length or chunked)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = buf[:end].decode("latin-1").lower().split("\r\n")
    body = buf[end + 4:]
    clen = None
    chunked = False
    for line in head[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if name == "content-length":
            clen = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
    if chunked:
        return body.endswith(b"0\r\n\r\n")
    if clen is not None:
        return len(body) >= clen
    return True  # 204/304 or no body


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=200,
                    help="connections being set up at once (keeps the accept queue short)")
    ap.add_argument("--setup-timeout", type=float, default=90.0)
    ap.add_argument("--hold", type=float, default=120.0)
    ap.add_argument("--ready-file")
    ap.add_argument("--path", default="/")
    a = ap.parse_args()
    if not ipaddress.ip_address(a.host) in ipaddress.ip_network("127.0.0.0/8"):
        sys.exit("idle_conns: only 127.0.0.0/8 targets are allowed")
    raise_nofile(a.count + 64)

    stop = False

    def on_signal(_sig, _frm):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    request = (f"GET {a.path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n"
               "User-Agent: idle_conns\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    setup_deadline = start + a.setup_timeout
    started = ok = failed = 0
    in_setup = 0
    idle = []

    def close(c):
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        # RST instead of FIN: no TIME_WAIT pile-up between proxies.
        try:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        c.sock.close()

    while (ok + failed < a.count) and not stop and time.monotonic() < setup_deadline:
        while started < a.count and in_setup < a.concurrency:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Conn(s, time.monotonic() + 10.0)
            err = s.connect_ex((a.host, a.port))
            started += 1
            if err not in (0, errno.EINPROGRESS):
                failed += 1
                s.close()
                continue
            sel.register(s, selectors.EVENT_WRITE, c)
            in_setup += 1
        for key, _ in sel.select(timeout=0.2):
            c = key.data
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    failed += 1
                    in_setup -= 1
                    close(c)
                    continue
                try:
                    c.sock.send(request)  # tiny: fits a fresh socket buffer in one go
                except OSError:
                    failed += 1
                    in_setup -= 1
                    close(c)
                    continue
                c.state = "reading"
                sel.modify(c.sock, selectors.EVENT_READ, c)
            elif c.state == "reading":
                try:
                    data = c.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    failed += 1
                    in_setup -= 1
                    close(c)
                    continue
                c.buf += data
                if response_complete(c.buf):
                    c.buf = b""
                    c.state = "idle"
                    ok += 1
                    in_setup -= 1
                    idle.append(c)  # stays registered for EVENT_READ: notices peer closes
            else:  # idle connection readable: the peer closed it (or sent junk)
                failed += 1
                ok -= 1
                close(c)
                c.state = "closed"
        now = time.monotonic()
        # per-connection set-up timeout
        for key in list(sel.get_map().values()):
            c = key.data
            if c.state in ("connecting", "reading") and now > c.deadline:
                failed += 1
                in_setup -= 1
                close(c)
                c.state = "closed"

    elapsed = time.monotonic() - start
    line = f"READY ok={ok} failed={failed + (a.count - started)} elapsed={elapsed:.1f}"
    print(line, flush=True)
    if a.ready_file:
        with open(a.ready_file + ".tmp", "w") as f:
            f.write(line + "\n")
        os.rename(a.ready_file + ".tmp", a.ready_file)

    closed_by_peer = 0
    hold_deadline = time.monotonic() + a.hold
    while not stop and time.monotonic() < hold_deadline:
        for key, _ in sel.select(timeout=0.5):
            c = key.data
            if c.state == "idle":
                try:
                    data = c.sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    closed_by_peer += 1
                    close(c)
                    c.state = "closed"
    still_open = sum(1 for c in idle if c.state == "idle")
    print(f"DONE still_open={still_open} closed_by_peer={closed_by_peer}", flush=True)
    for c in idle:
        if c.state == "idle":
            close(c)
    return 0


if __name__ == "__main__":
    sys.exit(main())
