"""The playground's web server: the standard library's ``http.server``, one thread per request,
one training thread per session.

Why the standard library and not Starlette + uvicorn: the page needs a handful of JSON
endpoints, its static files and one Server-Sent-Events stream per session - all a few lines on
``http.server``'s ``ThreadingHTTPServer`` - and the training itself runs in plain threads. So
the playground needs nothing beyond deepwise (no extra to install) and no event loop to mix
with blocking NumPy work.

=========================================  ==================================================
``GET /``, ``GET /static/NAME``            the page and its files (only the files shipped in
                                           ``static/``; nothing else is reachable)
``GET /api/options``                       what the page may choose (data sets, limits ...)
``POST /api/sessions``                     ``{"config": {...}}`` -> a new session: ``id``,
                                           ``info`` (data, features), ``frame``
``GET /api/sessions/ID/frame``             the state now (losses, pictures, weights, diagnoses)
``GET /api/sessions/ID/stream``            the same, as Server-Sent Events, at most ``fps`` a
                                           second and only when something changed
``GET /api/sessions/ID/info``              the data points and the features' pictures
``POST /api/sessions/ID/config``           a partial config -> the new run's ``info``
``POST /api/sessions/ID/control``          ``{"action": "play"|"pause"|"step"|"reset"}``
``POST /api/sessions/ID/explain``          ``{"index": i, "split": "train"}`` -> the narrated
                                           backward pass for that point
``GET /api/sessions/ID/code``              ``{"code": ...}``: the script of the run
``DELETE /api/sessions/ID``                end the session
=========================================  ==================================================

Every request body is a JSON object of at most ``max_body`` bytes; every field is checked
(:mod:`~deepwise.playground.config`); a mistake is answered ``{"error": "..."}`` with status
400 (404 unknown path or session, 405 wrong method, 411/413 missing or oversized body, 503 too
many sessions). Sessions idle for ``idle_s`` seconds are closed by a reaper thread; each run's
training time is capped (``SessionLimits.max_train_s``) and its size by the config's ranges.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .config import Config, ConfigError, options
from .session import Session, SessionLimits

__all__ = ["PlaygroundServer", "start", "STATIC"]

STATIC = Path(__file__).resolve().parent / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
          ".txt": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8"}
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'")


class HTTPError(Exception):
    """An answer other than 200, with the message for the JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class PlaygroundServer(ThreadingHTTPServer):
    """The server and the sessions it holds. ``start()`` makes one that serves in a thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # a page opens a few connections at once; many pages, many more

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, max_sessions: int = 32,
                 idle_s: float = 300.0, fps: float = 10.0, max_body: int = 16_384,
                 limits: SessionLimits | None = None, quiet: bool = True) -> None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            warnings.warn(f"playground: serving on {host}, reachable from other machines; the "
                          "playground has no authentication (anyone who can reach it can train "
                          "networks on this machine)", stacklevel=2)
        super().__init__((host, port), _Handler)
        self.max_sessions, self.idle_s, self.fps = int(max_sessions), float(idle_s), float(fps)
        self.max_body, self.limits, self.quiet = int(max_body), limits or SessionLimits(), quiet
        self.sessions: dict[str, Session] = {}
        self.sessions_lock = threading.Lock()
        self.closing = threading.Event()
        # only the files shipped with the package, by name: no path from a request is opened
        self.static = {p.name: p for p in STATIC.iterdir() if p.is_file()
                       and p.suffix in _TYPES}
        self._reaper = threading.Thread(target=self._reap, name="playground-reaper",
                                        daemon=True)
        self._reaper.start()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    # ---- sessions ------------------------------------------------------------------------------
    def new_session(self, config: Config) -> tuple[str, Session]:
        with self.sessions_lock:
            if len(self.sessions) >= self.max_sessions:
                raise HTTPError(503, f"playground: all {self.max_sessions} sessions are in use; "
                                "close a page or wait until an idle one is reaped")
            sid = secrets.token_urlsafe(12)
            self.sessions[sid] = session = Session(config, self.limits)
            return sid, session

    def session(self, sid: str) -> Session:
        with self.sessions_lock:
            s = self.sessions.get(sid)
        if s is None:
            raise HTTPError(404, f"playground: no session {sid[:40]!r} (it ended, or was idle "
                            f"for more than {self.idle_s:g} s; reload the page)")
        s.touch()
        return s

    def end_session(self, sid: str) -> None:
        with self.sessions_lock:
            s = self.sessions.pop(sid, None)
        if s is not None:
            s.close()

    def _reap(self) -> None:
        while not self.closing.wait(min(5.0, self.idle_s / 2)):
            now = time.monotonic()
            with self.sessions_lock:
                idle = [k for k, s in self.sessions.items() if now - s.last_seen > self.idle_s]
            for k in idle:
                self.end_session(k)

    # ---- running -------------------------------------------------------------------------------
    def start(self, lifetime: float | None = None) -> PlaygroundServer:
        """Serve in a background thread; with ``lifetime`` (seconds) the server stops by itself
        then (tests use it, so that no failure leaves a server running)."""
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="playground-server", daemon=True)
        self._thread.start()
        if lifetime is not None:
            timer = threading.Timer(lifetime, self.close)
            timer.daemon = True
            timer.start()
        return self

    def close(self) -> None:
        """Stop serving, end every session and free the port (safe to call twice)."""
        if self.closing.is_set():
            return
        self.closing.set()
        if self._thread is not None:
            self.shutdown()
        with self.sessions_lock:
            keys = list(self.sessions)
        for k in keys:
            self.end_session(k)
        self.server_close()

    def __enter__(self) -> PlaygroundServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def start(host: str = "127.0.0.1", port: int = 0, *, lifetime: float | None = None,
          **kwargs: Any) -> PlaygroundServer:
    """A :class:`PlaygroundServer` serving in a background thread (``server.url``;
    ``server.close()`` stops it)."""
    return PlaygroundServer(host, port, **kwargs).start(lifetime)


class _Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    server_version = "deepwise-playground"
    timeout = 30  # seconds a client may take to send its request

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        if not self.server.quiet:
            super().log_message(format, *args)

    # ---- answering -----------------------------------------------------------------------------
    def _headers(self, status: int, ctype: str, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        self.end_headers()

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self._headers(status, ctype, len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200) -> None:
        self._send(status, json.dumps(obj, allow_nan=False).encode(), "application/json")

    def _body(self) -> dict:
        length = self.headers.get("Content-Length")
        if length is None:
            raise HTTPError(411, "playground: a request body needs a Content-Length header")
        try:
            n = int(length)
        except ValueError:
            raise HTTPError(400, f"playground: bad Content-Length {length[:20]!r}") from None
        if n < 0 or n > self.server.max_body:
            raise HTTPError(413, f"playground: the request body has {n} bytes; at most "
                            f"{self.server.max_body} are accepted")
        raw = self.rfile.read(n) if n else b"{}"
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise HTTPError(400, f"playground: the request body is not valid JSON ({e})") from None
        if not isinstance(obj, dict):
            raise HTTPError(400, f"playground: the request body must be a JSON object, got "
                            f"{type(obj).__name__}")
        return obj

    def _handle(self) -> None:
        try:
            self._route()
        except HTTPError as e:
            self._json({"error": str(e)}, e.status)
        except ConfigError as e:
            self._json({"error": str(e)}, 400)
        except OSError:
            self.close_connection = True  # the client went away (or stopped reading)
        except Exception as e:  # a bug: say so, keep serving
            try:
                self._json({"error": f"playground: internal error: {type(e).__name__}: {e}"},
                           500)
            except OSError:
                self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._handle()

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
        self._json({"error": "playground: PUT is not supported"}, 405)

    # ---- routing -------------------------------------------------------------------------------
    def _route(self) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        method = "GET" if self.command == "HEAD" else self.command
        if path in ("/", "/index.html"):
            return self._static("index.html", method)
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):], method)
        parts = path.strip("/").split("/")
        if parts[:1] != ["api"]:
            raise HTTPError(404, f"playground: nothing at {path[:80]!r}")
        if parts == ["api", "options"]:
            self._allow(method, "GET")
            return self._json(options())
        if parts == ["api", "sessions"]:
            self._allow(method, "POST")
            body = self._body()
            extra = set(body) - {"config"}
            if extra:
                raise HTTPError(400, f"playground: unknown field(s) {sorted(extra)} (send "
                                "{\"config\": {...}})")
            cfg = Config.from_dict(body.get("config", {}))
            sid, s = self.server.new_session(cfg)
            return self._json({"id": sid, "info": s.info(), "frame": s.frame()})
        if len(parts) == 4 and parts[1] == "sessions" or len(parts) == 3 and parts[1] == "sessions":
            sid = parts[2]
            what = parts[3] if len(parts) == 4 else ""
            return self._session(sid, what, method)
        raise HTTPError(404, f"playground: nothing at {path[:80]!r}")

    def _allow(self, method: str, *allowed: str) -> None:
        if method not in allowed:
            raise HTTPError(405, f"playground: {method} is not allowed here (use "
                            f"{' or '.join(allowed)})")

    def _session(self, sid: str, what: str, method: str) -> None:
        if what == "":
            self._allow(method, "DELETE")
            self.server.session(sid)
            self.server.end_session(sid)
            return self._json({"ended": True})
        routes = {"frame": "GET", "info": "GET", "code": "GET", "stream": "GET",
                  "config": "POST", "control": "POST", "explain": "POST"}
        if what not in routes:
            raise HTTPError(404, f"playground: sessions have no {what[:40]!r} (they have "
                            f"{sorted(routes)})")
        self._allow(method, routes[what])
        s = self.server.session(sid)
        if what == "frame":
            return self._json(s.frame())
        if what == "info":
            return self._json(s.info())
        if what == "code":
            return self._json({"code": s.code(), "step": s.step})
        if what == "stream":
            return self._stream(s)
        body = self._body()
        if what == "config":
            s.configure(body)
            return self._json({"info": s.info(), "frame": s.frame()})
        if what == "control":
            if set(body) != {"action"}:
                raise HTTPError(400, f"playground: control takes {{\"action\": ...}}, got the "
                                f"fields {sorted(body)}")
            s.control(body["action"])
            return self._json(s.frame())
        extra = set(body) - {"index", "split"}
        if extra or "index" not in body:
            raise HTTPError(400, f"playground: explain takes {{\"index\": i, \"split\": "
                            f"\"train\"|\"test\"}}, got the fields {sorted(body)}")
        return self._json(s.explain_point(body["index"], body.get("split", "train")))

    def _static(self, name: str, method: str) -> None:
        self._allow(method, "GET")
        path = self.server.static.get(name)  # a shipped file's name, or nothing
        if path is None:
            raise HTTPError(404, f"playground: no static file {name[:80]!r}")
        self._send(200, path.read_bytes(), _TYPES[path.suffix])

    def _stream(self, s: Session) -> None:
        """Server-Sent Events: one ``data:`` line of frame JSON per change, at most ``fps`` per
        second, a comment line every 15 s when nothing changes; ends when the session or the
        server does, or the client goes away."""
        self._headers(200, "text/event-stream")
        gap = 1.0 / max(self.server.fps, 0.1)
        last = -1
        quiet_since = time.monotonic()
        while not self.server.closing.is_set():
            with s.lock:
                if s.version == last and not s.closed:
                    s.changed.wait(1.0)
                if s.closed:
                    break
                changed = s.version != last
                frame = s.frame() if changed else None
            s.touch()
            if frame is not None:
                last = frame["version"]
                data = json.dumps(frame, allow_nan=False)
                self.wfile.write(f"data: {data}\n\n".encode())
                self.wfile.flush()
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 15:
                self.wfile.write(b": still here\n\n")
                self.wfile.flush()
                quiet_since = time.monotonic()
            time.sleep(gap)
