"""Is there a Ray head at ``host:port``? A probe bounded in seconds, run before ``ray.init``.

``ray.init`` on an address that accepts TCP connections but is not a Ray head — another service, the
dashboard port, the Ray Client port — retries "Failed to connect to GCS" for many minutes. The probe asks
the address what a Ray head's GCS answers at once: the gRPC call ``NodeInfoGcsService/GetClusterId``,
spoken here over a plain socket (HTTP/2 frames, literal headers), so it needs neither grpc nor Ray.
A reply with a message (a DATA frame) is a Ray head; no HTTP/2, a gRPC error, a closed connection or
silence until the deadline is not.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping

#: what an HTTP/2 client sends first
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: a call every Ray GCS answers without arguments
METHOD = "/ray.rpc.NodeInfoGcsService/GetClusterId"
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PING, _GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
_END_STREAM, _ACK, _END_HEADERS = 0x1, 0x1, 0x4
_MAX_FRAME = 1 << 20


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big") + payload


def _length(n: int) -> bytes:
    """An HPACK string length (7-bit prefix, no Huffman coding)."""
    if n < 127:
        return bytes((n,))
    out, n = [127], n - 127
    while n >= 128:
        out.append((n & 127) | 128)
        n >>= 7
    return bytes((*out, n))


def _header(name: str, value: str) -> bytes:
    """A literal header field without indexing, new name (RFC 7541, 6.2.2)."""
    key, text = name.encode(), value.encode()
    return b"\x00" + _length(len(key)) + key + _length(len(text)) + text


def _request(authority: str, extra: Mapping[str, str]) -> bytes:
    fields = {":method": "POST", ":scheme": "http", ":path": METHOD, ":authority": authority,
              "content-type": "application/grpc", "te": "trailers", **extra}
    block = b"".join(_header(k, v) for k, v in fields.items())
    return (PREFACE + _frame(_SETTINGS, 0, 0) + _frame(_HEADERS, _END_HEADERS, 1, block)
            + _frame(_DATA, _END_STREAM, 1, b"\x00\x00\x00\x00\x00"))  # an empty GetClusterIdRequest


def _read(sock: socket.socket, n: int, deadline: float) -> bytes:
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def probe_ray_head(host: str, port: int, seconds: float, headers: Mapping[str, str] | None = None
                   ) -> str | None:
    """``None`` when a Ray head's GCS answered within ``seconds``; else why not, in a few words.

    ``headers``: extra request metadata (Ray's ``authorization`` token where the cluster wants one).
    """
    deadline = time.monotonic() + seconds
    try:
        sock = socket.create_connection((host, port), timeout=seconds)
    except OSError as exc:
        return f"cannot connect ({exc.strerror or exc})"
    with sock:
        try:
            sock.sendall(_request(f"{host}:{port}", headers or {}))
            first = True
            while True:
                head = _read(sock, 9, deadline)
                length, kind, flags = int.from_bytes(head[:3], "big"), head[3], head[4]
                stream = int.from_bytes(head[5:], "big") & 0x7FFFFFFF
                if (first and kind != _SETTINGS) or length > _MAX_FRAME:
                    return "it does not speak gRPC (HTTP/2)"
                first = False
                payload = _read(sock, length, deadline)
                if kind == _SETTINGS and not flags & _ACK:
                    sock.sendall(_frame(_SETTINGS, _ACK, 0))
                elif kind == _PING and not flags & _ACK:
                    sock.sendall(_frame(_PING, _ACK, 0, payload))
                elif kind == _GOAWAY:
                    return "it closed the gRPC connection"
                elif stream == 1 and kind == _DATA:
                    return None  # GetClusterId answered: a Ray head
                elif stream == 1 and (kind == _RST_STREAM or (kind == _HEADERS and flags & _END_STREAM)):
                    return "it answers gRPC, but not as a Ray head (GCS)"
        except TimeoutError:
            return f"no answer within {seconds:g} s"
        except EOFError:
            return "it closed the connection"
        except OSError as exc:
            return f"the connection failed ({exc.strerror or type(exc).__name__})"
