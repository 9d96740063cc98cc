"""A minimal agent runtime for the schedule service, in Python (README: "Dispatch to an agent runtime").

The same runtime as examples/agent-runtime.mjs, on the standard library only (Python 3.9+): it
receives each fire's webhook, verifies the Standard Webhooks signature itself, "runs" the task by
appending an assistant reply to the session's state, and reports the run `succeeded` with its usage.

    DISPATCH_SECRET=whsec_… RUNTIME_TOKEN=… python3 examples/agent_runtime.py

HOST (default 127.0.0.1) and PORT (default 4000) are where it listens; SERVICE_URL (default
http://127.0.0.1:3000) is the schedule service it reports back to.
"""
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DISPATCH_SECRET = os.environ.get("DISPATCH_SECRET")
RUNTIME_TOKEN = os.environ.get("RUNTIME_TOKEN")
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "4000"))
SERVICE_URL = os.environ.get("SERVICE_URL", "http://127.0.0.1:3000")
if not DISPATCH_SECRET or not RUNTIME_TOKEN:
    sys.exit("DISPATCH_SECRET and RUNTIME_TOKEN are required")

SECRET_PREFIX = "whsec_"
encoded_key = DISPATCH_SECRET[len(SECRET_PREFIX):] if DISPATCH_SECRET.startswith(SECRET_PREFIX) else DISPATCH_SECRET
try:
    # The key is the secret's bytes: the base64 after the prefix, decoded.
    KEY = base64.b64decode(encoded_key, validate=True)
except binascii.Error:
    sys.exit("DISPATCH_SECRET must be whsec_ followed by base64")
if not KEY:
    sys.exit("DISPATCH_SECRET must not be empty")

# Standard Webhooks' tolerance: a captured request cannot be replayed later than this.
TOLERANCE_SECONDS = 5 * 60

# Delivery is at least once: a run already seen (same webhook-id) is acknowledged, not run again.
# A dict keeps insertion order, so the oldest id is dropped first; the lock makes check-and-add
# atomic across the server's threads.
seen = {}
seen_lock = threading.Lock()
SEEN_MAX = 10_000

# A service that never answers would otherwise hold a run's thread forever.
REPORT_TIMEOUT_SECONDS = 30


class VerificationError(Exception):
    pass


def verify(headers, body):
    """The parsed event of a webhook signed with DISPATCH_SECRET; VerificationError otherwise."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise VerificationError("missing required headers")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise VerificationError("invalid webhook-timestamp") from None
    if abs(time.time() - sent_at) > TOLERANCE_SECONDS:
        raise VerificationError("webhook-timestamp too far from now")
    signed = b"%s.%d.%s" % (msg_id.encode(), sent_at, body)
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest())
    # Several space-separated signatures may be sent (e.g. while a secret is rotated): any v1 match will do.
    for entry in signatures.split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            try:
                return json.loads(body)
            except ValueError:
                raise VerificationError("body is not JSON") from None
    raise VerificationError("no matching signature")


def report(method, path, body):
    request = urllib.request.Request(
        f"{SERVICE_URL}/runtime{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"authorization": f"Bearer {RUNTIME_TOKEN}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=REPORT_TIMEOUT_SECONDS):
            pass
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"{method} {path}: HTTP {error.code} {error.read().decode(errors='replace')}") from None


def now_iso():
    """As JavaScript's toISOString(): UTC, milliseconds, Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run(data):
    """The "agent": answers the scheduled task with a reply appended to the session's context."""
    run_id, session = data["run"]["id"], data["session"]
    report("POST", f"/runs/{run_id}/status", {"status": "running"})
    context = session["state"]["context"]
    blocks = context[-1]["content"] if context else []
    prompt = (blocks[0].get("text") if blocks else None) or ""
    now = now_iso()
    text = f"Done: {re.sub(r'</?scheduled-task>', '', prompt).strip()}"
    # What a model call would report; here a rough count (four characters a token), and no price.
    usage = {"input_tokens": -(-len(prompt) // 4), "output_tokens": -(-len(text) // 4)}
    reply = {
        "name": "assistant",
        "content": [{"type": "text", "text": text, "id": str(uuid.uuid4())}],
        "id": str(uuid.uuid4()),
        "metadata": {},
        "created_at": now,
        "finished_at": now,
        "usage": usage,
    }
    report("PUT", f"/sessions/{session['id']}/state", {**session["state"], "context": [*context, reply]})
    report("POST", f"/runs/{run_id}/status", {"status": "succeeded", "usage": usage})


def run_in_background(data):
    run_id = data["run"]["id"]
    try:
        run(data)
        print(f"run {run_id} succeeded", flush=True)
    except Exception as error:
        print(f"run {run_id} failed: {error}", file=sys.stderr, flush=True)
        try:
            report("POST", f"/runs/{run_id}/status", {"status": "failed", "error": str(error)})
        except Exception:
            pass


def first_sight(msg_id):
    """Records `msg_id` as seen; False when it already was (a redelivery)."""
    with seen_lock:
        if msg_id in seen:
            return False
        seen[msg_id] = None
        if len(seen) > SEEN_MAX:
            del seen[next(iter(seen))]
        return True


class WebhookHandler(BaseHTTPRequestHandler):
    # Keep-alive, as the service's dispatcher reuses its connections; every answer sets Content-Length.
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = self.headers.get("content-length")
        if length is None:
            # http.server does not decode chunked bodies; the service always sends a Content-Length.
            self.answer(411, close=True)
            return
        if not length.isdigit():
            self.answer(400, close=True)
            return
        body = self.rfile.read(int(length))
        try:
            event = verify(self.headers, body)
        except VerificationError:
            self.answer(401)  # not signed by the service: a 4xx, so it is not retried
            return
        start = isinstance(event, dict) and event.get("type") == "schedule.fired" and first_sight(self.headers["webhook-id"])
        self.answer(202)  # accepted: the run is `dispatched`, and runs in the background
        if start:
            threading.Thread(target=run_in_background, args=(event["data"],), daemon=True).start()

    def answer(self, status, close=False):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def log_message(self, format, *args):
        pass  # as the Node example: no line per request, only one per run


def main():
    server = ThreadingHTTPServer((HOST, PORT), WebhookHandler)
    print(f"agent runtime listening on http://{HOST}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
