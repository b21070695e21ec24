// Node `ws` client for the interop tests; same dialogue as py_client.py.
// Usage: node node_client.mjs URL [CAFILE]
import fs from 'node:fs';
import WebSocket from 'ws';

const [url, cafile] = process.argv.slice(2);
// perMessageDeflate: offered (the client default, said here); ws compresses messages over 1 KiB.
const ws = new WebSocket(url, ['superchat', 'chat'], {
  maxPayload: 1 << 24,
  perMessageDeflate: true,
  ...(cafile ? { ca: fs.readFileSync(cafile) } : {}),
});
const queue = [];
let waiting = null;
ws.on('message', (data, isBinary) => {
  const m = { data, isBinary };
  if (waiting) { const w = waiting; waiting = null; w(m); } else queue.push(m);
});
const next = () => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('timed out waiting for a message')), 10000);
  const done = (m) => { clearTimeout(timer); resolve(m); };
  if (queue.length) done(queue.shift()); else waiting = done;
});
const fail = (msg) => { console.log(`FAIL ${msg}`); process.exit(1); };

async function expect(data, isBinary, step) {
  ws.send(data, { binary: isBinary });
  const m = await next();
  const same = Buffer.compare(Buffer.from(m.data), Buffer.from(data)) === 0;
  if (!same || m.isBinary !== isBinary) fail(`${step}: got ${m.isBinary ? 'binary' : 'text'} ${m.data.length} bytes`);
  console.log(`OK ${step}`);
}

ws.on('error', (e) => fail(`error ${e.message}`));
ws.on('open', async () => {
  try {
    console.log(`PROTOCOL ${ws.protocol}`);
    console.log(`EXTENSIONS ${ws.extensions || 'none'}`);
    await expect(Buffer.from('héllo wörld'), false, 'text');
    await expect(Buffer.from([...Array(256).keys()]), true, 'binary');
    await expect(Buffer.alloc(0), false, 'empty-text');
    await expect(Buffer.alloc(0), true, 'empty-binary');
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    await expect(big, true, '1MiB');
    ws.send('frag', { fin: false }); ws.send('men', { fin: false }); ws.send('ted', { fin: true });
    const f = await next();
    if (f.data.toString() !== 'fragmented' || f.isBinary) fail('fragmented');
    console.log('OK fragmented');
    await new Promise((resolve) => { ws.once('pong', resolve); ws.ping('hi'); });
    console.log('OK ping');
    ws.on('close', (code, reason) => { console.log(`CLOSE ${code} ${reason.toString()}`); process.exit(0); });
    ws.close(4002, 'client bye');
  } catch (e) { fail(e.message); }
});
