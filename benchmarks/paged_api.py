"""A local paginated JSON API for the ingestion benchmark (127.0.0.1 only).

``GET /items?offset=N&limit=M`` answers ``{"data": [...], "total": T}``. Records are deterministic
(flat fields plus one nested ``address`` object) and pages of the default size are rendered once,
before serving, so the server costs the measured clients as little as possible.

Run as a script it serves until stdin closes or it is killed, after printing its port on stdout:
``python benchmarks/paged_api.py --records 200000 --page-size 1000``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

CITIES = ("Berlin", "Lisbon", "Oslo", "Porto", "Vienna", "Warsaw", "Zurich")


def record(i: int) -> dict[str, Any]:
    """Record number ``i``: seven flat fields of five JSON types and a nested object."""
    return {
        "id": i,
        "name": f"customer {i}",
        "email": f"user{i}@example.com",
        "amount": round((i * 7919 % 100_000) / 100, 2) + 0.5,
        "quantity": i % 17,
        "active": i % 3 != 0,
        "created_at": f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}T{i % 24:02d}:{i % 60:02d}:00+00:00",
        "address": {"city": CITIES[i % len(CITIES)], "zip": f"{10000 + i % 89999}", "line": f"{i} Main St"},
    }


def records(count: int) -> Iterator[dict[str, Any]]:
    """The ``count`` records the API serves, in order."""
    return (record(i) for i in range(count))


def _page_body(total: int, offset: int, limit: int) -> bytes:
    data = [record(i) for i in range(offset, min(offset + limit, total))]
    return json.dumps({"data": data, "total": total}, separators=(",", ":")).encode()


def make_server(total: int, page_size: int) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 (free port) serving ``total`` records; call ``serve_forever``."""
    rendered = {offset: _page_body(total, offset, page_size) for offset in range(0, total + 1, page_size)}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real APIs answer

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path != "/items":
                self.send_error(404)
                return
            query = parse_qs(url.query)
            offset = int(query.get("offset", ["0"])[0])
            limit = int(query.get("limit", [str(page_size)])[0])
            body = rendered.get(offset) if limit == page_size else None
            if body is None:
                body = _page_body(total, offset, limit)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer.daemon_threads = True
    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    server = make_server(args.records, args.page_size)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin (or kills us)
    server.shutdown()


if __name__ == "__main__":
    main()
