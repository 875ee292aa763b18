"""The kubelet's gRPC probe: one ``grpc.health.v1.Health/Check`` call.

The kubelet probes from the node's network namespace; a grpcio channel opens
its sockets in grpcio's own threads (in whatever namespace those are), so the
call is made over a socket we open in the node's namespace, with the
well-kept ``h2`` library for HTTP/2 and the health service's own protobuf
messages (``grpc_health.v1``) for the payload.

Source: https://github.com/grpc/grpc/blob/master/doc/health-checking.md and
https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#define-a-grpc-liveness-probe
"""
from __future__ import annotations

import socket
import struct

SERVING = 1
PATH = "/grpc.health.v1.Health/Check"


def check(sock: socket.socket, authority: str, service: str = "",
          timeout: float = 1.0) -> tuple[bool, str]:
    """Send Check(``service``) over the connected ``sock``; (ok, error).
    ``ok`` is True only for SERVING, as the kubelet decides."""
    import h2.config
    import h2.connection
    import h2.events
    from grpc_health.v1 import health_pb2

    sock.settimeout(timeout)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    body = health_pb2.HealthCheckRequest(service=service).SerializeToString()
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":path", PATH),
                               (":authority", authority), ("content-type", "application/grpc"),
                               ("te", "trailers"), ("user-agent", "kube-probe/1.35")])
    conn.send_data(stream, struct.pack(">BI", 0, len(body)) + body, end_stream=True)
    sock.sendall(conn.data_to_send())
    data, grpc_status, message = b"", None, ""
    while grpc_status is None:
        chunk = sock.recv(65536)
        if not chunk:
            break
        for event in conn.receive_data(chunk):
            if isinstance(event, h2.events.DataReceived):
                data += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, (h2.events.TrailersReceived, h2.events.ResponseReceived)):
                headers = {k.decode() if isinstance(k, bytes) else k:
                           v.decode() if isinstance(v, bytes) else v for k, v in event.headers}
                if "grpc-status" in headers:
                    grpc_status = int(headers["grpc-status"])
                    message = headers.get("grpc-message", "")
            elif isinstance(event, h2.events.StreamReset):
                return False, "stream reset by the server"
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    if grpc_status is None:
        return False, "connection closed before the gRPC status"
    if grpc_status != 0:
        return False, f"rpc error: code = {grpc_status} desc = {message}"
    if len(data) < 5:
        return False, "empty gRPC response"
    reply = health_pb2.HealthCheckResponse.FromString(data[5:5 + struct.unpack(">I",
                                                                             data[1:5])[0]])
    if reply.status != SERVING:
        name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return False, f"service unhealthy (responded with \"{name}\")"
    return True, ""
