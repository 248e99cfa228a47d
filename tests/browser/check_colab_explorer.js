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
const TIMEOUT = 300000; // ms: the kernel imports TensorFlow, loads the model and CIFAR-10 on 2 busy cores
const CONTROLS = ["image", "block", "map", "opacity"];

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
    await page.goto(URL, { waitUntil: "load" });
    await page.waitForFunction(() => window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel &&
      Jupyter.notebook.kernel.is_connected() && Jupyter.notebook._fully_loaded);
    const versions = await page.evaluate(() => ({ notebook: Jupyter.version }));
    console.log(`  classic Notebook front end ${versions.notebook}; running all cells`);
    await page.evaluate(() => Jupyter.notebook.execute_all_cells());
    const explorer = page.locator(".focal-explorer");
    await page.waitForFunction(() => {
      const busy = Jupyter.notebook.get_cells().some((c) => c.element.hasClass("running"));
      const img = document.querySelector(".focal-explorer img");
      return (!busy && img && img.naturalWidth > 0) ||
        document.querySelector(".output_error, .output_stderr, .jupyter-widgets-error-widget");
    }).catch(() => fail(`no explorer rendered within ${TIMEOUT / 1000} s`));
    const bad = await page.locator(".output_error, .output_stderr, .jupyter-widgets-error-widget").allInnerTexts();
    if (bad.length) fail(`the notebook's cells wrote errors or stderr:\n    ${bad.join("\n    ")}`);
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
