"""deepwise.playground: watch a network learn, live, in the browser - trained by deepwise.

``deepwise playground`` starts a local web server (127.0.0.1) and opens the page: pick a 2-D
data set, the input features, the hidden layers, the activation, the learning rate, the
optimizer, L1/L2 and dropout, press play, and watch the decision boundary of the output and of
every neuron, the weights, the train and test losses, the overfitting monitor's verdict and the
gradient flow change while deepwise trains the network on the server. Click a training point
for the backward pass of its loss, narrated step by step; "show me the code" gives the deepwise
script that reproduces the run exactly.

* :mod:`.datasets`: the 2-D data sets and the input features (NumPy data preparation);
* :mod:`.config`: what the page may ask for, every field checked;
* :mod:`.session`: one network and its training thread per page;
* :mod:`.script`: the run as a deepwise script;
* :mod:`.server`: the HTTP server (standard library only) and its JSON / SSE endpoints;
* ``static/``: the page (plain HTML, CSS and JavaScript; no CDN, no build step).

>>> from deepwise import playground
>>> server = playground.start(port=0)          # doctest: +SKIP
>>> server.url                                  # doctest: +SKIP
'http://127.0.0.1:43121/'
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from typing import Any

from .config import Config, ConfigError
from .server import PlaygroundServer, start
from .session import Session, SessionLimits

__all__ = ["Config", "ConfigError", "PlaygroundServer", "Session", "SessionLimits", "start",
           "serve", "add_commands"]


def serve(port: int = 8000, *, open_browser: bool = True, host: str = "127.0.0.1",
          **kwargs: Any) -> None:
    """Serve the playground until Ctrl-C (on 127.0.0.1 unless ``host`` says otherwise)."""
    from ..apps import CommandError

    if not 0 <= port <= 65535:
        raise CommandError(f"--port must be from 0 to 65535, got {port}")
    try:
        server = PlaygroundServer(host, port, **kwargs)
    except OSError as e:
        raise CommandError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick another "
                           "--port (0: any free one)") from None
    print(f"deepwise playground: {server.url}  (Ctrl-C to stop)", file=sys.stderr)
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("deepwise playground: stopped", file=sys.stderr)
    finally:
        server.close()


def _cmd_playground(args: argparse.Namespace) -> int:
    serve(args.port, open_browser=not args.no_browser, host=args.host)
    return 0


def add_commands(subparsers: Any) -> None:
    """Register ``deepwise playground`` (``--port``, ``--no-browser``, ``--host``; binds to
    127.0.0.1 unless ``--host`` exposes it, with a warning)."""
    from ..apps import register

    p = subparsers.add_parser(
        "playground", help="watch a network learn, live, in the browser",
        description="Start the playground's web server on 127.0.0.1 and open the page: pick "
                    "a 2-D data set and a network, press play, and watch deepwise train it.")
    p.add_argument("--port", type=int, default=8000,
                   help="the port to listen on (default 8000; 0: any free port)")
    p.add_argument("--no-browser", action="store_true",
                   help="do not open a browser (print the address only)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1, this machine only; another "
                   "address exposes the page, which has no authentication, with a warning)")
    register(p, _cmd_playground)
