#!/usr/bin/env node
// Browser test of the static book: the pages work offline with the JavaScript the book serves itself.
// Opens built pages over file:// in headless Chromium with every request outside the build folder
// aborted, then checks that
//   - chapter 8's explorer (a VBox with class "focal-explorer") renders, and that moving its "image"
//     slider, then each other control it has ("map", "opacity", "block"), changes the image shown;
//   - the frame sliders of chapters 3 and 4 (FrameStepper, class "focal-stepper": focal level, gate
//     shift) render, and that moving each, forward and back, changes the image shown;
//   - MathJax typesets chapter 4's formulas;
//   - chapter 1's tqdm progress bar renders.
// Prints the aborted requests, the weight of chapter 8's page (HTML and everything it loaded) and the
// wall time. Usage: node tests/browser/check_pages.js [BUILD_DIR]   (default _build/html; run it after
// `make book`). CHROMIUM=/path/to/chromium overrides /usr/bin/chromium; SHOTS=DIR saves a screenshot of
// each frame slider, before and after it moves, into DIR.
"use strict";
const fs = require("fs");
const path = require("path");
const { pathToFileURL, fileURLToPath } = require("url");
const { chromium } = requirePlaywright();

const BUILD = path.resolve(process.argv[2] || "_build/html");
const ROOT_URL = pathToFileURL(BUILD).href + "/";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TIMEOUT = 60000; // ms; widgets and MathJax take a few seconds on a busy 2-core machine
const PAGES = {
  explorer: "book/chapters/08_interpretation.html",
  math: "book/chapters/04_gated_aggregation.html",
  progress: "book/chapters/01_attention_vs_focal.html",
};
const SECOND_CONTROLS = ["map", "opacity", "block"];
// The frame sliders (focal_utils.widgets.FrameStepper): page -> the slider's description.
const STEPPERS = [
  { rel: "book/chapters/03_hierarchical_context.html", slider: "focal level", shot: "ch03_focal_level" },
  { rel: "book/chapters/04_gated_aggregation.html", slider: "gate shift c", shot: "ch04_gate_shift" },
];
const SHOTS = process.env.SHOTS || "";
// An aborted request of these kinds breaks the page; others (say, an image linked from the web) are
// only reported.
const NEEDED = new Set(["script", "stylesheet", "font"]);
// Console errors of the theme on every page, whatever this test checks: sphinx-thebe's settings script
// is included twice (thebe is off), and pydata-sphinx-theme complains about an empty saved theme mode.
const KNOWN_ERRORS = [/Identifier 'THEBE_JS_URL' has already been declared/, /Got invalid theme mode/];

function requirePlaywright() {
  try {
    return require("playwright-core");
  } catch {
    console.error("FAILED: playwright-core is not installed: run `make book` (or scripts/vendor_js.sh), which runs npm ci");
    process.exit(1);
  }
}

const { TestFailure, fail, move, labels, shownImages, expectImageChange } = require("./explorer");

// Opens one page; every request is recorded, and those leaving the build folder are aborted.
async function openPage(context, rel) {
  const file = path.join(BUILD, rel);
  if (!fs.existsSync(file)) fail(`${rel}: not built (no ${file}); run \`make book\` first`);
  const page = await context.newPage();
  const log = { requests: [], aborted: [], failed: [], errors: [] };
  page.on("pageerror", (e) => log.errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") log.errors.push(m.text()); });
  page.on("request", (r) => log.requests.push(r.url()));
  page.on("requestfailed", (r) => {
    if (r.url().startsWith(ROOT_URL)) log.failed.push({ url: r.url(), type: r.resourceType(), why: r.failure().errorText });
  });
  await page.route("**/*", (route) => {
    const req = route.request();
    if (req.url().startsWith(ROOT_URL)) return route.continue();
    log.aborted.push({ url: req.url(), type: req.resourceType() });
    return route.abort("blockedbyclient");
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: "load", timeout: TIMEOUT });
  checkAborted({ log, rel }); // scripts and stylesheets are in by `load`: fail now, not at a timeout
  return { page, log, rel };
}

function checkAborted({ log, rel }) {
  const needed = log.aborted.filter((a) => NEEDED.has(a.type));
  if (needed.length) fail(`${rel}: needs ${needed.length} resource(s) from outside the build: ` +
    needed.map((a) => `${a.type} ${a.url}`).join(", "));
}

// JavaScript errors, less the console errors of blocked or failed requests (reported on their own)
// and the theme's known ones.
const pageErrors = (log) => log.errors.filter((e) => !/net::ERR_/.test(e) && !KNOWN_ERRORS.some((k) => k.test(e)));

// Reports aborted requests; fails on one the page needs, a missing file of the build, or a JavaScript error.
function checkLog({ log, rel }) {
  console.log(`  ${log.requests.length} requests, ${log.aborted.length} aborted (outside the build)`);
  for (const a of log.aborted) console.log(`  aborted (${a.type}): ${a.url}`);
  checkAborted({ log, rel });
  if (log.failed.length) fail(`${rel}: ${log.failed.length} file(s) of the build failed to load: ` +
    log.failed.map((f) => `${f.type} ${f.url} (${f.why})`).join(", "));
  const errors = pageErrors(log);
  if (errors.length) fail(`${rel}: JavaScript errors:\n    ${errors.join("\n    ")}`);
}

async function checkExplorer(context) {
  const opened = await openPage(context, PAGES.explorer);
  const explorer = opened.page.locator(".focal-explorer");
  await explorer.first().waitFor({ timeout: TIMEOUT }).catch(() =>
    fail(`${PAGES.explorer}: no widget with class "focal-explorer" rendered within ${TIMEOUT / 1000} s ` +
      `(widget state missing from the page, or the widget JavaScript failed: ` +
      `${pageErrors(opened.log).join("; ") || "no error logged"})`));
  if ((await explorer.count()) !== 1) fail(`${PAGES.explorer}: ${await explorer.count()} explorers, expected 1`);
  let image = await shownImages(explorer);
  if (!(await move(explorer, "image"))) {
    fail(`explorer has no control labelled "image" (an IntSlider); its labels: ${await labels(explorer)}`);
  }
  image = await expectImageChange(explorer, image, "image");
  let moved = 0;
  for (const name of SECOND_CONTROLS) {
    if (!(await move(explorer, name))) { console.log(`  (no "${name}" control)`); continue; }
    image = await expectImageChange(explorer, image, name);
    moved += 1;
  }
  if (!moved) fail(`explorer has none of the controls ${SECOND_CONTROLS.join(", ")}; its labels: ${await labels(explorer)}`);
  await opened.page.waitForLoadState("networkidle");
  checkLog(opened);
  printWeight(opened.log.requests);
}

// Moves a frame slider, once to the right (or left at its end) and once back, and checks that each move
// shows a different picture, and that moving back shows the first one again.
async function checkStepper(context, { rel, slider, shot }) {
  const opened = await openPage(context, rel);
  const stepper = opened.page.locator(".focal-stepper");
  await stepper.first().waitFor({ timeout: TIMEOUT }).catch(() =>
    fail(`${rel}: no widget with class "focal-stepper" rendered within ${TIMEOUT / 1000} s ` +
      `(${pageErrors(opened.log).join("; ") || "no error logged"})`));
  if ((await stepper.count()) !== 1) fail(`${rel}: ${await stepper.count()} frame sliders, expected 1`);
  await stepper.scrollIntoViewIfNeeded();
  const first = await shownImages(stepper);
  if (SHOTS) await stepper.screenshot({ path: path.join(SHOTS, `${shot}_before.png`) });
  const handle = stepper.locator(".noUi-handle, .ui-slider-handle");
  const keys = [];
  for (const step of ["forward", "back"]) {
    const before = step === "forward" ? first : await shownImages(stepper);
    const [now, max] = await Promise.all(["aria-valuenow", "aria-valuemax"].map((a) => handle.getAttribute(a)));
    const key = step === "back" ? (keys[0] === "ArrowRight" ? "ArrowLeft" : "ArrowRight")
      : (now === null || Number(now) < Number(max) ? "ArrowRight" : "ArrowLeft");
    keys.push(key);
    await handle.focus();
    await handle.press(key);
    await opened.page.waitForFunction(([sel, srcs]) => {
      const shown = [...document.querySelectorAll(`${sel} img`)].filter((e) => e.checkVisibility());
      return shown.map((e) => e.src).join(" ") !== srcs && shown.every((e) => e.complete);
    }, [".focal-stepper", before.srcs], { timeout: 10000 }).catch(() =>
      fail(`${rel}: moving the "${slider}" slider ${step} did not change the image shown`));
    const after = await shownImages(stepper);
    if (after.hashes === before.hashes) fail(`${rel}: moving "${slider}" ${step} re-rendered the same picture`);
    const label = (await stepper.locator(".widget-readout").first().textContent()).trim();
    console.log(`  "${slider}" ${step} (${key}) -> ${label}: image ${before.hashes} -> ${after.hashes}`);
    if (step === "forward" && SHOTS) await stepper.screenshot({ path: path.join(SHOTS, `${shot}_moved.png`) });
    if (step === "back" && after.hashes !== first.hashes) fail(`${rel}: moving "${slider}" back did not show the first picture again`);
  }
  await opened.page.waitForLoadState("networkidle");
  checkLog(opened);
}

async function checkMath(context) {
  const opened = await openPage(context, PAGES.math);
  const { page } = opened;
  const sources = await page.locator("div.math, span.math").count();
  if (!sources) fail(`${PAGES.math}: no math in the page; point PAGES.math at a page with formulas`);
  await page.waitForFunction((n) => document.querySelectorAll("mjx-container").length >= n, sources,
    { timeout: TIMEOUT }).catch(async () => fail(`${PAGES.math}: MathJax typeset ` +
      `${await page.locator("mjx-container").count()} of ${sources} formulas within ${TIMEOUT / 1000} s`));
  const errors = await page.locator("mjx-merror").count();
  if (errors) fail(`${PAGES.math}: ${errors} formulas have TeX errors (mjx-merror)`);
  await page.evaluate(() => document.fonts.ready);
  await page.waitForLoadState("networkidle");
  checkLog(opened);
  console.log(`  ${sources} formulas typeset, fonts: ${opened.log.requests.filter((u) => u.endsWith(".woff")).length} woff files`);
}

async function checkProgress(context) {
  const opened = await openPage(context, PAGES.progress);
  await opened.page.locator(".widget-hprogress").first().waitFor({ timeout: TIMEOUT }).catch(() =>
    fail(`${PAGES.progress}: tqdm's progress bar (.widget-hprogress) did not render`));
  if (await opened.page.locator(".jupyter-widgets-error-widget").count()) fail(`${PAGES.progress}: a widget failed to render`);
  await opened.page.waitForLoadState("networkidle");
  checkLog(opened);
}

// Bytes of every distinct file the page loaded, its HTML included (data: and blob: URLs, like the
// widgets' images, are inside the HTML already).
function printWeight(requests) {
  const files = [...new Set(requests.filter((u) => u.startsWith(ROOT_URL)).map((u) => fileURLToPath(u.split(/[?#]/)[0])))]
    .map((f) => ({ f: path.relative(BUILD, f), size: fs.statSync(f).size })).sort((a, b) => b.size - a.size);
  const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
  console.log(`  page weight: ${mb(files.reduce((sum, x) => sum + x.size, 0))} in ${files.length} files; largest: ` +
    files.slice(0, 4).map((x) => `${x.f} ${mb(x.size)}`).join(", "));
}

async function main() {
  const start = Date.now();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  try {
    const context = await browser.newContext();
    context.setDefaultTimeout(TIMEOUT);
    for (const [label, check] of [["chapter 8 explorer", checkExplorer], ["chapter 4 math", checkMath],
      ["chapter 1 progress bar", checkProgress]]) {
      console.log(`${label}:`);
      await check(context);
    }
    for (const stepper of STEPPERS) {
      console.log(`frame slider "${stepper.slider}" (${stepper.rel}):`);
      await checkStepper(context, stepper);
    }
  } finally {
    await browser.close();
  }
  console.log(`browser test passed in ${((Date.now() - start) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(e instanceof TestFailure ? `FAILED: ${e.message}` : e);
  process.exit(1);
});
