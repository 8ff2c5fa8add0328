"""The generated web site in headless Chromium (Debian package ``chromium``): pages load without console errors,
a header click re-sorts a table, a filter hides rows, a screenshot is written. Chromium is driven through the
DevTools protocol over ``--remote-debugging-pipe`` (stdlib only: NUL-terminated JSON on fds 3 and 4)."""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bench.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                                 "(Debian: apt-get update && apt-get install -y chromium)")]
TIMEOUT_S = 60.0


class Browser:
    """A headless Chromium with one page, spoken to over the DevTools pipe."""

    def __init__(self, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def fds() -> None:  # the browser reads commands on fd 3 and writes replies and events on fd 4
            r, w = os.dup(to_browser_r), os.dup(from_browser_w)  # fresh numbers: dup2 onto itself keeps CLOEXEC
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             f"--user-data-dir={profile}", "--window-size=1400,1600", "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf, self._id, self.events = b"", 0, []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._message(deadline))

    def open(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_event("Page.loadEventFired")

    def js(self, expr: str):
        res = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expr}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads since the last ``open``."""
        out = []
        for ev in self.events:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(json.dumps(p.get("exceptionDetails", {}))[:300])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(json.dumps(p.get("args", []))[:300])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(p["entry"].get("text", "") + " " + p["entry"].get("url", ""))
        return out

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    assert main(["matrix", "--tasks", "gmm,toyseq", "--methods", "none,best-of-n,smc", "--budgets", "1x,2x",
                 "--seeds", "0-1", "--n", "8", "--steps", "8", "--out", str(root / "res"), "--no-progress"]) == 0
    for method in ("none", "best-of-n"):  # a task with a sample-figure hook, so the pages link galleries
        assert main(["run", "--task", "music", "--tiny", "--objective", "note_density", "--method", method,
                     "--budget", "2x", "--n", "3", "--steps", "4", "--out", str(root / "res"), "--no-progress"]) == 0
    assert main(["report", "--records", str(root / "res"), "--out", str(root / "report"), "--allow-dirty"]) == 0
    return root / "report"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("profile"))
    yield b
    b.close()


VISIBLE_MEANS = ("Array.from(document.querySelectorAll('#cells-gmm tbody tr')).filter(r => !r.hidden)"
                 ".map(r => parseFloat(r.cells[6].dataset.v))")


def test_pages_load_without_console_errors(site, browser):
    pages = sorted(p.name for p in site.glob("*.html"))
    assert {"index.html", "task-gmm.html", "task-music.html", "method-smc.html"} <= set(pages)
    for name in pages:
        browser.open((site / name).as_uri())
        assert browser.js("document.querySelectorAll('table').length") >= 1, name
        assert browser.errors() == [], name  # includes images and scripts that failed to load
    browser.open((site / "task-music.html").as_uri())
    links = browser.js("Array.from(document.querySelectorAll('#cells-music a')).map(a => a.getAttribute('href'))"
                       ".filter(h => h.startsWith('figures/samples/'))")
    assert links and all((site / h).is_file() for h in links)
    loaded = browser.js("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert loaded and browser.js("document.images.length") >= 3


def test_header_click_resorts_and_filter_hides_rows(site, browser, tmp_path):
    browser.open((site / "task-gmm.html").as_uri())
    browser.js("const k = document.querySelector('.filters select[data-filter=kind]'); k.value = '';"
               "k.dispatchEvent(new Event('change'))")
    before = browser.js(VISIBLE_MEANS)
    assert len(before) > 4 and before != sorted(before)  # not sorted already, so the click has work to do
    browser.js("document.querySelectorAll('#cells-gmm thead th')[6].click()")
    after = browser.js(VISIBLE_MEANS)
    assert after == sorted(before) and browser.js("document.querySelectorAll('#cells-gmm thead th')[6]"
                                                  ".getAttribute('aria-sort')") == "ascending"
    browser.js("document.querySelectorAll('#cells-gmm thead th')[6].click()")
    assert browser.js(VISIBLE_MEANS) == sorted(before, reverse=True)
    browser.js("const s = document.querySelector('.filters select[data-filter=budget]'); s.value = '1x';"
               "s.dispatchEvent(new Event('change'))")
    budgets = browser.js("Array.from(document.querySelectorAll('#cells-gmm tbody tr')).filter(r => !r.hidden)"
                         ".map(r => r.dataset.budget)")
    assert 0 < len(budgets) < len(before) and set(budgets) == {"1x"}
    assert browser.errors() == []
    shot = browser.screenshot(Path(os.environ.get("GUIDEBENCH_SCREENSHOT_DIR", tmp_path)) / "task-gmm.png")
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
