// Drives chapter 8's gate explorer (the VBox with class "focal-explorer") in a page, whichever widget
// stack renders it: ipywidgets 8 (the HTML book, noUiSlider) or 7 (Colab's 7.7.1 in classic Notebook,
// jQuery UI sliders). Used by check_pages.js (static book) and check_colab_explorer.js (live kernel).
"use strict";

class TestFailure extends Error {}
const fail = (msg) => { throw new TestFailure(msg); };

// The control whose description label reads `name`: the element holding that label, inside the explorer.
function control(explorer, name) {
  const label = explorer.page().locator(":scope > .widget-label", { hasText: new RegExp(`^\\s*${name}:?\\s*$`) });
  return explorer.locator(":has(> .widget-label)").filter({ has: label }).first();
}

const labels = async (explorer) => (await explorer.locator(".widget-label").allTextContents()).join(", ");

// Moves a slider (keyboard on its handle), a dropdown, toggle buttons or radio buttons to another value.
async function move(explorer, name) {
  const c = control(explorer, name);
  if (!(await c.count())) return false;
  const handle = c.locator(".noUi-handle, .ui-slider-handle");
  const select = c.locator("select");
  const buttons = c.locator("button");
  const radios = c.locator("input[type=radio]");
  if (await handle.count()) {
    // ipywidgets 8's noUiSlider says where it is in aria attributes; ipywidgets 7's jQuery UI slider
    // does not (then: right, from its initial value, which is never the maximum here).
    const [now, max] = await Promise.all(["aria-valuenow", "aria-valuemax"].map((a) => handle.getAttribute(a)));
    await handle.focus();
    await handle.press(now === null || Number(now) < Number(max) ? "ArrowRight" : "ArrowLeft");
  } else if (await select.count()) {
    const values = await select.locator("option").evaluateAll((os) => os.map((o) => o.value));
    const now = await select.inputValue();
    await select.selectOption(values.find((v) => v !== now));
  } else if (await buttons.count()) {
    await c.locator("button:not(.mod-active)").first().click();
  } else if (await radios.count()) {
    await c.locator("input[type=radio]:not(:checked)").first().check();
  } else {
    fail(`explorer control "${name}" is neither a slider, a dropdown, toggle buttons nor radio buttons`);
  }
  return true;
}

// The images the explorer shows: src and a hash of the bytes of each visible img (a new src alone
// could be a re-render of the same picture).
async function shownImages(explorer) {
  const shown = await explorer.locator("img").evaluateAll(async (els) => {
    const visible = els.filter((e) => e.checkVisibility() && e.naturalWidth > 0);
    return Promise.all(visible.map(async (e) => {
      const bytes = new Uint8Array(await (await fetch(e.src)).arrayBuffer());
      let h = 2166136261; // FNV-1a
      for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
      return { src: e.src, hash: `${bytes.length}:${h.toString(16)}` };
    }));
  });
  if (!shown.length) fail("the explorer shows no image (no visible, loaded img inside .focal-explorer)");
  return { srcs: shown.map((i) => i.src).join(" "), hashes: shown.map((i) => i.hash).join(" ") };
}

async function expectImageChange(explorer, before, what) {
  const changed = (srcs) => [...document.querySelectorAll(".focal-explorer img")]
    .filter((e) => e.checkVisibility()).map((e) => e.src).join(" ") !== srcs;
  await explorer.page().waitForFunction(changed, before.srcs, { timeout: 10000 }).catch(() =>
    fail(`moving the explorer's "${what}" control did not change the image shown (still ${before.srcs})`));
  await explorer.page().waitForFunction(() => [...document.querySelectorAll(".focal-explorer img")]
    .every((e) => !e.checkVisibility() || e.complete));
  const after = await shownImages(explorer);
  if (after.hashes === before.hashes) fail(`moving "${what}" re-rendered the same picture (${after.hashes})`);
  console.log(`  "${what}" moved: image ${before.hashes} -> ${after.hashes}`);
  return after;
}


module.exports = { TestFailure, fail, control, labels, move, shownImages, expectImageChange };
