// Headless Chromium against an echo server with a WebSocket route (the axum example, issue 9).
// Usage: node tests/browser/subprotocol_echo.test.mjs http://127.0.0.1:PORT/ ws://127.0.0.1:PORT/ws
// Loads the page (any 200 on the same origin), then a page script opens
// `new WebSocket(url, ['chat'])`, checks that `ws.protocol` is "chat", sends a text and a binary
// message and checks that each comes back with its type and bytes, and closes with 1000.
// Needs Debian's chromium at /usr/bin/chromium and playwright-core from tests/peers (npm ci
// there); it never downloads a browser. Prints `OK <step>` per step; on a failure prints
// `FAIL <step>: why` and exits 1.
import { TIMEOUT, testRun } from './harness.mjs';

const [pageUrl, wsUrl] = process.argv.slice(2);
if (!pageUrl || !wsUrl) {
  console.error('usage: node subprotocol_echo.test.mjs http://127.0.0.1:PORT/ ws://127.0.0.1:PORT/ws');
  process.exit(2);
}

const run = testRun();
const { fail, ok } = run;

async function main() {
  run.step = 'launch chromium';
  const browser = await run.launch();
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);

  run.step = 'load page';
  const response = await page.goto(pageUrl, { timeout: TIMEOUT });
  if (!response || response.status() !== 200) await fail(`GET ${pageUrl} gave ${response?.status()}`);
  console.log(`OK page ${pageUrl} answered 200`);

  run.step = 'websocket';
  const got = await page.evaluate(async ({ url, timeout }) => {
    const ws = new WebSocket(url, ['chat']);
    ws.binaryType = 'arraybuffer';
    const within = (what, p) => Promise.race([p, new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeout))]);
    const closed = new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); });
    const next = (what) => within(what, new Promise((resolve, reject) => {
      ws.onmessage = (e) => resolve(e.data);
      closed.then((code) => reject(new Error(`closed with ${code} while waiting for ${what}`)));
    }));
    try {
      await within('open', new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error(`could not connect to ${url}`));
      }));
      const protocol = ws.protocol;
      ws.send('héllo, chat');
      const text = await next('the text echo');
      ws.send(new Uint8Array([0, 1, 2, 0x80, 0xff]).buffer);
      const binary = await next('the binary echo');
      ws.close(1000, 'done');
      const code = await within('the close', closed);
      return {
        protocol,
        text,
        textType: typeof text,
        binary: binary instanceof ArrayBuffer ? Array.from(new Uint8Array(binary)) : String(binary),
        code,
      };
    } catch (e) {
      return { error: e.message };
    }
  }, { url: wsUrl, timeout: TIMEOUT });
  if (got.error) await fail(got.error);

  run.step = 'subprotocol';
  if (got.protocol !== 'chat') await fail(`ws.protocol is ${JSON.stringify(got.protocol)}, expected "chat"`);
  console.log('OK protocol chat');
  run.step = 'text echo';
  if (got.textType !== 'string' || got.text !== 'héllo, chat') {
    await fail(`sent text "héllo, chat", got ${got.textType} ${JSON.stringify(got.text)}`);
  }
  console.log('OK text');
  run.step = 'binary echo';
  if (JSON.stringify(got.binary) !== JSON.stringify([0, 1, 2, 0x80, 0xff])) {
    await fail(`sent binary [0,1,2,128,255], got ${JSON.stringify(got.binary)}`);
  }
  console.log('OK binary');
  run.step = 'close';
  if (got.code !== 1000) await fail(`the close code is ${got.code}, expected 1000`);
  console.log('OK close 1000');
  await browser.close();
}

main().catch((e) => fail(e.stack || String(e)));
