"""Python `websockets` client for the interop tests: runs a fixed dialogue against an echo
server and prints `OK <step>` per step; exits non-zero at the first mismatch.

Usage: py_client.py URL [CAFILE]
"""
import asyncio
import ssl
import sys

from websockets.asyncio.client import connect


async def expect(ws, sent, step):
    await ws.send(sent)
    got = await asyncio.wait_for(ws.recv(), 10)
    if got != sent or type(got) is not type(sent):
        sys.exit(f"FAIL {step}: sent {type(sent).__name__} {len(sent)}, got {type(got).__name__} {len(got)}")
    print(f"OK {step}", flush=True)


async def main():
    url = sys.argv[1]
    ctx = None
    if len(sys.argv) > 2:
        ctx = ssl.create_default_context(cafile=sys.argv[2])
    async with connect(url, ssl=ctx, subprotocols=["superchat", "chat"], max_size=2**24) as ws:
        print(f"PROTOCOL {ws.subprotocol}", flush=True)
        names = [e.name for e in ws.protocol.extensions] or ["none"]
        print(f"EXTENSIONS {', '.join(names)}", flush=True)
        await expect(ws, "héllo wörld", "text")
        await expect(ws, bytes(range(256)), "binary")
        await expect(ws, "", "empty-text")
        await expect(ws, b"", "empty-binary")
        await expect(ws, bytes(i % 251 for i in range(1 << 20)), "1MiB")
        await ws.send(["frag", "men", "ted"])
        got = await asyncio.wait_for(ws.recv(), 10)
        if got != "fragmented":
            sys.exit(f"FAIL fragmented: got {got!r}")
        print("OK fragmented", flush=True)
        pong = await ws.ping(b"hi")
        await asyncio.wait_for(pong, 10)
        print("OK ping", flush=True)
        await ws.close(4002, "client bye")
        rcvd = ws.protocol.close_rcvd
        print(f"CLOSE {rcvd.code if rcvd else 'none'} {rcvd.reason if rcvd else ''}", flush=True)


asyncio.run(main())
