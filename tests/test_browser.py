#!/usr/bin/env python3
"""test_browser.py: the search page of kzsearch serve in a real browser.

Headless Chromium, driven through chromedriver's WebDriver HTTP API with
the standard library only. It types a query, sees hits, clicks a facet,
pages, opens a document and goes back, uses the keyboard, opens a hostile
document (no script of it may run), and checks a phone-sized screen.
Screenshots are kept in OUT_DIR (desktop.png, document.png, phone.png).

Usage: test_browser.py KZSEARCH SOURCE_DIR OUT_DIR
Exits 77 (skipped) when chromium or chromedriver is not installed:
apt-get install chromium chromium-driver.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

KZ, SRC, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what + (": " + str(detail)[:500] if detail else ""))
    return cond


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Driver:
    """A WebDriver session: just the calls the test makes."""

    def __init__(self, port, chromium):
        self.base = "http://127.0.0.1:%d" % port
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions"]}}}}
        self.sid = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else (b"{}" if method == "POST" else None)
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s %s: %s" % (method, path, e.read()[:400])) from None

    def s(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.sid, path), body)

    def get(self, url):
        self.s("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        v = self.s("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(v.values()))

    def click(self, css):
        self.s("POST", "/element/%s/click" % self.find(css))

    def type(self, css, text):
        self.s("POST", "/element/%s/value" % self.find(css), {"text": text})

    def keys(self, text):
        """Key presses to the focused element, as a user types them."""
        actions = []
        for ch in text:
            actions += [{"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch}]
        self.s("POST", "/actions", {"actions": [{"type": "key", "id": "kb", "actions": actions}]})

    def wait(self, script, what, timeout=10.0):
        end = time.time() + timeout
        last = None
        while time.time() < end:
            try:
                last = self.js(script)
                if last:
                    return last
            except RuntimeError as e:
                last = e
            time.sleep(0.05)
        check(False, "waiting for " + what, last)
        return None

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.s("GET", "/screenshot")))

    def quit(self):
        try:
            self.s("DELETE", "")
        except Exception:
            pass


def main():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        print("skipped: no chromium (apt-get install chromium chromium-driver)")
        return 77
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="kz-browser.")
    env = dict(os.environ, HOME=tmp, XDG_CACHE_HOME=tmp + "/cache", XDG_DATA_HOME=tmp + "/data")
    env.pop("KZSEARCH_INDEX", None)
    fixture = os.path.join(SRC, "tests", "serve_fixture.sh")
    server = cd = drv = None
    try:
        subprocess.run([fixture, "index", KZ, tmp], check=True, env=env)
        url = subprocess.run([fixture, "start", KZ, tmp], check=True, env=env, capture_output=True,
                             text=True).stdout.strip()
        server = int(open(os.path.join(tmp, "pid")).read())
        port = free_port()
        cd = subprocess.Popen([chromedriver, "--port=%d" % port], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env)
        for _ in range(100):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        drv = Driver(port, chromium)
        run(drv, url)
    except Exception as e:  # a step that could not run: a failure, said
        check(False, "the browser test ran to its end", repr(e))
    finally:
        if drv:
            drv.quit()
        if cd:
            cd.terminate()
            cd.wait(10)
        if server:
            try:
                os.kill(server, 15)
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def run(d, url):
    t0 = time.time()
    d.get(url + "/")
    check(d.js("return document.title") == "kzsearch", "the page loads")
    check(d.js("return document.activeElement.id") == "q", "the search box has the focus")

    # A query typed and entered: hits with titles, dates, sources, marks.
    d.type("#q", "kazakhstan\ue007")
    n = d.wait("return document.querySelectorAll('.hit').length", "hits")
    check(n == 10, "ten hits on the first page", n)
    status = d.js("return document.getElementById('status').textContent")
    check("1–10 of 31 hits" in status, "the count of hits", status)
    check("q=kazakhstan" in d.js("return location.search"), "the query is in the address")
    check(d.js("return document.querySelectorAll('.hit .snippet mark').length") >= 10,
          "snippets have the matches highlighted")
    check(d.js("return document.querySelector('.hit .date').textContent").startswith("20"), "hits show a date")
    check(d.js("return document.querySelector('.hit .source') !== null"), "hits show a source")
    check(d.js("return document.querySelectorAll('#facets button').length") >= 6, "facet lists")
    check(d.js("return window.__pwned === undefined"), "no script from a document ran (results)")
    d.screenshot(os.path.join(OUT, "desktop.png"))

    # The query language's help, one click away.
    d.click("#help-toggle")
    check(d.js("return !document.getElementById('help').hidden"), "the help opens with one click")
    d.click("#help-toggle")

    # A facet value narrows the search, and is shown pressed.
    d.click("#facets button[data-facet='source'][data-value='reuters']")
    d.wait("return location.search.includes('source%3A%22reuters%22') && "
           "document.getElementById('status').textContent.includes('of 11 hits')", "the facet's search")
    sources = d.js("return Array.from(document.querySelectorAll('.hit .source')).map(e => e.textContent)")
    check(sources and all(s == "Reuters" for s in sources), "every hit is from the facet's source", sources)
    check(d.js("return document.querySelector(\"#facets button[data-value='reuters']\")"
               ".getAttribute('aria-pressed')") == "true", "the chosen value is pressed")
    check('source:"reuters"' in d.js("return document.getElementById('q').value"),
          "the filter is in the search box")

    # Paging.
    d.click("#pager a[rel='next']")
    d.wait("return location.search.includes('offset=10') && "
           "document.getElementById('status').textContent.startsWith('11–11 of 11')", "the second page")
    check(d.js("return document.querySelectorAll('.hit').length") == 1, "the last hit on page 2")
    # A page that is not full is the last: no next (pages are counted by the
    # hits that came back, not from the total, which counts near-duplicates).
    check(d.js("return document.querySelector(\"#pager a[rel='next']\") === null && "
               "document.querySelector('#pager .page').textContent === 'Page 2 of 2'"), "no next after the last page")
    d.click("#pager a[rel='prev']")
    d.wait("return !location.search.includes('offset') && document.querySelectorAll('.hit').length == 10",
           "back on page 1")

    # A year facet: a date range (Reuters' articles are all from 2021).
    d.click("#facets button[data-facet='date:year'][data-value='2021']")
    d.wait("return location.search.includes('since=2021') && document.getElementById('since').value == '2021'",
           "the year's date range")
    dates = d.js("return Array.from(document.querySelectorAll('.hit .date')).map(e => e.textContent)")
    check(dates and all(x.startswith("2021") for x in dates), "every hit from 2021", dates)
    d.click("#clear-filters")
    d.wait("return !location.search.includes('since')", "the date range cleared")

    # A document, and back.
    title = d.wait("return document.querySelector('.hit-link') && document.querySelector('.hit-link').textContent",
                   "a hit")
    d.click(".hit-link")
    d.wait("return !document.getElementById('doc-view').hidden && "
           "document.getElementById('doc-text').textContent.length > 0", "the document")
    check("doc=" in d.js("return location.search"), "the document is in the address")
    check(d.js("return document.getElementById('doc-title').textContent") == title, "the document's title")
    nmarks = d.js("return document.querySelectorAll('#doc-text mark').length")
    check(nmarks >= 2, "every match highlighted in the document", nmarks)
    d.screenshot(os.path.join(OUT, "document.png"))
    d.keys("n")
    check(d.js("return document.querySelectorAll('#doc-text mark.current').length") == 1, "n goes to a match")
    d.click("#back")
    d.wait("return document.getElementById('doc-view').hidden && document.querySelectorAll('.hit').length == 10",
           "back to the results")
    check("doc=" not in d.js("return location.search"), "the address is the search's again")

    # The keyboard: / to the search box, j to the first hit, Enter opens it, Esc goes back.
    d.js("document.activeElement.blur()")
    d.keys("/")
    check(d.js("return document.activeElement.id") == "q", "/ focuses the search box")
    d.keys("\ue00c")  # Escape
    d.keys("j")
    check(d.js("return document.activeElement.className") == "hit-link", "j focuses the first hit")
    d.keys("\ue007")
    d.wait("return !document.getElementById('doc-view').hidden", "Enter opens the hit")
    d.keys("\ue00c")
    d.wait("return document.getElementById('doc-view').hidden", "Esc goes back to the results")

    # A bookmarked address gives the same page.
    d.get(url + "/?q=grain&sort=-date&offset=10")
    d.wait("return document.getElementById('status').textContent.startsWith('11–')", "a bookmarked search")
    check(d.js("return document.getElementById('sort').value") == "-date", "the bookmark's sort")

    # An error is shown, not thrown.
    d.get(url + "/?q=grain&since=2022-13")
    d.wait("return document.getElementById('status').className == 'error'", "an error message")

    # A hostile document: all of it shows as text, none of it runs.
    d.get(url + "/?q=kazakhstan&doc=" + urllib.parse.quote('evil"<script>'))
    d.wait("return document.getElementById('doc-text').textContent.includes('</textarea>')", "the hostile document")
    check("<script>" in d.js("return document.getElementById('doc-title').textContent"),
          "its title shows as text")
    check(d.js("return document.querySelectorAll('script').length") == 1, "no script element from it")
    check(d.js("return document.querySelectorAll('#doc-view img, #doc-view a[href^=javascript]').length") == 0,
          "no image or javascript: link from it")
    d.get(url + "/?q=evil")
    d.wait("return document.querySelectorAll('.hit').length > 0", "the hostile document as a hit")
    check(d.js("return document.querySelectorAll('.hit a[href^=javascript]').length") == 0,
          "its javascript: url is no link")
    time.sleep(0.2)
    check(d.js("return window.__pwned === undefined"), "no script from a document ran")

    # A phone-sized screen: nothing wider than it, the box usable.
    d.s("POST", "/window/rect", {"width": 390, "height": 844})
    d.get(url + "/?q=kazakhstan")
    d.wait("return document.querySelectorAll('.hit').length == 10", "hits on a phone")
    inner = d.js("return window.innerWidth")
    check(inner <= 420, "the window is phone-sized", inner)
    overflow = d.js("return document.documentElement.scrollWidth - window.innerWidth")
    check(overflow <= 0, "nothing wider than a phone's screen", overflow)
    check(d.js("return document.getElementById('q').getBoundingClientRect().width") >= 250,
          "the search box spans the screen")
    check(d.js("return parseFloat(getComputedStyle(document.querySelector('.snippet')).fontSize)") >= 14,
          "readable text")
    d.screenshot(os.path.join(OUT, "phone.png"))
    d.click(".hit-link")
    d.wait("return !document.getElementById('doc-view').hidden", "a document on a phone")
    check(d.js("return document.documentElement.scrollWidth - window.innerWidth") <= 0,
          "a document fits a phone's screen")
    print("browser test: %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    sys.exit(main())
