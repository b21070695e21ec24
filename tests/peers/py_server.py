"""Python `websockets` echo server for the interop tests.

Prints `PORT <n>` once listening on 127.0.0.1, then for each connection:
- echoes text as text and binary as binary;
- "protocol?" -> replies with the negotiated subprotocol (or "none");
- "fragments" -> sends the text "fragmented" as three fragments;
- "ping-me" -> sends a ping and replies "pong-ok" once its pong arrives;
- "close-me CODE REASON" -> closes with CODE and REASON;
- prints `CLOSED <code> <reason>` when a connection ends.
Usage: py_server.py [CERT KEY]   (TLS when given)
"""
import asyncio
import ssl
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def handler(ws):
    try:
        async for msg in ws:
            if msg == "protocol?":
                await ws.send(ws.subprotocol or "none")
            elif msg == "fragments":
                await ws.send(["frag", "men", "ted"])
            elif msg == "ping-me":
                waiter = await ws.ping(b"pp")
                await waiter
                await ws.send("pong-ok")
            elif isinstance(msg, str) and msg.startswith("close-me "):
                _, code, reason = msg.split(" ", 2)
                await ws.close(int(code), reason)
            else:
                await ws.send(msg)
    except ConnectionClosed:
        pass
    finally:
        rcvd = ws.protocol.close_rcvd
        code = rcvd.code if rcvd else "none"
        reason = rcvd.reason if rcvd else ""
        print(f"CLOSED {code} {reason}", flush=True)


async def main():
    ctx = None
    if len(sys.argv) == 3:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    async with serve(handler, "127.0.0.1", 0, ssl=ctx, subprotocols=["chat", "superchat"],
                     max_size=2**24) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.get_running_loop().create_future()


asyncio.run(main())
