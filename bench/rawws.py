"""Raw WebSocket client pieces for the bench scripts (idle-rss, never-reads, soak): the opening
handshake, masked client frames, exact reads, and a process's memory from /proc. Standard
library only."""
import base64
import os
import re
import socket
import ssl
from pathlib import Path


def status_kib(pid: int, field: str = "VmRSS") -> int:
    """A `kB` line of /proc/PID/status: VmRSS (resident now) or VmHWM (its peak)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1))


def upgrade(port: int, tls: ssl.SSLContext | None = None) -> socket.socket:
    """A connection to 127.0.0.1:PORT (over TLS with `tls`) that completed the opening
    handshake; the head is read byte by byte, so no frame byte after it is consumed."""
    s = socket.create_connection(("127.0.0.1", port))
    if tls is not None:
        s = tls.wrap_socket(s, server_hostname="localhost")
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        chunk = s.recv(1)
        if not chunk:
            raise SystemExit("the server closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"no upgrade: {head.splitlines()[0]!r}")
    return s


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final client frame, masked with a random key, of any length."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    reps = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(reps, "big")).to_bytes(n, "big") if n else b""
    return head + mask + masked


def read_exact(s: socket.socket, n: int) -> bytes:
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            raise EOFError("the server closed the connection")
        got += chunk
    return got


def read_frame(s: socket.socket) -> tuple[int, bytes]:
    """One unmasked server frame: its opcode and payload."""
    b0, b1 = read_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(read_exact(s, 2), "big")
    elif n == 127:
        n = int.from_bytes(read_exact(s, 8), "big")
    return b0 & 0x0F, read_exact(s, n)
