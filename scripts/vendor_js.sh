#!/usr/bin/env bash
# Copy the JavaScript that the HTML book serves itself into _vendor/vendor/ (gitignored); _config.yml's
# html_extra_path publishes it as _build/html/vendor/. Why: the book must work offline (the build
# machine, CI and a downloaded copy of the site have no CDN), so the widget manager, require.js and
# MathJax come from the npm packages pinned in package-lock.json instead of cdnjs/jsdelivr.
# Installs them (`npm ci`) when node_modules is missing or older than the lock file.
# Usage: scripts/vendor_js.sh   (run by `make book` before `jupyter-book build`)
set -euo pipefail
cd "$(dirname "$0")/.."

NM=node_modules
DEST=_vendor/vendor

need_npm() {
    command -v npm >/dev/null 2>&1 && return 0
    echo "error: npm not found. The book serves its own widget JavaScript and MathJax, installed from" >&2
    echo "npm (package.json); install Node.js 20 or newer with npm (Debian: apt-get install nodejs npm)." >&2
    exit 1
}

# npm ci writes node_modules/.package-lock.json; a lock file newer than it means node_modules is stale.
install_if_stale() {
    if [ ! -f "$NM/.package-lock.json" ] || [ package-lock.json -nt "$NM/.package-lock.json" ] \
        || [ package.json -nt "$NM/.package-lock.json" ]; then
        need_npm
        # --ignore-scripts: no package needs its install script here (fontawesome's only prints a notice).
        npm ci --ignore-scripts --no-audit --no-fund
    fi
}

# copy 'GLOB'... DIR: copy files of node_modules into $DEST/DIR, keeping their names. Quote the globs:
# they expand inside node_modules, and one that matches nothing fails the build (a package changed).
copy() {
    local dir=$DEST/${*: -1} src
    mkdir -p "$dir"
    for src in "${@:1:$#-1}"; do
        compgen -G "$NM/$src" >/dev/null || { echo "error: $NM/$src not found" >&2; exit 1; }
        cp $NM/$src "$dir/"
    done
}

vendor() {
    rm -rf _vendor
    # require.js's folder is the AMD baseUrl (see _config.yml). The widget manager takes the folder of
    # its fonts from its module name: baseUrl + @jupyter-widgets/html-manager/dist/, hence npm's layout.
    copy requirejs/require.js .
    # embed-amd.js holds the manager and the core widgets (ipywidgets 8's, and 7's) as named AMD
    # modules: the pages load nothing else from this package but Font Awesome's woff2 files. Not
    # copied: embed.js, libembed-amd.js (the same bundle again), .map files, older font formats.
    copy @jupyter-widgets/html-manager/dist/embed-amd.js '@jupyter-widgets/html-manager/dist/*.woff2' \
        @jupyter-widgets/html-manager/dist
    # MathJax finds its fonts and extensions relative to tex-chtml.js: keep its es5/ layout.
    # tex-chtml.js holds the TeX input (amsmath included) and CommonHTML output; the extensions are
    # loaded on demand by macros that autoload a package (\boldsymbol, \cancel, ...).
    copy mathjax/es5/tex-chtml.js mathjax/LICENSE mathjax
    copy 'mathjax/es5/output/chtml/fonts/woff-v2/*.woff' mathjax/output/chtml/fonts/woff-v2
    copy 'mathjax/es5/input/tex/extensions/*.js' mathjax/input/tex/extensions
}

install_if_stale
vendor
echo "Vendored JavaScript: $(du -sh _vendor | cut -f1) in $DEST"
