"""Shadow page benchmark (docs/benchmarks.md, "Shadow page"): one shadow with 1,000 kept versions,
opened and scrubbed in headless Chromium (Playwright) against `thingbox serve` (release).

- open: from navigating to the shadow's page until its newest version's tree and the timeline's
  first page (the newest 100 versions, each with the leaves it changed) are rendered; then the
  time to show all 1,000 in the timeline;
- scrub: the travel slider moved through 200 positions, one per animation frame, each step
  waiting for the next frame after the tree of that version is in the DOM; frames per second is
  steps / elapsed time.

    python3 bench/shadows.py --thingbox target/release/thingbox [--versions 1000] [--runs 5]
(run through `scripts/bench shadows`, which uses the test virtualenv's Playwright)."""

import json
import statistics
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import browser_args, console_runs  # noqa: E402

# iot-data is told apart by the credential scope's service (signatures are not checked).
IOTDATA = {"authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/iotdata/aws4_request, "
                            "SignedHeaders=host, Signature=0", "content-type": "application/json"}

SCRUB = """async ([steps, max]) => {
  const slider = document.querySelector('#shadow-scrub');
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  const t0 = performance.now();
  for (let k = 0; k < steps; k++) {
    slider.value = String(Math.round(k * max / steps));
    slider.dispatchEvent(new Event('input', {bubbles: true}));
    await frame();
  }
  return performance.now() - t0;
}"""


def update(api, thing, i):
    section = "desired" if i % 2 == 0 else "reported"
    state = {section: {"temp": 20 + i % 7, "mode": ["eco", "boost", "off"][i % 3], "fw": {"version": f"1.{i // 100}"},
                       "counter": i}}
    req = urllib.request.Request(f"{api}/things/{thing}/shadow", data=json.dumps({"state": state}).encode(),
                                 headers=IOTDATA, method="POST")
    urllib.request.urlopen(req, timeout=30).read()


def main():
    args = browser_args(versions=1000)
    thing = "bench-shadow"

    def prepare(ep):
        for i in range(args.versions):  # one after the other: each is a version
            update(ep["api"], thing, i)

    opened, fps, everything = [], [], []
    for page in console_runs(args, prepare):
        t0 = page.evaluate("performance.now()")
        page.evaluate(f"location.hash = '#/shadows/{thing}'")
        page.wait_for_function(
            f"document.querySelector('#shadow-version')?.innerText === 'version {args.versions}' && "
            f"document.querySelectorAll('#shadow-timeline tbody tr').length === {min(args.versions, 100)}")
        opened.append(page.evaluate("performance.now()") - t0)
        if args.versions > 100:
            t0 = page.evaluate("performance.now()")
            page.click("#timeline-all")
            page.wait_for_function(f"document.querySelectorAll('#shadow-timeline tbody tr').length === {args.versions}")
            everything.append(page.evaluate("performance.now()") - t0)
        steps = 200
        elapsed = page.evaluate(SCRUB, [steps, args.versions - 1])
        fps.append(steps / (elapsed / 1000))
    med = statistics.median
    print(f"shadow page, one shadow with {args.versions} versions, median of {args.runs} fresh browser contexts:")
    print(f"| open (the newest version's tree, the timeline's newest 100 of {args.versions}) | {med(opened):.0f} ms "
          f"(min {min(opened):.0f}, max {max(opened):.0f}) |")
    if everything:
        print(f"| show all {args.versions} versions in the timeline | {med(everything):.0f} ms |")
    print(f"| scrub (200 slider steps, one per frame) | {med(fps):.0f} FPS (min {min(fps):.0f}, max {max(fps):.0f}) |")


if __name__ == "__main__":
    main()
