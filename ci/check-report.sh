#!/usr/bin/env bash
# ci/check-report.sh: open a cnbench HTML report in a headless browser with no network, and
# check that every plot it lists was drawn.
#
#   ci/check-report.sh REPORT_DIR [SCREENSHOT.png]
#
# REPORT_DIR is what `cnbench report ... --out REPORT_DIR` wrote. The browser (chromium,
# installed with apt-get when missing) runs under `unshare --net`: a network namespace of its
# own with nothing but a loopback device that is down, so a report that needed the network
# (an external script, font or image) would show it. The DOM after load must hold one inline
# <svg> per plot file in REPORT_DIR, and no element may point outside the report. A full-page
# screenshot goes to SCREENSHOT.png (default REPORT_DIR/screenshot.png) for a person to look at.
#
# Needs root (unshare --net). Exit status: 0 fine, 1 a check failed, 2 usage or setup error.
set -euo pipefail

dir=${1:?usage: ci/check-report.sh REPORT_DIR [SCREENSHOT.png]}
shot=${2:-$dir/screenshot.png}
[ -f "$dir/index.html" ] || { echo "check-report: $dir/index.html missing: run cnbench report --out $dir first" >&2; exit 2; }

if ! command -v chromium >/dev/null; then
    echo "check-report: installing chromium"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || {
        echo "check-report: could not install chromium (apt-get install chromium)" >&2; exit 2; }
fi

url="file://$(realpath "$dir")/index.html"
browser() {
    timeout 120 unshare --net chromium --headless=new --no-sandbox --disable-gpu \
        --hide-scrollbars --user-data-dir="$(mktemp -d)" "$@" "$url" 2>/dev/null
}

dom=$(browser --dump-dom)
plots=$(find "$dir" -maxdepth 1 -name '*.svg' | wc -l)
svgs=$(grep -o '<svg' <<<"$dom" | wc -l)
fail=0
echo "plots written: $plots, inline <svg> elements in the loaded page: $svgs"
if [ "$svgs" -lt "$plots" ]; then
    echo "check-report: FAIL: the page shows fewer plots than the report wrote" >&2
    fail=1
fi
if grep -Eq '<(script|link|img|iframe)[^>]+(src|href)="(https?:)?//' <<<"$dom"; then
    echo "check-report: FAIL: the page refers to something outside the report" >&2
    fail=1
fi
height=$(( 1200 + 1100 * plots ))
browser --window-size=1280,"$height" --screenshot="$shot" >/dev/null
echo "screenshot: $shot (1280x$height)"
exit "$fail"
