// The console in Debian's Chromium (headless), driven by playwright-core, against the real
// mesh that console_e2e_test.sh started. Every step asserts what a person would see; each
// view is screenshotted into $OUT and audited with axe-core (no serious or critical
// violation). Environment: CONSOLE_URL, PRODUCER_TOKEN, OPERATOR_TOKEN, URLS_FILE (the good
// URLs, one per line), BAD_URL, NOT_FOUND_URL, REGIONS (comma-separated), OUT, CHROMIUM,
// CONSOLE_SRC (console/, whose node_modules hold playwright-core and axe-core),
// RESTART_FIFO (a line there asks the test to restart the producer) and RESTARTED_FILE
// (written when it is back).
import { createRequire } from "node:module";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const require = createRequire(join(env("CONSOLE_SRC"), "package.json"));
const { chromium } = require("playwright-core");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const base = env("CONSOLE_URL");
const out = env("OUT");
const regions = env("REGIONS").split(",");
const good = readFileSync(env("URLS_FILE"), "utf8").split("\n").filter(Boolean);
const notFound = env("NOT_FOUND_URL");
const bad = env("BAD_URL");
let failures = 0;

// Waits until the test has written `path` (the restart is done), up to `ms`.
async function waitForFile(path, ms) {
  const deadline = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function check(ok, what) {
  console.log(`${ok ? "ok" : "FAIL"}: ${what}`);
  if (!ok) failures++;
}

async function audit(page, view) {
  // Through the DevTools protocol: the page's CSP (rightly) refuses an injected script tag.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  const serious = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(serious.length === 0, `${view}: axe finds no serious or critical violation ${JSON.stringify(serious)}`);
}

async function shot(page, view) {
  await page.screenshot({ path: join(out, `${view}.png`), fullPage: true });
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const cspErrors = [];
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });

  // Without the token: the login prompt, and the API answers 401.
  await page.goto(base);
  await page.waitForSelector("#token");
  check(await page.isVisible("form.login"), "without a token the page shows the login prompt");
  const anonymous = await page.request.post(`${base}/v1/cdnwarm.v1.Producer/ListJobs`, {
    data: {},
    headers: { "Content-Type": "application/json" },
  });
  check(anonymous.status() === 401, `the API answers 401 without the token (got ${anonymous.status()})`);
  await shot(page, "login");
  await audit(page, "login");
  await page.fill("#token", "not-the-token-at-all-0000");
  await page.click("form.login button[type=submit]");
  await page.waitForSelector(".banner.error");
  check((await page.textContent(".banner.error")).includes("refused"), "a wrong token is refused on the page");
  await page.fill("#token", env("PRODUCER_TOKEN"));
  await page.click("form.login button[type=submit]");
  await page.waitForSelector("#urls");

  // Warm: 50 URLs (one 404s) and one bad entry; the bad one is shown by line with its reason.
  const lines = [...good.slice(0, 20), bad, ...good.slice(20), notFound];
  await page.fill("#urls", lines.join("\n"));
  await page.fill("#regions", regions.join(", "));
  await page.click("form button[type=submit]");
  await page.waitForSelector("table.rejections tbody tr");
  const rejected = await page.$$eval("table.rejections tbody tr", (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  check(rejected.length === 1 && rejected[0][0] === "21" && rejected[0][1] === bad && /scheme/.test(rejected[0][2]),
    `the bad entry is shown on its line with the producer's reason: ${JSON.stringify(rejected)}`);
  check((await page.textContent("#result h2")).startsWith(`Accepted ${good.length + 1}`), "the good entries went through");
  await shot(page, "warm");
  await audit(page, "warm");

  // The job view, live; a reload mid-job shows the same job.
  await page.click("#result a.button");
  await page.waitForURL(/\/jobs\/[^/]+$/);
  const jobPath = new URL(page.url()).pathname;
  await page.waitForSelector(".region .bar");
  check(await page.isVisible(".badge:not(.ok)"), "the job is in progress when the page reloads");
  await page.reload();
  await page.waitForSelector(".region .bar");
  check(new URL(page.url()).pathname === jobPath, "after a reload the same job is shown");

  // The producer restarts mid-job: the live view says it lost the stream, then carries on
  // against the new process on the same address.
  appendFileSync(env("RESTART_FIFO"), "restart-producer\n");
  const said = await page.waitForSelector("text=reconnecting", { timeout: 30000 }).then(
    () => true,
    () => false,
  );
  check(said, "the job view says it is reconnecting while the producer restarts");
  await waitForFile(env("RESTARTED_FILE"), 90000);
  check(new URL(page.url()).pathname === jobPath, "after the restart the same job is shown");
  // The banner goes when a Job arrives: the new producer's stream is live.
  const resumed = await page
    .waitForSelector("text=reconnecting", { state: "detached", timeout: 30000 })
    .then(
      () => true,
      () => false,
    );
  check(resumed, "the live view resumed from the restarted producer");

  const warmedIn = async () =>
    page.$$eval(".region", (els) => els.map((e) => [e.dataset.region, e.querySelector('[data-count="warmed"]')?.textContent]));
  await page.waitForFunction(
    ([want, n]) => {
      const cells = [...document.querySelectorAll('.region [data-count="warmed"]')];
      return cells.length === n && cells.every((c) => c.textContent === want);
    },
    [String(good.length), regions.length],
    { timeout: 180000 },
  );
  const warmed = await warmedIn();
  check(warmed.length === regions.length && warmed.every(([, n]) => n === String(good.length)),
    `the bars reach ${good.length} warmed in every region: ${JSON.stringify(warmed)}`);
  await page.waitForFunction(
    (n) => document.querySelectorAll("table.failures tbody tr").length >= n,
    regions.length,
    { timeout: 60000 },
  );
  const failed = await page.$$eval("table.failures tbody tr", (rows) => rows.map((r) => ({ url: r.cells[0].textContent, region: r.cells[1].textContent, status: r.cells[3].textContent })));
  for (const region of regions) {
    check(failed.some((f) => f.url === notFound && f.region === region && f.status === "404"),
      `the 404 is in the failures table with status 404 in ${region}`);
  }
  await shot(page, "job");
  await audit(page, "job");

  // The jobs list shows the job.
  await page.click('nav a[href="/jobs"]');
  await page.waitForSelector("table.jobs");
  const jobId = decodeURIComponent(jobPath.split("/").pop());
  check((await page.textContent("table.jobs")).includes(jobId), "the jobs list shows the job");
  await shot(page, "jobs");
  await audit(page, "jobs");

  // Regions: the bridge wants the operators' token to list them; every region with its
  // subscribers; a Seek without the operator token is refused, and the page says so.
  await page.click('nav a[href="/regions"]');
  await page.waitForSelector("#operator-token");
  await page.fill("#operator-token", env("OPERATOR_TOKEN"));
  await page.click("#regions form button[type=submit]");
  await page.waitForSelector(".region-card");
  const cards = await page.$$eval(".region-card", (els) => els.map((e) => [e.dataset.region, e.querySelector('[data-count="subscribers"]').textContent]));
  for (const region of regions) {
    check(cards.some(([r, n]) => r === region && Number(n) >= 1), `the regions view shows ${region} with its subscribers: ${JSON.stringify(cards)}`);
  }
  await shot(page, "regions");
  await audit(page, "regions");
  await page.click(`.region-card[data-region="${regions[0]}"] button`);
  await page.waitForSelector("dialog[open]");
  await page.click("dialog[open] button[type=submit]");
  await page.waitForSelector("dialog[open] .banner.error");
  const refusal = await page.textContent("dialog[open] .banner.error");
  check(/Refused: UNAUTHENTICATED/.test(refusal), `a Seek without the operator token is refused and shown: ${refusal}`);
  await shot(page, "seek-refused");
  await audit(page, "seek");

  // A phone's screen: the job view still reads.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}${jobPath}`);
  await page.waitForSelector(".region .bar");
  await shot(page, "job-phone");
  check(cspErrors.length === 0, `no Content-Security-Policy violation: ${JSON.stringify(cspErrors)}`);
} finally {
  await browser.close();
}
if (failures > 0) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
console.log("console e2e: every check passed");
