#!/usr/bin/env python3
"""A current ClickHouse engine behind the part of the HTTP interface
dnswatch uses, for tests only.

Debian packages ClickHouse 18.16, so the real servers the tests start are
that old; dnswatch writes another schema for servers from 19.3/19.6 on
(LowCardinality columns, a table TTL). chdb (PyPI `chdb-core`) is the
ClickHouse engine of today as a library, without the server. This script
puts it behind the few HTTP requests dnswatch's client makes, so the same
tests run against a current engine: the DDL, every query, RowBinary parsing
and TTL are ClickHouse's own; only the HTTP layer is this script's.

    python3 scripts/chdb-http.py --port 8124 --path DIR [--pidfile F]

What it does: POST (or GET) `/?query=...` with the rest of the statement or
the rows in the body, answered in TabSeparated unless the statement says
FORMAT; an error is HTTP 500 with ClickHouse's own "Code: N. DB::Exception"
text. `INSERT INTO t (cols) FORMAT RowBinary` with the rows in the body is
run as `INSERT INTO t (cols) SELECT * FROM file(BODY, RowBinary, TYPES)`
with the column types the table has: the engine parses the rows.
What it does not: authentication (any user and password are accepted),
TLS, settings in the URL other than `database`, `query_id` in
system.processes (requests run one at a time, so nothing is ever in
flight), Distributed tables over several servers. The tests that need
those run against the real 18.16 servers only.
"""

import argparse
import os
import re
import sys
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import chdb.session

INSERT_RB = re.compile(
    r"^\s*INSERT\s+INTO\s+([\w.`]+)\s*\(([^)]*)\)\s*FORMAT\s+RowBinary\s*$",
    re.IGNORECASE | re.DOTALL,
)


class Engine:
    def __init__(self, path):
        self.session = chdb.session.Session(path)
        self.lock = threading.Lock()
        self.tmp = tempfile.mkdtemp(prefix="chdb-http-")

    def run(self, sql, database=None):
        with self.lock:
            if database:
                self.session.query(f"USE {database}", "TabSeparated")
            return self.session.query(sql, "TabSeparated").bytes()

    def insert_rowbinary(self, table, cols, body, database=None):
        names = [c.strip().strip("`") for c in cols.split(",") if c.strip()]
        with self.lock:
            if database:
                self.session.query(f"USE {database}", "TabSeparated")
            desc = self.session.query(f"DESCRIBE TABLE {table}", "TabSeparated").bytes()
            types = {}
            for line in desc.decode().splitlines():
                f = line.split("\t")
                if len(f) >= 2:
                    types[f[0]] = f[1]
            missing = [n for n in names if n not in types]
            if missing:
                raise RuntimeError(
                    f"Code: 16. DB::Exception: No such column {missing[0]} in table {table}. (NO_SUCH_COLUMN_IN_TABLE)"
                )
            structure = ", ".join(f"`{n}` {types[n]}" for n in names)
            path = os.path.join(self.tmp, "rows.bin")
            with open(path, "wb") as f:
                f.write(body)
            q = (
                f"INSERT INTO {table} ({', '.join('`' + n + '`' for n in names)}) "
                f"SELECT * FROM file('{path}', 'RowBinary', '{structure}')"
            )
            return self.session.query(q, "TabSeparated").bytes()


def handler(engine):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "text/tab-separated-values; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_query(self, body):
            url = urllib.parse.urlparse(self.path)
            params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
            query = params.get("query", "")
            database = params.get("database")
            try:
                m = INSERT_RB.match(query) if query else None
                if m:
                    out = engine.insert_rowbinary(m.group(1), m.group(2), body, database)
                else:
                    sql = (query + ("\n" if query and body else "") + body.decode("utf-8")).strip()
                    if not sql:
                        out = b"Ok.\n"
                    else:
                        out = engine.run(sql, database)
                self.answer(200, out)
            except Exception as e:  # the engine's own error text
                text = str(e)
                if not text.startswith("Code:"):
                    text = "Code: 1000. DB::Exception: " + text
                self.answer(500, (text + "\n").encode())

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = self.read_chunked()
            self.handle_query(body)

        def read_chunked(self):
            out = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            if url.path == "/ping":
                self.answer(200, b"Ok.\n")
                return
            self.handle_query(b"")

    return H


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", required=True, help="the engine's data directory")
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    engine = Engine(a.path)
    version = engine.run("SELECT version()").decode().strip()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), handler(engine))
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    print(f"chdb-http: ClickHouse {version} on http://127.0.0.1:{a.port}/", file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
