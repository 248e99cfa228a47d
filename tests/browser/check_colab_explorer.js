#!/usr/bin/env node
// Browser test of chapter 8's explorer running LIVE under Colab's widget stack: classic Notebook 6.5.7,
// widgetsnbextension 3.6.10, ipywidgets 7.7.1 (no Stack, so the explorer picks live mode by itself).
// scripts/colab_browser_test.sh starts the notebook server in Colab's runtime and runs this file.
//
// Opens the notebook, runs all its cells in the kernel, then moves each control of the explorer
// ("image", "block", "map", "opacity") and checks that the image shown changes (new picture bytes, drawn
// by the kernel), that the explorer says it runs live, and that no cell wrote to stderr or raised.
// Screenshots of the explorer before and after each move go to SHOTS_DIR (default _build/shots13).
// Usage: node tests/browser/check_colab_explorer.js URL_OF_THE_NOTEBOOK
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");
const { TestFailure, fail, move, labels, shownImages, expectImageChange } = require("./explorer");

const URL = process.argv[2];
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = path.resolve(process.env.SHOTS_DIR || "_build/shots13");
const TIMEOUT = 180000; // ms: the kernel imports TensorFlow, loads the model and CIFAR-10 on 2 busy cores
const CONTROLS = ["image", "block", "map", "opacity"];

// Classic Notebook has two start-up races that a reader, pressing Run all seconds after the page opens,
// never meets, but a script running all cells at once does (each seen in about one start in three on
// this machine; they are the server's and ipywidgets 7's, not the book's):
//  1. the server sometimes loses the kernel's replies on a new connection (its kernel_info "nudge"):
//     the page then sees status messages only, never the kernel_info_reply. We reload the page;
//  2. ipywidgets 7's manager, once connected, asks the kernel for its widgets (comm_info_request) and
//     loads each one it does not know yet; widgets made by cells that ran before that reply are loaded a
//     second time and the explorer is never drawn. We wait for the reply before running anything.
const CONNECT_TRIES = 5;
const CONNECT_TIMEOUT = 30000; // ms for the kernel_info and comm_info replies once the page is loaded

async function openWithKernelReady(page) {
  for (let attempt = 1; attempt <= CONNECT_TRIES; attempt++) {
    const replies = new Set();
    const seen = new Promise((resolve) => {
      page.on("websocket", (ws) => ws.on("framereceived", ({ payload }) => {
        const type = (String(payload).match(/"msg_type":\s*"(kernel_info_reply|comm_info_reply)"/) || [])[1];
        if (type) replies.add(type);
        if (replies.size === 2) resolve();
      }));
    });
    await page.goto(URL, { waitUntil: "load" });
    await page.waitForFunction(() => window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel &&
      Jupyter.notebook.kernel.is_connected() && Jupyter.notebook._fully_loaded);
    const timer = new Promise((resolve) => setTimeout(() => resolve("timeout"), CONNECT_TIMEOUT));
    const ready = (await Promise.race([seen, timer])) !== "timeout" && await page.evaluate(
      () => Boolean(Jupyter.notebook.kernel.info_reply.protocol_version));
    page.removeAllListeners("websocket");
    if (ready) return;
    console.log(`  start ${attempt}: no ${["kernel_info_reply", "comm_info_reply"].filter((t) => !replies.has(t))
      .join(" or ")} within ${CONNECT_TIMEOUT / 1000} s (the server's connection race); reloading`);
  }
  fail(`the kernel did not answer the page in ${CONNECT_TRIES} starts`);
}

async function main() {
  if (!URL) fail("usage: node tests/browser/check_colab_explorer.js URL_OF_THE_NOTEBOOK");
  fs.mkdirSync(SHOTS, { recursive: true });
  const start = Date.now();
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.setDefaultTimeout(TIMEOUT);
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await openWithKernelReady(page);
    const versions = await page.evaluate(() => ({ notebook: Jupyter.version }));
    console.log(`  classic Notebook front end ${versions.notebook}; running all cells`);
    await page.evaluate(() => Jupyter.notebook.execute_all_cells());
    const explorer = page.locator(".focal-explorer");
    // Done when every cell has run and the explorer shows a loaded image, or as soon as a cell shows an
    // error or stderr; what was seen is read in the same pass, as a later look could find it redrawn.
    const outcome = await page.waitForFunction(() => {
      const bad = [...document.querySelectorAll(".output_error, .output_stderr, .jupyter-widgets-error-widget")];
      if (bad.length) return { errors: bad.map((e) => e.innerText || e.className) };
      const busy = Jupyter.notebook.get_cells().some((c) => c.element.hasClass("running"));
      const img = document.querySelector(".focal-explorer img");
      return !busy && img && img.naturalWidth > 0 && { errors: [] };
    }).then((h) => h.jsonValue(), () => fail(`no explorer rendered within ${TIMEOUT / 1000} s`));
    if (outcome.errors.length) fail(`the notebook's cells wrote errors or stderr:\n    ${outcome.errors.join("\n    ")}`);
    if ((await explorer.count()) !== 1) fail(`${await explorer.count()} explorers, expected 1`);
    const note = await explorer.innerText();
    if (!/Live explorer/.test(note) || !/ipywidgets 7\./.test(note)) {
      fail(`the explorer does not say it runs live on ipywidgets 7: ${JSON.stringify(note)}`);
    }
    let image = await shownImages(explorer);
    for (const [n, name] of CONTROLS.entries()) {
      const shot = (when) => explorer.screenshot({ path: path.join(SHOTS, `${n + 1}-${name}-${when}.png`) });
      await shot("before");
      if (!(await move(explorer, name))) fail(`no control labelled "${name}"; labels: ${await labels(explorer)}`);
      image = await expectImageChange(explorer, image, name);
      await shot("after");
    }
    const jsErrors = errors.filter((e) => !/net::ERR_/.test(e));
    if (jsErrors.length) fail(`JavaScript errors:\n    ${jsErrors.join("\n    ")}`);
    console.log(`  screenshots in ${SHOTS}`);
  } finally {
    await browser.close();
  }
  console.log(`live explorer test passed in ${((Date.now() - start) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(e instanceof TestFailure ? `FAILED: ${e.message}` : e);
  process.exit(1);
});
