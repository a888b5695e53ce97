"""Loopback web server for Scripts/chaos: serves generated JPEGs and deliberately bad inputs.

Usage: python3 chaos_server.py VARIANTS_DIR BAD_FIXTURES_DIR PORT_FILE

Routes (N is any integer; every good image gets a unique JPEG COM segment, so every URL is a
distinct image with its own SHA-256 even though the pixels come from a few dozen variants):
  /img/N.jpg      variant N % count, made unique         -> 200 image/jpeg
  /missing/N.jpg  -> 404
  /html/N.jpg     an HTML page served as image/jpeg      -> 200, not an image
  /trunc/N.jpg    a unique JPEG cut in half              -> 200, truncated
  /bomb/N.jpg     a PNG header claiming 50000x50000      -> 200, decompression bomb
Everything is held in memory; HTTP/1.1 keep-alive with TCP_NODELAY (without it Nagle plus the
client's delayed ACK add ~40 ms to every response on a kept-alive connection).
"""
import http.server
import os
import socket
import sys

variants_dir, bad_dir, port_file = sys.argv[1], sys.argv[2], sys.argv[3]
variants = [open(os.path.join(variants_dir, name), "rb").read()
            for name in sorted(os.listdir(variants_dir)) if name.endswith(".jpg")]
page = open(os.path.join(bad_dir, "page.html"), "rb").read()
bomb = open(os.path.join(bad_dir, "bomb-50000x50000.png"), "rb").read()


def unique(n):
    base = variants[n % len(variants)]
    comment = b"chaos image %d" % n
    return base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + base[2:]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        try:
            kind, n = parts[0], int(parts[1].split(".")[0])
        except (IndexError, ValueError):
            self.send_error(404)
            return
        if kind == "img":
            body = unique(n)
        elif kind == "html":
            body = page
        elif kind == "trunc":
            whole = unique(n)
            body = whole[: len(whole) // 2]
        elif kind == "bomb":
            body = bomb
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


server = Server(("127.0.0.1", 0), Handler)
with open(port_file + ".part", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".part", port_file)
server.serve_forever()
