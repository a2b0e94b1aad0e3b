"""Console benchmark: first paint and first useful render of the console served by `thingbox serve`
(release), and the things list with 10,000 things — time to show a page, to page forward, to search —
measured in headless Chromium (Playwright) with the browser's own Performance API.

    python3 bench/console.py --thingbox target/release/thingbox [--things 10000] [--runs 5]
(run through `scripts/bench console`, which uses the test virtualenv's Playwright)."""

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "e2e"))

from common import browser_args, console_runs  # noqa: E402
from registry import seed  # noqa: E402



def ms(page, expr):
    return page.evaluate(expr)


def main():
    args = browser_args(things=10_000)
    fcp, ready, things_first, next_page, search = [], [], [], [], []
    for page in console_runs(args, lambda ep: seed(int(ep["api"].rsplit(":", 1)[1]), args.things)):
        ready.append(ms(page, "performance.now()"))
        fcp.append(ms(page, "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1"))
        t0 = ms(page, "performance.now()")
        page.evaluate("location.hash = '#/things'")
        page.wait_for_selector("#things tbody tr")
        things_first.append(ms(page, "performance.now()") - t0)
        assert f"of {args.things + 1}" in page.inner_text("#things-range")
        t0 = ms(page, "performance.now()")
        page.click("#next-page")
        page.wait_for_function("document.querySelector('#things-range').innerText.startsWith('51')")
        next_page.append(ms(page, "performance.now()") - t0)
        t0 = ms(page, "performance.now()")
        page.fill("#search", "seed-9999")
        page.wait_for_function("document.querySelectorAll('#things tbody tr').length === 1")
        search.append(ms(page, "performance.now()") - t0)
    med = statistics.median
    print(f"console, {args.things} things, median of {args.runs} fresh browser contexts (ms):")
    print(f"| first contentful paint | {med(fcp):.0f} |")
    print(f"| overview rendered with data | {med(ready):.0f} |")
    print(f"| things list shown (page of 50) | {med(things_first):.0f} |")
    print(f"| next page | {med(next_page):.0f} |")
    print(f"| search by name (1 match of {args.things}) | {med(search):.0f} |")


if __name__ == "__main__":
    main()
