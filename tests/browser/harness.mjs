// What each headless-Chromium test script shares: playwright-core from tests/peers, Debian's
// Chromium with the same flags, the step being run, and one way to fail.
import { createRequire } from 'node:module';

// playwright-core is installed in tests/peers/node_modules, not beside this file.
const require = createRequire(new URL('../peers/package.json', import.meta.url));
const { chromium } = require('playwright-core');

/** Every wait of a step, in ms. */
export const TIMEOUT = 10_000;

/**
 * One test run. Set `run.step` before each step; `run.fail(why)` prints `FAIL <step>: why`,
 * closes the browser and exits 1; `run.ok(what)` prints `OK what`. A watchdog fails the run
 * after 90 s, in case something hangs outside the per-step timeouts.
 */
export function testRun() {
  const run = {
    step: 'start',
    browser: null,
    ok: (what) => console.log(`OK ${what}`),
    fail: async (why) => {
      console.log(`FAIL ${run.step}: ${why}`);
      if (run.browser) await run.browser.close().catch(() => {});
      process.exit(1);
    },
    /** Launches Debian's Chromium (never a downloaded one), headless. */
    launch: async () => {
      run.browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        timeout: TIMEOUT * 3,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
          '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      return run.browser;
    },
  };
  setTimeout(() => run.fail('the whole test took over 90 s'), 90_000).unref();
  return run;
}
