// Real browser clients for coordinator tests: ONE headless Chromium
// (tests/pkg-browser/chromium.mjs: /usr/bin/chromium or $CHROMIUM, never a
// downloaded browser) with one page per token, each on www/client.html
// with the page's automation query: it loads one FEMNIST writer of
// www/data/femnist_digits_100.bin (train split) and joins at once.
//
//   const tabs = await openClientTabs({ wwwUrl, coordinatorUrl, tokens, writers, backend: 'cpu' });
//   await tabs.states();   // [{ state, reports, events, problems }] per tab
//   await tabs.close();
//
// Each tab has its own browser context (its own IndexedDB), as separate
// people's browsers would. `problems` lists console errors, uncaught
// exceptions and failed requests of the page (tests expect none).

import { recordProblems } from '../pkg-browser/problems.mjs';

const PACK = 'data/femnist_digits_100.bin';

/** launch() of tests/pkg-browser/chromium.mjs, or www/headless.mjs's where only www/ has playwright-core installed. */
export async function launchChromium() {
  try {
    const { launch } = await import('../pkg-browser/chromium.mjs');
    return await launch();
  } catch (e) {
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('playwright-core')) throw e;
    const { launch } = await import('../../www/headless.mjs');
    return launch();
  }
}

/** The client page's URL for one tab. */
export function clientPageUrl(wwwUrl, { coordinatorUrl, token, writer, backend = 'cpu', pack = PACK, autojoin = true }) {
  const q = new URLSearchParams({ coordinator: coordinatorUrl, token, backend });
  if (writer !== undefined) {
    q.set('pack', pack);
    q.set('writer', writer);
  }
  if (autojoin) q.set('autojoin', '1');
  return new URL(`client.html?${q}`, wwwUrl).href;
}

/** Opens `url` in a new context of `browser`, recording the page's problems. */
export async function openTab(browser, url, { viewport = { width: 1000, height: 900 }, allow = [] } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const { problems } = recordProblems(page, allow);
  await page.goto(url);
  return { page, context, problems };
}

/**
 * One headless Chromium, one tab per `tokens[i]` (with `writers[i]`) on
 * `${wwwUrl}client.html`, joined to `coordinatorUrl`.
 * @param {{ wwwUrl: string, coordinatorUrl: string, tokens: string[], writers: string[], backend?: 'auto' | 'webgpu' | 'cpu' }} options
 * @returns {Promise<{ browser, pages: import('playwright-core').Page[], tabs: { page, context, problems: string[] }[],
 *   states(): Promise<{ state: string, reports: number, trained: number, events: object[], problems: string[] }[]>, close(): Promise<void> }>}
 */
export async function openClientTabs({ wwwUrl, coordinatorUrl, tokens, writers, backend = 'cpu' }) {
  if (!Array.isArray(tokens) || !Array.isArray(writers) || tokens.length !== writers.length) {
    throw new Error(`openClientTabs: one writer per token (${tokens?.length} tokens, ${writers?.length} writers)`);
  }
  const browser = await launchChromium();
  const tabs = [];
  try {
    for (let i = 0; i < tokens.length; i++) {
      const url = clientPageUrl(wwwUrl, { coordinatorUrl, token: tokens[i], writer: writers[i], backend });
      const tab = await openTab(browser, url);
      await tab.page.waitForFunction(() => window.fedwasmClient !== undefined);
      tabs.push(tab);
    }
  } catch (e) {
    await browser.close();
    throw e;
  }
  return {
    browser,
    tabs,
    pages: tabs.map((t) => t.page),
    states: () =>
      Promise.all(tabs.map(async (t) => ({
        ...(await t.page.evaluate(() => ({
          state: window.fedwasmClient.state(),
          reports: window.fedwasmClient.reports(),
          trained: window.fedwasmClient.events.filter((e) => e.type === 'report').length,
          events: window.fedwasmClient.events,
        }))),
        problems: [...t.problems],
      }))),
    close: async () => {
      await browser.close();
    },
  };
}
