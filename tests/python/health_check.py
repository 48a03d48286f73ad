"""A Python grpcio client of the standard health service, as Kubernetes or a mesh peer uses it.

Usage: health_check.py HOST:PORT EXPECTED_STATUS [SERVICE]   (SERVICE: default "", overall)
"""
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def main() -> int:
    target, expected = sys.argv[1], sys.argv[2]
    service = sys.argv[3] if len(sys.argv) > 3 else ""
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    if status != expected:
        print(f"health of {target} {service!r}: {status}, expected {expected}", file=sys.stderr)
        return 1
    print(f"health of {target} {service!r}: {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
