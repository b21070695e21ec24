"""Stand-in for `wschannel serve` so the browser test can run before the Rust server exists.

On one port of 127.0.0.1: `GET /` without an upgrade serves src/serve/page.html (read on
every request, so edits show on reload), `/healthz` answers 200, anything else 404; a
WebSocket upgrade on any path echoes every message back with its opcode (text as text,
binary as binary). Prints `PORT <n>` once listening.

Usage: standin_server.py [PORT]   (default 0: a free port)
Needs the `websockets` package (scripts/test installs it into target/peers/venv).
"""
import asyncio
import http
import pathlib
import sys

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

PAGE = pathlib.Path(__file__).resolve().parents[2] / "src" / "serve" / "page.html"


def http_response(status, content_type, body):
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def process_request(connection, request):
    if "websocket" in request.headers.get("Upgrade", "").lower():
        return None  # a WebSocket handshake on any path: go on and echo
    path = request.path.split("?", 1)[0]
    if path == "/":
        return http_response(http.HTTPStatus.OK, "text/html; charset=utf-8", PAGE.read_bytes())
    if path == "/healthz":
        return http_response(http.HTTPStatus.OK, "text/plain; charset=utf-8", b"ok\n")
    return http_response(http.HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n")


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)  # str goes back as text, bytes as binary
    except ConnectionClosed:
        pass


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    async with serve(
        echo, "127.0.0.1", port, process_request=process_request, max_size=1 << 24
    ) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
