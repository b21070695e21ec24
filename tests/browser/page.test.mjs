// Headless Chromium against the echo server's test page (src/serve/page.html).
// Usage: node tests/browser/page.test.mjs http://127.0.0.1:PORT/ SCREENSHOT.png [deflate|none]
// The third argument says whether the server accepts permessage-deflate (Chromium always offers
// it): the page must then report it, and text above 1 KiB must round-trip compressed.
// Needs Debian's chromium at /usr/bin/chromium and playwright-core from tests/peers (npm ci there);
// it never downloads a browser. Prints `OK <step>` per step; on a failure prints `FAIL <step>: why`
// and exits 1. A second screenshot of the error state is saved beside the first (`*-error.png`).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { TIMEOUT, testRun } from './harness.mjs';

const [pageUrl, shotPath, compression = 'none'] = process.argv.slice(2);
if (!pageUrl || !shotPath) {
  console.error('usage: node page.test.mjs http://127.0.0.1:PORT/ SCREENSHOT.png');
  process.exit(2);
}

const run = testRun();
const { fail, ok } = run;

// A valid 2x2 RGB PNG (red, green / blue, white) built from bytes.
function png2x2() {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  // width 2, height 2, bit depth 8, colour type 2 (RGB), deflate, no filter, no interlace
  const ihdr = Buffer.from([0, 0, 0, 2, 0, 0, 0, 2, 8, 2, 0, 0, 0]);
  const rows = Buffer.from([
    0x00, 0xff, 0x00, 0x00, 0x00, 0xff, 0x00, // filter 0, red, green
    0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, // filter 0, blue, white
  ]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wschannel-page-'));
  const pngFile = path.join(tmp, 'dot.png');
  fs.writeFileSync(pngFile, png2x2());
  const binFile = path.join(tmp, 'bytes.bin');
  fs.writeFileSync(binFile, Buffer.from(Array.from({ length: 40 }, (_, i) => i)));

  run.step = 'launch chromium';
  const browser = await run.launch();
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  page.setDefaultTimeout(TIMEOUT);
  const origin = new URL(pageUrl).origin;
  const problems = [];
  page.on('pageerror', (e) => problems.push(`uncaught error in the page: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith('data:') && new URL(r.url()).origin !== origin) {
      problems.push(`the page loaded an external resource: ${r.url()}`);
    }
  });
  const checkProblems = () => problems.length && fail(problems.join('; '));

  // Waits for fn(arg) in the page to be true; on timeout says what the page showed.
  const waitFor = async (what, fn, arg) => {
    try {
      await page.waitForFunction(fn, arg, { timeout: TIMEOUT });
    } catch {
      const status = await page.textContent('#status').catch(() => '?');
      const lines = await page.$$eval('#log li .text', (els) => els.slice(-4).map((el) => el.textContent))
        .catch(() => []);
      await fail(`timed out after ${TIMEOUT} ms waiting for ${what}; ` +
        `status is "${status}", last log lines: ${JSON.stringify(lines)}`);
    }
    await checkProblems();
  };
  const lastRecv = (text) => [...document.querySelectorAll('#log li.recv .text')]
    .some((el) => el.textContent === text);

  run.step = 'load page';
  const response = await page.goto(pageUrl, { timeout: TIMEOUT });
  if (!response || response.status() !== 200) await fail(`GET ${pageUrl} gave ${response?.status()}`);
  const wsUrl = `ws://${new URL(pageUrl).host}/`;
  const shown = await page.inputValue('#url');
  if (shown !== wsUrl) await fail(`#url is "${shown}", expected this server, "${wsUrl}"`);
  ok(`page loaded; #url defaults to ${wsUrl}`);

  run.step = 'connect';
  await page.click('#connect');
  await waitFor('status "open"', () => {
    const s = document.querySelector('#status');
    return s.dataset.state === 'open' && s.textContent.startsWith('open');
  });
  ok('connect: status is open');

  run.step = 'compression shown';
  const expected = compression === 'deflate' ? '(compression: permessage-deflate' : '(no compression)';
  await waitFor(`status mentioning "${expected}"`, (expected) =>
    document.querySelector('#status').textContent.includes(expected), expected);
  ok(`compression: status is "${await page.textContent('#status')}"`);

  run.step = 'text echo';
  await page.fill('#message', 'hello');
  await page.press('#message', 'Enter');
  await waitFor('log line "echo: hello"', lastRecv, 'echo: hello');
  if ((await page.inputValue('#message')) !== '') await fail('the message box was not cleared after sending');
  ok('text: Enter sent "hello", log shows "echo: hello"');

  run.step = 'long text echo';
  const long = 'wschannel compresses this line. '.repeat(100); // 3200 bytes, above any threshold
  await page.fill('#message', long);
  await page.press('#message', 'Enter');
  await waitFor('the 3200-byte echo', lastRecv, 'echo: ' + long);
  ok('long text: 3200 bytes came back unchanged');

  run.step = 'markup stays text';
  await page.fill('#message', '<b>bold</b><img src=x onerror=alert(1)>');
  await page.click('#send');
  await waitFor('the echoed markup as text', lastRecv, 'echo: <b>bold</b><img src=x onerror=alert(1)>');
  if ((await page.locator('#log b').count()) !== 0) await fail('received text was parsed as HTML');
  ok('markup: Send button sent HTML, log shows it as text, not as elements');

  run.step = 'image echo';
  await page.setInputFiles('#file', pngFile);
  await waitFor('an echoed <img> 2 px wide', () => [...document.querySelectorAll('#log li.recv img')]
    .some((img) => img.complete && img.naturalWidth === 2 && img.naturalHeight === 2));
  ok('image: a 2x2 PNG sent as one binary message came back and is displayed (naturalWidth 2)');

  run.step = 'binary echo';
  await page.setInputFiles('#file', binFile);
  const hex = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0')).join(' ') + ' …';
  await waitFor('"[binary 40 bytes]" with a hex preview', (hex) =>
    [...document.querySelectorAll('#log li.recv')].some((li) =>
      li.querySelector('.text').textContent === 'echo: [binary 40 bytes]' &&
      li.querySelector('.hex')?.textContent === hex), hex);
  ok('binary: 40 non-image bytes came back as "[binary 40 bytes]" with a 32-byte hex preview');

  run.step = 'disconnect';
  await page.click('#disconnect');
  await waitFor('status closed with code 1000', () => {
    const s = document.querySelector('#status');
    return s.dataset.state === 'closed' && s.textContent.includes('1000') && s.textContent.includes('bye');
  });
  ok(`disconnect: status is "${await page.textContent('#status')}"`);

  run.step = 'screenshot';
  fs.mkdirSync(path.dirname(path.resolve(shotPath)), { recursive: true });
  await page.screenshot({ path: shotPath, fullPage: true });
  ok(`screenshot saved to ${shotPath}`);

  run.step = 'error state';
  // A port that was free a moment ago, so the connection is refused (port 1 would be refused by
  // Chromium's unsafe-port list before any network attempt).
  const closedPort = await new Promise((resolve, reject) => {
    const srv = net.createServer().once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
  await page.fill('#url', `ws://127.0.0.1:${closedPort}/`);
  await page.click('#connect');
  await waitFor('status "network unreachable"', () => {
    const s = document.querySelector('#status');
    return s.dataset.state === 'error' && s.textContent.startsWith('network unreachable: could not connect');
  });
  const errorShot = shotPath.replace(/(\.png)?$/, '-error.png');
  await page.screenshot({ path: errorShot, fullPage: true });
  ok(`error: closed port ${closedPort} shows "${await page.textContent('#status')}" (screenshot ${errorShot})`);

  run.step = 'clear';
  await page.click('#clear');
  await waitFor('an empty log', () => document.querySelectorAll('#log li').length === 0);
  ok('clear: the log is empty');

  await checkProblems();
  await browser.close();
  fs.rmSync(tmp, { recursive: true, force: true });
  console.log('browser page test: all steps passed');
}

main().catch((e) => fail(e.message.split('\n')[0]));
