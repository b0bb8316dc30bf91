"""A real HTTP endpoint for command tests: answers `GET /metrics` with the given texts in turn
(the last one repeated), as a gateway whose counters move between scrapes."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator, Sequence


@contextlib.contextmanager
def metrics_endpoint(texts: Sequence[str]) -> Iterator[str]:
    """Serves on a free loopback port; yields the base URL."""
    answered = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/metrics":
                self.send_error(404)
                return
            body = texts[min(answered[0], len(texts) - 1)].encode()
            answered[0] += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
