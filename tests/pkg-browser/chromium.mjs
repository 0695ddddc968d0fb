// Headless Chromium for the package's browser tests, through playwright-core
// (pinned in package-lock.json; it never downloads a browser): the system
// Chromium (/usr/bin/chromium, or $CHROMIUM) with the flags of
// crate/fedwasm/webdriver.json, explained in tests/run.sh. Chromium's WebGPU
// then runs on SwiftShader (a CPU Vulkan) on a machine without a GPU.
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { recordProblems } from './problems.mjs';

export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
export const chromiumArgs = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export async function launch() {
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM)`);
  }
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
}

/**
 * Opens `url` in a new page and records what must stay empty: console
 * errors (the page's and its workers'), uncaught exceptions, failed requests
 * and HTTP errors. `allow` lists RegExps of expected messages (fault drills).
 */
export async function openPage(browser, url, { allow = [] } = {}) {
  const page = await browser.newPage();
  const { problems, note } = recordProblems(page, allow);
  page.on('worker', (w) => {
    w.on('console', (msg) => {
      if (msg.type() === 'error') note(`worker console.error: ${msg.text()}`);
    });
  });
  await page.goto(url);
  return { page, problems };
}
