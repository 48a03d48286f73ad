"""A Python client of cdnwarm's gRPC contracts (grpcio), generated from proto/.

The stubs are generated from the .proto files next to this module on first use (with
grpcio-tools) into a cache folder keyed by the files' content, so they always match the
contracts of this checkout and are never committed.

    import cdnwarm_client as cw
    producer = cw.Producer("localhost:50051")
    reply = producer.warm_batch(["https://www.example.com/a", "https://www.example.com/b"])
    for job in producer.watch(reply.job_id):
        ...

`cw.pb` is the generated message module namespace (cw.pb.producer.WarmRequest, ...).
"""
import hashlib
import importlib
import os
import sys
import tempfile
import types
from pathlib import Path

import grpc

PROTO_ROOT = Path(__file__).resolve().parent.parent / "proto"
PROTOS = ["cdnwarm/v1/common.proto", "cdnwarm/v1/producer.proto",
          "cdnwarm/v1/bridge.proto", "cdnwarm/v1/warmer.proto"]


def _cache_dir():
    base = os.environ.get("CDNWARM_CACHE") or os.path.expanduser("~/.cache/cdnwarm")
    digest = hashlib.sha256()
    for name in PROTOS:
        digest.update(name.encode())
        digest.update((PROTO_ROOT / name).read_bytes())
    return Path(base) / "python-stubs" / digest.hexdigest()[:16]


def _generate(out):
    """Runs protoc (grpcio-tools) into a temporary folder and renames it into place, so a
    concurrent first use never sees half-written stubs."""
    from grpc_tools import protoc
    import grpc_tools
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = ["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}", f"--python_out={tmp}",
            f"--grpc_python_out={tmp}"] + [str(PROTO_ROOT / p) for p in PROTOS]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed for {PROTO_ROOT}")
    try:
        tmp.rename(out)
    except OSError:  # another process won the race; its stubs are identical
        pass


def _load():
    out = _cache_dir()
    if not out.exists():
        _generate(out)
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    mods = {}
    for name in ("common", "producer", "bridge", "warmer"):
        mods[name] = importlib.import_module(f"cdnwarm.v1.{name}_pb2")
        mods[name + "_grpc"] = importlib.import_module(f"cdnwarm.v1.{name}_pb2_grpc")
    return types.SimpleNamespace(**mods)


pb = _load()


class Tls(types.SimpleNamespace):
    """TLS to a server: ca_file verifies it (None: the system's roots); cert_file and
    key_file are this client's identity for servers that require mutual TLS."""

    def __init__(self, ca_file=None, cert_file=None, key_file=None):
        super().__init__(ca_file=ca_file, cert_file=cert_file, key_file=key_file)

    def credentials(self):
        def read(path):
            return Path(path).read_bytes() if path else None
        return grpc.ssl_channel_credentials(read(self.ca_file), read(self.key_file),
                                            read(self.cert_file))


def channel(address, token=None, tls=None):
    """A channel to one cdnwarm server, over TLS when `tls` (a Tls) is given. A bearer token
    (producer --auth_token_file, bridge --region_tokens_file) rides on every call."""
    if tls is None:
        ch = grpc.insecure_channel(address)
        if token:
            ch = grpc.intercept_channel(ch, _TokenInterceptor(token))
        return ch
    creds = tls.credentials()
    if token:
        creds = grpc.composite_channel_credentials(
            creds, grpc.access_token_call_credentials(token))
    return grpc.secure_channel(address, creds)


class _TokenInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                        grpc.StreamUnaryClientInterceptor):
    """Adds `authorization: Bearer` on plaintext channels (grpcio refuses call credentials
    there; tokens on plaintext are for loopback and in-cluster use)."""

    def __init__(self, token):
        self._header = ("authorization", f"Bearer {token}")

    def _add(self, details):
        metadata = list(details.metadata or []) + [self._header]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._add(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._add(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._add(details), request_iterator)


def task_options(regions=None, ttl_seconds=None, source=None):
    opts = pb.producer.TaskOptions(target_regions=regions or [], source=source or "")
    if ttl_seconds:
        opts.ttl.seconds = int(ttl_seconds)
    return opts


class Producer:
    """cdnwarm.v1.Producer: intake and job progress."""

    def __init__(self, address, token=None, timeout=30.0, tls=None):
        self._channel = channel(address, token, tls)
        self.stub = pb.producer_grpc.ProducerStub(self._channel)
        self.timeout = timeout

    def warm(self, url, options=None):
        return self.stub.Warm(pb.producer.WarmRequest(url=url, options=options),
                              timeout=self.timeout)

    def warm_batch(self, urls, options=None):
        """One job for every URL of an iterable (streamed; the iterable may be a file)."""
        requests = (pb.producer.WarmRequest(url=u, options=options) for u in urls)
        return self.stub.WarmBatch(requests, timeout=self.timeout)

    def warm_sitemap(self, url, options=None, max_depth=0, max_urls=0):
        return self.stub.WarmSitemap(
            pb.producer.WarmSitemapRequest(sitemap_url=url, options=options,
                                           max_depth=max_depth, max_urls=max_urls),
            timeout=self.timeout)

    def warm_playlist(self, url, options=None, max_urls=0, include_playlists=False):
        return self.stub.WarmPlaylist(
            pb.producer.WarmPlaylistRequest(playlist_url=url, options=options,
                                            max_urls=max_urls,
                                            include_playlists=include_playlists),
            timeout=self.timeout)

    def get_job(self, job_id):
        return self.stub.GetJob(pb.producer.GetJobRequest(job_id=job_id), timeout=self.timeout)

    def watch(self, job_id, timeout=None):
        """Yields the job whenever its counts change; ends when it is done or at timeout."""
        yield from self.stub.WatchJob(pb.producer.WatchJobRequest(job_id=job_id),
                                      timeout=timeout)

    def results(self, job_id, region="", outcomes=(), page_size=0):
        """Yields every recorded result of the job (ListResults, page after page)."""
        token = ""
        while True:
            reply = self.stub.ListResults(
                pb.producer.ListResultsRequest(job_id=job_id, region=region,
                                               outcomes=list(outcomes), page_size=page_size,
                                               page_token=token),
                timeout=self.timeout)
            yield from reply.results
            token = reply.next_page_token
            if not token:
                return

    def close(self):
        self._channel.close()


class Bridge:
    """cdnwarm.v1.Bridge: the operator side (subscriptions, lag, seek)."""

    def __init__(self, address, token=None, timeout=30.0, tls=None):
        self._channel = channel(address, token, tls)
        self.stub = pb.bridge_grpc.BridgeStub(self._channel)
        self.timeout = timeout

    def subscriptions(self, region=""):
        return self.stub.ListSubscriptions(pb.bridge.ListSubscriptionsRequest(region=region),
                                           timeout=self.timeout)

    def seek(self, region, earliest=False, latest=False, timestamp=None):
        req = pb.bridge.SeekRequest(region=region)
        if earliest:
            req.earliest = True
        elif latest:
            req.latest = True
        elif timestamp is not None:
            req.timestamp.FromDatetime(timestamp)
        else:
            raise ValueError("seek needs earliest, latest or a timestamp")
        return self.stub.Seek(req, timeout=self.timeout)

    def close(self):
        self._channel.close()


def region_lag(info):
    """Total lag (end minus committed offset) over a RegionInfo's partitions."""
    return sum(max(p.lag, 0) for p in info.partitions)
