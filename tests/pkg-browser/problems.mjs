// What a test page must not show, recorded as it happens (no dependencies,
// so harnesses that find playwright-core elsewhere can share it): console
// errors, uncaught exceptions, failed requests and HTTP errors. `allow`
// lists RegExps of expected messages (fault drills). Returns the list it
// fills and `note`, for a caller's own sources (a worker's console).
export function recordProblems(page, allow = []) {
  const problems = [];
  const note = (what) => {
    if (!allow.some((re) => re.test(what))) problems.push(what);
  };
  page.on('console', (msg) => {
    if (msg.type() === 'error') note(`console.error: ${msg.text()}`);
  });
  page.on('pageerror', (e) => note(`uncaught: ${e.stack || e.message}`));
  page.on('requestfailed', (r) => note(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on('response', (r) => {
    if (r.status() >= 400) note(`HTTP ${r.status()}: ${r.url()}`);
  });
  return { problems, note };
}
