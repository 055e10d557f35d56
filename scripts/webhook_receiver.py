#!/usr/bin/env python3
"""A tiny webhook receiver for trying `northstar deliver` (standard library only).

  NORTHSTAR_WEBHOOK_SECRET=s3cret python3 scripts/webhook_receiver.py [--port 9000] [--fail N]

Prints each POST, checks its X-Northstar-Signature (sha256=<hex HMAC-SHA256 of the raw body>)
against the secret, and answers 200 (or 500 for the first N requests with --fail N, to watch
the retries). Receivers de-duplicate on the body's idempotency_key: delivery is at least once.
"""
import argparse
import hashlib
import hmac
import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--fail", type=int, default=0, help="answer 500 to the first N requests")
    args = parser.parse_args()
    secret = os.environ.get("NORTHSTAR_WEBHOOK_SECRET", "").encode()
    seen = set()
    state = {"requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state["requests"] += 1
            expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            valid = hmac.compare_digest(expected, self.headers.get("X-Northstar-Signature", ""))
            payload = json.loads(body)
            key = payload.get("idempotency_key")
            status = 500 if state["requests"] <= args.fail else 200
            note = "duplicate" if key in seen else "new"
            if status == 200:
                seen.add(key)
            print(f"{self.path} {key} signature {'valid' if valid else 'INVALID'} ({note}) -> {status}", flush=True)
            print("  " + body.decode(), flush=True)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *_):
            pass

    print(f"listening on http://127.0.0.1:{args.port}/", flush=True)
    HTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
