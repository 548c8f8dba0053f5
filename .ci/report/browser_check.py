"""Open a Snakemake report in headless Chromium; fail on console errors or missing content.

usage: browser_check.py REPORT_HTML EXPECT_JSON
EXPECT_JSON maps menu entries of the report ("Workflow", "category", "category > subcategory",
clicked in turn) to texts that must be shown then. Talks the DevTools protocol over --remote-debugging-pipe (fd 3 in,
fd 4 out, NUL-separated JSON), so it needs nothing but Chromium.
"""

import fcntl
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

SETTLE_S = 2.0  # after the load event, let React render before reading the page


class Browser:
    def __init__(self, binary: str):
        to_r, self.to_chrome_w = os.pipe()
        self.from_chrome_r, from_w = os.pipe()
        # Chromium wants the pipe on fds 3 and 4: move our ends to >= 10, let bash place them.
        a, b = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_r, from_w))
        os.close(to_r), os.close(from_w)
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{a} 4>&{b} {a}<&- {b}>&-', "bash", binary, *flags],
            pass_fds=(a, b),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(a), os.close(b)
        self.buf, self.next_id, self.events = b"", 0, []

    def _read(self, timeout: float) -> dict | None:
        while b"\0" not in self.buf:
            ready, _, _ = select.select([self.from_chrome_r], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.from_chrome_r, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + 30
        while time.time() < deadline:
            reply = self._read(deadline - time.time())
            if reply is None:
                break
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(method)

    def pump(self, seconds: float) -> None:
        deadline = time.time() + seconds
        while (left := deadline - time.time()) > 0:
            msg = self._read(left)
            if msg is not None:
                self.events.append(msg)

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def problems_in(events: list[dict]) -> list[str]:
    out = []
    for ev in events:
        method, p = ev.get("method"), ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            out.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            out.append(f"log error: {p['entry']['text']} ({p['entry'].get('url', '')})")
    return out


CLICK = """(() => { const a = [...document.querySelectorAll('nav a')].find(e => e.textContent.trim() === %s);
  if (!a) return false; a.click(); return true; })()"""


def main(report: Path, expect: dict[str, list[str]], binary: str = "chromium") -> int:
    browser, problems = Browser(binary), []
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

        def evaluate(js: str):
            return browser.call("Runtime.evaluate", session, expression=js, returnByValue=True)["result"].get("value")

        def load() -> bool:
            """(Re)load the report, wait for its load event and for React to render."""
            n = len(browser.events)
            browser.call("Page.navigate", session, url=report.resolve().as_uri())
            deadline = time.time() + 60
            while time.time() < deadline and not any(e.get("method") == "Page.loadEventFired" for e in browser.events[n:]):
                browser.pump(0.5)
            browser.pump(SETTLE_S)
            return any(e.get("method") == "Page.loadEventFired" for e in browser.events[n:])

        for domain in ("Runtime", "Log", "Page"):
            browser.call(f"{domain}.enable", session)
        if not load():
            problems.append("page never fired its load event")
        for entry, texts in expect.items():
            load()
            missing = None
            for step in entry.split(" > "):
                if not evaluate(CLICK % json.dumps(step)):
                    missing = step
                    break
                browser.pump(1.0)
            if missing:
                problems.append(f"{entry!r}: no menu entry {missing!r}")
                continue
            shown = evaluate("document.body.innerText") or ""
            problems += [f"{entry!r} does not show {t!r}" for t in texts if t not in shown]
            print(f"chromium: {entry!r} shows {len(shown)} characters, {len(texts)} expected texts checked")
    finally:
        browser.close()
    problems = problems_in(browser.events) + problems
    for p in problems:
        print(f"  PROBLEM {p}")
    print(f"chromium: {report.name}: {'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())))
