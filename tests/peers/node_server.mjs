// Node `ws` echo server for the interop tests; same commands as py_server.py.
// Usage: node node_server.mjs [CERT KEY]
import fs from 'node:fs';
import https from 'node:https';
import { WebSocketServer } from 'ws';

const handleProtocols = (protocols) => {
  for (const p of ['chat', 'superchat']) if (protocols.has(p)) return p;
  return false;
};
// WS_DEFLATE=1: accept permessage-deflate (off by default in a ws server); ws then compresses
// messages over 1 KiB.
const opts = { handleProtocols, maxPayload: 1 << 24, perMessageDeflate: process.env.WS_DEFLATE === '1' };
let wss;
if (process.argv.length >= 4) {
  const server = https.createServer({
    cert: fs.readFileSync(process.argv[2]),
    key: fs.readFileSync(process.argv[3]),
  });
  wss = new WebSocketServer({ server, ...opts });
  server.listen(0, '127.0.0.1', () => console.log(`PORT ${server.address().port}`));
} else {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...opts });
  wss.on('listening', () => console.log(`PORT ${wss.address().port}`));
}

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString('utf8');
    if (text === 'protocol?') ws.send(ws.protocol || 'none');
    else if (text === 'fragments') {
      ws.send('frag', { fin: false });
      ws.send('men', { fin: false });
      ws.send('ted', { fin: true });
    } else if (text === 'ping-me') {
      ws.once('pong', () => ws.send('pong-ok'));
      ws.ping('pp');
    } else if (text !== null && text.startsWith('close-me ')) {
      const [, code, ...reason] = text.split(' ');
      ws.close(Number(code), reason.join(' '));
    } else ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code, reason) => console.log(`CLOSED ${code} ${reason.toString()}`));
});
