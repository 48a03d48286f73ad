#!/usr/bin/env python3
"""A scriptable HTTP origin for the warmer's tests, standing behind real nginx edges.

Prints "PORT <n>" once listening on 127.0.0.1. Endpoints:
  /static/<path>?size=N     200, cacheable, Vary: Accept-Encoding (gzip when asked)
  /flaky/<key>?fail=N&retry_after=S   503 (with Retry-After S) N times per key, then 200
  /status/<code>            that status
  /slow?ms=N                waits N ms, then 200
  /private                  200 with Cache-Control: private
  /redirect?to=URL          302 to URL
  /busy?ms=N                waits N ms, then 200 (for concurrency and rate counting)
  /overloaded?ms=N          waits N ms, then 503
  /poison?ms=N              waits N ms, then 200 (the drills kill the warmer that fetches it)
  /sitemap.xml?n=N&host=H&prefix=P   a sitemap of N URLs http://H/static/P-<i>.html
  /stats                    JSON: requests, max_concurrent, max_per_second, by_path
"""
import gzip
import json
import os
import sys
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

lock = threading.Lock()
state = {"requests": 0, "concurrent": 0, "max_concurrent": 0, "max_per_second": 0}
starts = deque()
flaky = Counter()
by_path = Counter()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (an edge whose warmer was killed): nothing to send

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/stats":
            with lock:
                body = json.dumps({**state, "by_path": dict(by_path)}).encode()
            return self.reply(200, body, {"Content-Type": "application/json"})
        now = time.monotonic()
        with lock:
            state["requests"] += 1
            by_path[url.path] += 1
            state["concurrent"] += 1
            state["max_concurrent"] = max(state["max_concurrent"], state["concurrent"])
            starts.append(now)
            while starts and starts[0] < now - 1.0:
                starts.popleft()
            state["max_per_second"] = max(state["max_per_second"], len(starts))
        try:
            self.route(url.path, q)
        finally:
            with lock:
                state["concurrent"] -= 1

    def route(self, path, q):
        cacheable = {"Cache-Control": "public, max-age=600", "Vary": "Accept-Encoding"}
        if path.startswith("/static/"):
            body = b"x" * int(q.get("size", "1000"))
            headers = dict(cacheable)
            if "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body)
                headers["Content-Encoding"] = "gzip"
            return self.reply(200, body, headers)
        if path.startswith("/flaky/"):
            with lock:
                flaky[path] += 1
                n = flaky[path]
            if n <= int(q.get("fail", "1")):
                return self.reply(503, b"busy", {"Retry-After": q.get("retry_after", "1")})
            return self.reply(200, b"ok", cacheable)
        if path.startswith("/status/"):
            return self.reply(int(path.split("/")[2]), b"status")
        if path in ("/slow", "/busy", "/overloaded", "/poison"):
            time.sleep(int(q.get("ms", "100")) / 1000.0)
            return self.reply(503 if path == "/overloaded" else 200, b"done", cacheable)
        if path == "/redirect":
            return self.reply(302, b"", {"Location": q.get("to", "/")})
        if path == "/sitemap.xml":
            host, prefix = q.get("host", "cdn.example.test"), q.get("prefix", "sitemap")
            locs = "".join(f"<url><loc>http://{host}/static/{prefix}-{i}.html</loc></url>"
                           for i in range(1, int(q.get("n", "10")) + 1))
            body = ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns='
                    f'"http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>').encode()
            return self.reply(200, body, {"Content-Type": "application/xml"})
        if path == "/private":
            return self.reply(200, b"mine", {"Cache-Control": "private, max-age=60"})
        return self.reply(404, b"no such path")


def exit_with_parent():
    # The test that started this origin may crash; do not outlive it.
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main():
    threading.Thread(target=exit_with_parent, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
