#!/usr/bin/env python3
"""A stand-in OpenAI-compatible embeddings endpoint for load tests (no network here).

POST /v1/embeddings answers deterministic vectors: each word of a text (lower-cased, a few
synonyms folded together, stop words dropped) adds 1 to a hashed bucket, so texts that share
words are near each other. Every answer waits a fixed latency first (like a real endpoint's
network and model time). Standard library only.

    python3 tools/fake-openai/server.py --port 18099 --dims 512 --latency-ms 5
"""
import argparse
import json
import re
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STOP = {"a", "an", "the", "in", "of", "and", "as", "to", "with", "for", "on", "who", "by",
        "from", "at", "notable", "works", "skills", "dream", "roles", "played"}
FOLD = {"sleuth": "detective", "investigator": "detective", "inspector": "detective",
        "costume": "period", "historical": "period", "comic": "comedian", "comedy": "comedian"}
WORD = re.compile(r"\w+")


def vector(text, dims):
    v = [0.0] * dims
    for w in WORD.findall(text.lower()):
        if w in STOP:
            continue
        w = FOLD.get(w, w)
        v[zlib.crc32(w.encode()) % dims] += 1.0
    return v


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.endswith("/embeddings"):
            self.send_error(404)
            return
        time.sleep(self.server.latency)
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        dims = int(body.get("dimensions") or self.server.dims)
        data = [{"object": "embedding", "index": i, "embedding": vector(t, dims)}
                for i, t in enumerate(inputs)]
        out = json.dumps({"object": "list", "data": data, "model": body.get("model", "fake"),
                          "usage": {"prompt_tokens": 0, "total_tokens": 0}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=18099)
    p.add_argument("--dims", type=int, default=512)
    p.add_argument("--latency-ms", type=float, default=5.0)
    a = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    server.dims = a.dims
    server.latency = a.latency_ms / 1000.0
    server.serve_forever()


if __name__ == "__main__":
    main()
