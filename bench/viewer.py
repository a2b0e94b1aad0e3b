#!/usr/bin/env python3
"""Topic-viewer benchmark (docs/benchmarks.md, "Topic viewer"): `thingbox-bench load` offers
10,000 msgs/s over 1,000 topics for 60 s through mutual TLS while a QoS 0 subscriber counts what
the broker delivers, twice on the same server — once with no viewer, once with the console's
Messages page open on `#` in headless Chromium. Meanwhile it samples, once a second:

- the browser's frame rate: frames counted with requestAnimationFrame, timed with the Performance
  API (performance.now), plus long tasks (PerformanceObserver 'longtask');
- the browser's memory: the page's JS heap (CDP Performance.getMetrics) and the proportional set
  size (PSS, /proc/<pid>/smaps_rollup) of every Chromium process, summed;
- the engine's resident set size (VmRSS) and the history's size (`/console/api/history/stats`).

Then the same two runs unpaced (as fast as the load tool can publish) show the viewer's cost at
saturation. Prints Markdown tables. It measures; it does not judge.

    python3 bench/viewer.py --thingbox target/release/thingbox --tool target/release/thingbox-bench
(run through `scripts/bench viewer`, which uses the test virtualenv's Playwright)."""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import raise_fd_limit, tool_args  # noqa: E402
from mqtt import issue_device, rss_kb, start_thingbox  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

# Counts frames (requestAnimationFrame) and long tasks; timestamps are performance.now().
FRAME_COUNTER = """
window.__bench = {frames: [], longTasks: 0, longTaskMs: 0};
(function tick(t) { window.__bench.frames.push(t); requestAnimationFrame(tick); })(performance.now());
new PerformanceObserver(list => {
  for (const e of list.getEntries()) { window.__bench.longTasks++; window.__bench.longTaskMs += e.duration; }
}).observe({type: 'longtask', buffered: false});
"""


def descendants(root):
    """Pids of every process below `root`."""
    children = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def chromium_pss_kb():
    """(PSS of every Chromium process summed, PSS of the largest renderer: the console's tab)."""
    total, renderer = 0, 0
    for pid in descendants(os.getpid()):
        try:
            if "chrom" not in Path(f"/proc/{pid}/comm").read_text():
                continue
            kind = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            pss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                       if line.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
        total += pss
        if b"--type=renderer" in kind:
            renderer = max(renderer, pss)
    return total, renderer


def chromium_cpu_seconds():
    """CPU time of every Chromium process below this one, summed."""
    total = 0.0
    for pid in descendants(os.getpid()):
        try:
            if "chrom" in Path(f"/proc/{pid}/comm").read_text():
                total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def history_stats(api, token):
    req = urllib.request.Request(api + "/console/api/history/stats", headers={"x-thingbox-token": token})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())


def run_load(tool, port, tls, rate, topics, seconds, on_second=None):
    """Runs `thingbox-bench load`; calls on_second() once a second meanwhile; returns its result."""
    cmd = [tool, "--host", "localhost", "--port", str(port), "--ca", tls["ca"], "--cert", tls["cert"],
           "--key", tls["key"], "load", "--rate", str(rate), "--topics", str(topics), "--seconds", str(seconds)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=raise_fd_limit)
    progress = []
    reader = threading.Thread(target=lambda: progress.extend(json.loads(line) for line in p.stderr
                                                             if line.startswith("{")), daemon=True)
    reader.start()
    while p.poll() is None:
        if on_second:
            on_second()
        time.sleep(1.0)
    out = p.stdout.read()
    reader.join(5)
    if p.returncode != 0:
        raise RuntimeError(f"thingbox-bench load failed ({p.returncode}): {out}")
    return json.loads(out.strip().splitlines()[-1])


class Sampler:
    """Once-a-second readings of the engine (and of the browser when a page is given)."""

    def __init__(self, engine_pid, api, token, page=None, cdp=None):
        self.engine_pid, self.api, self.token, self.page, self.cdp = engine_pid, api, token, page, cdp
        self.rss, self.heap, self.pss, self.tab, self.history = [], [], [], [], []
        self.cpu_start, self.t_start = cpu_seconds(engine_pid), time.monotonic()

    def engine_cpu(self):
        """The engine's CPU use since the sampler was made, in % of one core."""
        return 100 * (cpu_seconds(self.engine_pid) - self.cpu_start) / (time.monotonic() - self.t_start)

    def __call__(self):
        self.rss.append(rss_kb(self.engine_pid))
        self.history.append(history_stats(self.api, self.token))
        if self.page is not None:
            metrics = {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}
            self.heap.append(metrics["JSHeapUsedSize"] / 1024)
            total, tab = chromium_pss_kb()
            self.pss.append(total)
            self.tab.append(tab)


def frame_rates(frames, start, end):
    """Frames in each whole second between start and end (performance.now() ms)."""
    per = [0] * int((end - start) // 1000)
    for t in frames:
        i = int((t - start) // 1000)
        if 0 <= i < len(per):
            per[i] += 1
    return per


def browser_run(a, thingbox, ep, tls, token, rate, seconds, route):
    """One load run with the console open on `route` ("messages": the viewer on `#` and `$aws/#`;
    "overview": the console open, the viewer not)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, headless=True, args=FLAGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 860})
        page = ctx.new_page()
        page.goto("about:blank")
        time.sleep(1.0)
        baseline = chromium_pss_kb()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(ep["console"] + "#/" + route)
        if route == "messages":
            page.wait_for_selector("#filters [data-filter='#']")
            page.wait_for_selector("#totals .dot.on")
        else:
            page.wait_for_selector("#counts")
        cdp = ctx.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.evaluate(FRAME_COUNTER)
        sampler = Sampler(thingbox.proc.pid, ep["api"], token, page, cdp)
        t0, c0, w0 = page.evaluate("performance.now()"), chromium_cpu_seconds(), time.monotonic()
        result = run_load(a.tool, thingbox.port, tls, rate, a.topics, seconds, sampler)
        t1 = page.evaluate("performance.now()")
        browser_cpu = 100 * (chromium_cpu_seconds() - c0) / (time.monotonic() - w0)
        bench = page.evaluate("({frames: window.__bench.frames, longTasks: window.__bench.longTasks,"
                              " longTaskMs: window.__bench.longTaskMs})")
        totals = page.inner_text("#totals") if route == "messages" else ""
        browser.close()
    if errors:
        raise RuntimeError(f"the console failed: {errors}")
    return result, sampler, {"fps": frame_rates(bench["frames"], t0, t1), "long_tasks": bench["longTasks"],
                             "long_task_ms": bench["longTaskMs"], "totals": totals, "baseline_pss": baseline,
                             "cpu": browser_cpu, "engine_cpu": sampler.engine_cpu()}


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


def main():
    ap = tool_args(__doc__)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--topics", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--saturation-seconds", type=int, default=20, help="0 skips the unpaced runs")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tb-viewer-bench-"))
    try:
        thingbox, ep = start_thingbox(a.thingbox, str(work / "data"), *a.thingbox_arg)
        token = ep["console"].split("token=", 1)[1]
        cert, key = issue_device(ep["api"], work)
        tls = {"ca": ep["root_ca"], "cert": str(cert), "key": str(key)}
        rss_start = rss_kb(thingbox.proc.pid)
        closed_s = Sampler(thingbox.proc.pid, ep["api"], token)
        closed = run_load(a.tool, thingbox.port, tls, a.rate, a.topics, a.seconds, closed_s)
        closed_cpu = closed_s.engine_cpu()
        opened, open_s, browser = browser_run(a, thingbox, ep, tls, token, a.rate, a.seconds, "messages")
        open_cpu = open_s.engine_cpu()
        sat = []
        if a.saturation_seconds:
            s = Sampler(thingbox.proc.pid, ep["api"], token)
            r = run_load(a.tool, thingbox.port, tls, 0, a.topics, a.saturation_seconds, s)
            sat.append(("no browser", r, {"engine_cpu": s.engine_cpu()}))
            for label, route in (("console open on the overview", "overview"), ("viewer open on `#`", "messages")):
                r, _, b = browser_run(a, thingbox, ep, tls, token, 0, a.saturation_seconds, route)
                sat.append((label, r, b))
        rss_end = rss_kb(thingbox.proc.pid)
        final = history_stats(ep["api"], token)
        thingbox.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(json.dumps({"closed": closed, "open": opened, "browser": browser, "saturation": sat, "history": final,
                      "rss_closed": closed_s.rss, "rss_open": open_s.rss, "tab": open_s.tab, "pss": open_s.pss}),
          file=sys.stderr)
    fps = browser["fps"]
    mb = lambda kb: f"{kb / 1024:,.0f} MB"  # noqa: E731
    ratio = opened["received_per_sec"] / closed["received_per_sec"]
    print(f"{a.rate:,} msgs/s offered over {a.topics:,} topics for {a.seconds} s (4 publishers, mutual TLS, QoS 0, "
          f"~45 B JSON), one subscriber on `bench/load/#`, the history at its defaults:\n")
    print("| measure | viewer closed (no browser) | viewer open on `#` (headless Chromium) |")
    print("|---|---|---|")
    print(f"| delivered to the subscriber, msgs/s | {closed['received_per_sec']:,.0f} ({closed['received']:,}/{closed['sent']:,}) "
          f"| {opened['received_per_sec']:,.0f} ({opened['received']:,}/{opened['sent']:,}): **{100 * ratio:.1f} %** |")
    print(f"| slowest second at the subscriber | {closed['slowest_second']:,} msgs | {opened['slowest_second']:,} msgs |")
    print(f"| engine CPU | {closed_cpu:.0f} % of a core | {open_cpu:.0f} % of a core |")
    print(f"| browser CPU (every Chromium process) | | {browser['cpu']:.0f} % of a core |")
    print(f"| engine RSS, max during the run | {mb(max(closed_s.rss))} | {mb(max(open_s.rss))} |")
    print(f"| browser frame rate (rAF, per second): median / 5th percentile / worst | | **{statistics.median(fps):.0f}** / "
          f"{pct(fps, 0.05)} / {min(fps)} FPS |")
    print(f"| browser long tasks (> 50 ms) | | {browser['long_tasks']} ({browser['long_task_ms'] / 1000:.1f} s in all) |")
    print(f"| the console tab's memory (PSS of its renderer), max / at the end | | **{mb(max(open_s.tab))}** / "
          f"{mb(open_s.tab[-1])} |")
    print(f"| JS heap (CDP Performance.getMetrics), max | | {mb(max(open_s.heap))} |")
    print(f"| all of Chromium (PSS of every process), max; with only about:blank | | {mb(max(open_s.pss))}; "
          f"{mb(browser['baseline_pss'][0])} |")
    print(f"| what the page counted | | {browser['totals']} |")
    print(f"\nEngine RSS: {mb(rss_start)} at start, {mb(rss_end)} after every run; by 10 s with the viewer open: "
          + ", ".join(f"{kb / 1024:.0f}" for kb in open_s.rss[::10]) + f" MB. The history held {final['messages']:,} "
          f"messages ({mb(final['bytes'] / 1024)}), its limit {final['maxMessages']:,} messages / "
          f"{mb(final['maxBytes'] / 1024)}.")
    if sat:
        base = sat[0][1]["received_per_sec"]
        print(f"\nUnpaced, {a.saturation_seconds} s (4 publishers as fast as they can send):\n")
        print("| | delivered msgs/s | vs no browser | engine CPU | browser CPU | browser FPS median / worst |")
        print("|---|---|---|---|---|---|")
        for label, r, b in sat:
            f = f"{statistics.median(b['fps']):.0f} / {min(b['fps'])}" if "fps" in b else ""
            c = f"{b['cpu']:.0f} %" if "cpu" in b else ""
            print(f"| {label} | {r['received_per_sec']:,.0f} ({r['received']:,}/{r['sent']:,}) | "
                  f"{100 * r['received_per_sec'] / base:.0f} % | {b['engine_cpu']:.0f} % | {c} | {f} |")


if __name__ == "__main__":
    main()
