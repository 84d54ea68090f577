#!/bin/sh
# Copy the console's browser libraries from npm into the package (src/ispops/console/static/vendor).
# Versions are pinned in package.json (exact versions); the output is committed, so building or running
# ispops never needs npm or the network. Re-run after changing a version, and commit the result.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../src/ispops/console/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$work/"
(cd "$work" && npm install --no-audit --no-fund --ignore-scripts --omit=dev >/dev/null)
m="$work/node_modules"
rm -rf "$out"
mkdir -p "$out/htmx" "$out/leaflet/images" "$out/uplot"
cp "$m/htmx.org/dist/htmx.min.js" "$m/htmx.org/LICENSE" "$out/htmx/"
cp "$m/leaflet/dist/leaflet.js" "$m/leaflet/dist/leaflet.css" "$m/leaflet/LICENSE" "$out/leaflet/"
cp "$m/leaflet/dist/images/"*.png "$out/leaflet/images/"
cp "$m/uplot/dist/uPlot.iife.min.js" "$m/uplot/dist/uPlot.min.css" "$m/uplot/LICENSE" "$out/uplot/"
for pkg in htmx.org leaflet uplot; do
    node -e "const p=require('$m/$pkg/package.json'); console.log(p.name + ' ' + p.version + ' ' + p.license)"
done >"$out/VERSIONS"
echo "vendored into $out:"
cat "$out/VERSIONS"
