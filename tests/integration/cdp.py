"""cdp: drive Debian's headless Chromium over the DevTools protocol, from
the Python standard library alone.

Chromium's --remote-debugging-pipe speaks the protocol on its file
descriptors 3 (commands in) and 4 (replies and events out), one JSON
message per NUL-terminated chunk: no port, no websocket, no npm package,
nothing fetched at run time. Each wait is on the page's own state (a
JavaScript condition checked at every DOM change and animation frame),
bounded by a deadline that only turns a hang into a failure.
"""

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def find_chromium():
    p = os.environ.get("RG_CHROMIUM")
    if p:
        return p if os.access(p, os.X_OK) else None
    for c in CHROMIUM_CANDIDATES:
        if os.access(c, os.X_OK):
            return c
    return shutil.which("chromium")


class CdpError(Exception):
    pass


class Browser:
    """One headless Chromium with one page (tab) attached."""

    def __init__(self, binary, width=1280, height=900, timeout=30.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="rg-chromium-")
        # Two pipes, put at 3 and 4 in the child.
        to_r, to_w = os.pipe()      # we write commands, it reads fd 3
        from_r, from_w = os.pipe()  # it writes fd 4, we read
        hi = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_r, from_w)]
        os.close(to_r)
        os.close(from_w)
        argv = [binary, "--headless=new", "--remote-debugging-pipe",
                "--no-first-run", "--no-default-browser-check",
                "--disable-gpu", "--disable-extensions",
                "--disable-background-networking", "--disable-sync",
                "--disable-default-apps", "--disable-component-update",
                "--mute-audio", "--hide-scrollbars", "--no-proxy-server",
                "--user-data-dir=" + self.profile,
                "--window-size=%d,%d" % (width, height), "about:blank"]
        if os.geteuid() == 0:
            argv.insert(1, "--no-sandbox")   # root: Chromium's own rule
        self.stderr = open(os.path.join(self.profile, "stderr"), "wb")
        # bash puts them at 3 and 4 (dash takes no fd past 9) (subprocess keeps only the fds
        # it is given, and may use 3 or 4 itself while it starts one).
        sh = ["/bin/bash", "-c", 'exec "$@" 3<&%d 4>&%d %d<&- %d>&-' % (
            hi[0], hi[1], hi[0], hi[1]), "sh"]
        self.proc = subprocess.Popen(sh + argv, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr,
                                     pass_fds=hi)
        for fd in hi:
            os.close(fd)
        self.w = os.fdopen(to_w, "wb", buffering=0)
        self.r = os.fdopen(from_r, "rb", buffering=0)
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.replies = {}
        self.events = []        # (method, params, sessionId)
        self.next_id = 0
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.session = None
        t = self.call("Target.createTarget", {"url": "about:blank"},
                      browser=True)
        a = self.call("Target.attachToTarget", {"targetId": t["targetId"],
                                                "flatten": True},
                      browser=True)
        self.session = a["sessionId"]
        for dom in ("Page", "Runtime", "Log"):
            self.call(dom + ".enable")
        self.call("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1,
            "mobile": False})

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = self.r.read(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self.cond:
                    self.closed = True
                    self.cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                m = json.loads(msg)
                with self.cond:
                    if "id" in m:
                        self.replies[m["id"]] = m
                    else:
                        self.events.append((m.get("method"),
                                            m.get("params", {}),
                                            m.get("sessionId")))
                    self.cond.notify_all()

    def call(self, method, params=None, browser=False, timeout=None):
        with self.lock:
            self.next_id += 1
            mid = self.next_id
        m = {"id": mid, "method": method, "params": params or {}}
        if not browser and self.session:
            m["sessionId"] = self.session
        self.w.write(json.dumps(m).encode() + b"\0")
        with self.cond:
            ok = self.cond.wait_for(lambda: mid in self.replies or
                                    self.closed, timeout or self.timeout)
            if not ok:
                raise CdpError("no reply to %s" % method)
            if mid not in self.replies:
                raise CdpError("chromium exited during %s: %s" % (
                    method, self.stderr_text()[-2000:]))
            r = self.replies.pop(mid)
        if "error" in r:
            raise CdpError("%s: %s" % (method, r["error"]))
        return r.get("result", {})

    def stderr_text(self):
        try:
            with open(os.path.join(self.profile, "stderr"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # ---- the page ----------------------------------------------------

    def eval(self, expr, timeout=None):
        """The value of a JavaScript expression (awaited if a promise)."""
        r = self.call("Runtime.evaluate", {
            "expression": expr, "awaitPromise": True, "returnByValue": True,
            "userGesture": True}, timeout=timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CdpError("page: %s" % (d.get("exception", {}).get(
                "description") or d.get("text")))
        return r["result"].get("value")

    def wait(self, cond, what, timeout=None):
        """Wait until the JavaScript expression cond is truthy, checked at
        every DOM change and frame; its value. Fails after timeout."""
        ms = int((timeout or self.timeout) * 1000)
        js = """new Promise((resolve, reject) => {
  const test = () => { try { return (%s); } catch (e) { return false; } };
  let v = test();
  if (v) { resolve(v); return; }
  const mo = new MutationObserver(check);
  let done = false;
  function check() {
    if (done) return;
    v = test();
    if (v) { done = true; mo.disconnect(); resolve(v); }
    else requestAnimationFrame(check);
  }
  mo.observe(document, {subtree: true, childList: true, attributes: true,
                        characterData: true});
  requestAnimationFrame(check);
  setTimeout(() => { if (!done) { done = true; mo.disconnect();
    reject(new Error("timed out waiting for " + %s)); } }, %d);
})""" % (cond, json.dumps(what), ms)
        return self.eval(js, timeout=(timeout or self.timeout) + 5)

    def goto(self, url):
        self.call("Page.navigate", {"url": url})

    def key(self, key):
        """One key press: a printable character, "Enter" or "Escape"."""
        special = {"Enter": ("Enter", 13, "\r"), "Escape": ("Escape", 27, ""),
                   "Tab": ("Tab", 9, "")}
        if key in special:
            code, vk, text = special[key]
        else:
            code = ("Key" + key.upper()) if key.isalpha() else ""
            vk = ord(key.upper())
            text = key
        down = {"type": "keyDown" if text else "rawKeyDown", "key": key,
                "code": code, "windowsVirtualKeyCode": vk,
                "nativeVirtualKeyCode": vk}
        if text:
            down["text"] = text
            down["unmodifiedText"] = text
        if key.isalpha() and key.isupper():
            down["modifiers"] = 8       # Shift
        self.call("Input.dispatchKeyEvent", down)
        up = {"type": "keyUp", "key": key, "code": code,
              "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
        if "modifiers" in down:
            up["modifiers"] = 8
        self.call("Input.dispatchKeyEvent", up)

    def type(self, text):
        self.call("Input.insertText", {"text": text})

    def screenshot(self, path, scale=1):
        """The whole page as a PNG (scale < 1: smaller)."""
        m = self.call("Page.getLayoutMetrics")
        size = m.get("cssContentSize") or m["contentSize"]
        r = self.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"],
                     "height": min(size["height"], 4000), "scale": scale}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def problems(self):
        """Errors the page reported: exceptions, console errors, and the
        log's errors (a Content-Security-Policy violation is one)."""
        out = []
        with self.lock:
            evs = list(self.events)
        for method, p, _ in evs:
            if method == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: %s" % (d.get("exception", {}).get(
                    "description") or d.get("text")))
            elif method == "Runtime.consoleAPICalled" and \
                    p.get("type") == "error":
                out.append("console.error: %s" % " ".join(
                    str(a.get("value", a.get("description")))
                    for a in p.get("args", [])))
            elif method == "Log.entryAdded" and \
                    p.get("entry", {}).get("level") == "error":
                e = p["entry"]
                out.append("log (%s): %s %s" % (e.get("source"),
                                                e.get("text"),
                                                e.get("url", "")))
        return out

    def close(self):
        try:
            self.call("Browser.close", browser=True, timeout=5)
        except (CdpError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for f in (self.w, self.r, self.stderr):
            try:
                f.close()
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)
