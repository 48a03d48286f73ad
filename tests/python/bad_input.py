#!/usr/bin/env python3
"""Bad input, through the Python client the way a careless or hostile caller would send it:
every field at its limit (accepted) and one past it (INVALID_ARGUMENT naming the field and
the limit), hostile URLs, wrong credentials, an oversized and a malformed message. Each gets
a clear error naming the problem, and the services keep serving.

  bad_input.py PRODUCER TOKEN_FILE STRICT_WARMER REDIRECT_WARMER ORIGIN_PORT
STRICT_WARMER allows no private address; REDIRECT_WARMER allows 127.0.0.1 (the origin) and
follows redirects.
"""
import sys
import os
from pathlib import Path

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
import cdnwarm_client as cw  # noqa: E402

pb = cw.pb
failures = []


def expect(what, call, code, *needles):
    """The call fails with `code` and every needle in its message (None: it succeeds)."""
    try:
        call()
    except grpc.RpcError as e:
        if code is None:
            failures.append(f"{what}: refused: {e.code().name}: {e.details()}")
        elif e.code() != code or not all(n in (e.details() or "") for n in needles):
            failures.append(f"{what}: got {e.code().name}: {e.details()!r}; want {code.name} "
                            f"with {needles}")
        else:
            print(f"ok  {what}: {e.code().name}: {e.details()}")
        return
    if code is not None:
        failures.append(f"{what}: accepted; want {code.name}")
    else:
        print(f"ok  {what}: accepted")


def options(**kw):
    return pb.producer.TaskOptions(**kw)


def variant(name="v", headers=()):
    return pb.common.RequestVariant(
        name=name, headers=[pb.common.Header(name=n, value=v) for n, v in headers])


def main(producer_addr, token_file, strict_addr, redirect_addr, origin_port):
    token = Path(token_file).read_text().strip()
    p = cw.Producer(producer_addr, token, timeout=20)
    inv, denied = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED
    warm = lambda url, opts=None: (lambda: p.warm(url, opts))  # noqa: E731

    # Credentials.
    for what, t in (("no token", None), ("wrong token", "x" * 32)):
        bad = cw.Producer(producer_addr, t, timeout=10)
        expect(what, lambda: bad.warm("https://example.com/"),
               grpc.StatusCode.UNAUTHENTICATED, "bearer token" if t else "authorization")

    # Hostile URLs.
    expect("empty url", warm(""), inv, "url")
    expect("ftp scheme", warm("ftp://example.com/x"), inv, "url: scheme \"ftp\"")
    expect("javascript scheme", warm("javascript:alert(1)"), inv, "url")
    expect("file scheme", warm("file:///etc/passwd"), inv, "url")
    expect("userinfo", warm("https://user:pw@example.com/"), inv, "userinfo")
    # The WHATWG parser removes CR and LF (the canonical form has neither): no header can
    # be injected, and the URL is what a browser would fetch.
    expect("header injection defused", warm("https://example.com/a\r\nHost: evil"), None)
    expect("IPv4 part out of range", warm("http://192.168.0.257/"), inv, "IPv4 address")
    expect("forbidden host code point", warm("https://exa<mple.com/"), inv, "forbidden code point")
    for url in ("http://10.0.0.1/", "http://127.0.0.1/", "http://[::1]/",
                "http://169.254.169.254/latest/meta-data/", "http://[fd00::1]/",
                "http://2130706433/", "http://0x7f.1/"):
        expect(f"private address {url}", warm(url), denied)
    expect("localhost", warm("http://localhost:8080/"), denied, "RFC 6761")

    # Every field at its limit, then past it.
    base = "https://example.com/"
    expect("url at 4096 bytes", warm(base + "a" * (4096 - len(base))), None)
    expect("url at 4097 bytes", warm(base + "a" * (4097 - len(base))), inv, "4096")
    expect("8 variants", warm(base, options(variants=[variant(f"v{i}") for i in range(8)])), None)
    expect("9 variants", warm(base, options(variants=[variant(f"v{i}") for i in range(9)])),
           inv, "variants", "the limit is 8")
    hs = [(f"X-H{i}", "1") for i in range(17)]
    expect("16 headers", warm(base, options(variants=[variant("v", hs[:16])])), None)
    expect("17 headers", warm(base, options(variants=[variant("v", hs)])), inv, "the limit is 16")
    expect("header name 128", warm(base, options(variants=[variant("v", [("X" * 128, "1")])])),
           None)
    expect("header name 129", warm(base, options(variants=[variant("v", [("X" * 129, "1")])])),
           inv, "name", "128 bytes")
    expect("header value 1024",
           warm(base, options(variants=[variant("v", [("X-A", "v" * 1024)])])), None)
    expect("header value 1025",
           warm(base, options(variants=[variant("v", [("X-A", "v" * 1025)])])), inv,
           "value", "1024 bytes")
    expect("header value with CR LF",
           warm(base, options(variants=[variant("v", [("X-A", "a\r\nHost: evil")])])), inv,
           "control character")
    expect("an Authorization variant header",
           warm(base, options(variants=[variant("v", [("Authorization", "Bearer s3cr3t")])])),
           inv, 'header "Authorization" may not be set')
    expect("variant name 64", warm(base, options(variants=[variant("n" * 64)])), None)
    expect("variant name 65", warm(base, options(variants=[variant("n" * 65)])), inv, "64 bytes")
    regions = [f"r{i}" for i in range(65)]
    # The producer runs with --regions=eu: 64 well-formed names pass the count, and the
    # first one it does not know is named.
    expect("64 target regions", warm(base, options(target_regions=regions[:64])), inv,
           'target_regions[0]: region "r0" is not one of this deployment\'s regions (eu)')
    expect("a region with a typo", warm(base, options(target_regions=["eu", "ue"])), inv,
           'target_regions[1]: region "ue"')
    expect("65 target regions", warm(base, options(target_regions=regions)), inv,
           "target_regions")
    expect("source 128 bytes", warm(base, options(source="s" * 128)), None)
    expect("source 129 bytes", warm(base, options(source="s" * 129)), inv, "source")
    expect("job_id 64 bytes", lambda: p.get_job("j" * 64), grpc.StatusCode.NOT_FOUND)
    expect("job_id 65 bytes", lambda: p.get_job("j" * 65), inv, "job_id", "64 bytes")
    expect("1000 urls in one message", lambda: p.stub.WarmBatch(
        iter([pb.producer.WarmRequest(urls=[f"{base}{i}" for i in range(1000)])]), timeout=30),
        None)
    expect("1001 urls in one message", lambda: p.stub.WarmBatch(
        iter([pb.producer.WarmRequest(urls=[f"{base}{i}" for i in range(1001)])]), timeout=30),
        inv, "at most 1000 per message")
    expect("sitemap max_depth 6", lambda: p.warm_sitemap(base + "s.xml", max_depth=6), inv,
           "max_depth")
    expect("sitemap max_urls 1000001", lambda: p.warm_sitemap(base + "s.xml", max_urls=1000001),
           inv, "max_urls")
    expect("sitemap at a private address", lambda: p.warm_sitemap("http://10.1.2.3/s.xml"),
           denied, "sitemap_url")

    # Oversized and malformed messages.
    expect("a 100 KB message (limit 64 KB)", warm(base, options(source="s" * 100_000)),
           grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max")
    raw = p._channel.unary_unary("/cdnwarm.v1.Producer/Warm",
                                 request_serializer=lambda b: b,
                                 response_deserializer=lambda b: b)
    # gRPC C++ 1.51 refuses a request it cannot decode before any handler runs, with
    # UNIMPLEMENTED and no message: the code is all a client gets, from the library.
    try:
        raw(b"\x0a\xff\xff\xff\xff\x0f", timeout=10,
            metadata=[("authorization", f"Bearer {token}")])
        failures.append("bytes that are not a WarmRequest: accepted")
    except grpc.RpcError as e:
        print(f"ok  bytes that are not a WarmRequest: {e.code().name}")

    # The warmer: names resolving to private addresses and redirects to them.
    strict = pb.warmer_grpc.WarmerStub(cw.channel(strict_addr))
    redirecting = pb.warmer_grpc.WarmerStub(cw.channel(redirect_addr))

    def warm_now(url, w=redirecting):
        return w.WarmNow(pb.warmer.WarmNowRequest(url=url), timeout=30)

    def expect_failed(what, url, *needles, w=redirecting):
        try:
            r = warm_now(url, w)
        except grpc.RpcError as e:
            if e.code() == denied and all(n in e.details() for n in needles):
                print(f"ok  {what}: {e.code().name}: {e.details()}")
            else:
                failures.append(f"{what}: {e.code().name}: {e.details()}; want {needles}")
            return
        text = str(r)
        if r.outcome != pb.common.OUTCOME_FAILED or not all(n in text for n in needles):
            failures.append(f"{what}: not refused with {needles}: {text}")
        else:
            print(f"ok  {what}: FAILED: {r.error}")

    expect_failed("a name resolving to loopback", f"http://localhost:{origin_port}/static/a",
                  "refused before connecting: address", "loopback", w=strict)
    origin = f"http://127.0.0.1:{origin_port}"
    expect_failed("a redirect to a private address",
                  f"{origin}/redirect?to=http://10.0.0.1/x", "10.0.0.1")
    expect_failed("a redirect to the metadata address",
                  f"{origin}/redirect?to=http://169.254.169.254/latest/meta-data/",
                  "169.254.169.254")
    expect_failed("a redirect to another scheme", f"{origin}/redirect?to=file:///etc/passwd",
                  "file")

    # Concurrent streams per connection (the producer runs with --max_concurrent_streams=2):
    # a third watch on one connection waits until another ends.
    job = p.warm("https://example.com/never-warmed").job_id  # no warmer: never done
    c = cw.Producer(producer_addr, token, timeout=20)
    open_watches = [c.stub.WatchJob(pb.producer.WatchJobRequest(job_id=job), timeout=60)
                    for _ in range(2)]
    for w_ in open_watches:
        next(w_)  # each has its first state: both streams are open
    third = c.stub.WatchJob(pb.producer.WatchJobRequest(job_id=job), timeout=2)
    try:
        next(third)
        failures.append("a third concurrent stream on one connection was served")
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            failures.append(f"third stream: {e.code().name}: {e.details()}")
        else:
            print("ok  a third concurrent stream waits (DEADLINE_EXCEEDED after 2 s)")
    open_watches[0].cancel()
    fourth = c.stub.WatchJob(pb.producer.WatchJobRequest(job_id=job), timeout=20)
    if next(fourth).job_id != job:
        failures.append("the stream after one ended was not served")
    else:
        print("ok  once one stream ended, the next was served")
    fourth.cancel()
    open_watches[1].cancel()
    c.close()

    # Still serving.
    expect("a good URL after all of that", warm("https://example.com/still-serving"), None)
    ok = warm_now(f"{origin}/static/after")
    # Fetched whole from the origin itself, which is not a cache: UNVERIFIED.
    if ok.outcome != pb.common.OUTCOME_UNVERIFIED or ok.http_status != 200:
        failures.append(f"the warmer stopped warming: {ok}")
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6]))
