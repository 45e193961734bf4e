#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the bundled sample
articles (data/articles), so that no binary seed is kept in the repository.

usage: make_seeds.py KZSEARCH OUT_DIR
  KZSEARCH  the kzsearch command, used to build the seed indexes
  OUT_DIR   gets one folder per target: query/ index/ jsonl/ text/ manifest/
            html/ warc/ stats/ http/
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTICLES = os.path.join(ROOT, "data", "articles")


def articles():
    for name in sorted(os.listdir(ARTICLES)):
        with open(os.path.join(ARTICLES, name), encoding="utf-8") as f:
            yield name, f.read()


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def query_seeds(out):
    n = 0
    for name, text in articles():
        lines = [l for l in text.splitlines() if l.strip()]
        words = text.split()
        seeds = [lines[0], " ".join(words[10:13]), '"%s"' % " ".join(words[20:22]),
                 "%s* OR %s" % (words[30][:3], words[31]), "%s -%s" % (words[40], words[41]),
                 "(%s OR %s) AND NOT %s" % (words[50], words[51], words[52]), "+%s %s" % (words[60], words[61]),
                 # field clauses (fuzz.h gives the sample index source, date, n and tags)
                 "%s source:s1 date:2024-03..2024-06" % words[70], "%s -n<20 tags:grain" % words[71],
                 "%s OR %s n:-10..1e2" % (words[72], words[73]), "%s date>=2024-02-15 n>=4.5" % words[74]]
        for s in seeds:
            write(out, "q%03d" % n, s)
            n += 1


def index_seeds(out, kzsearch):
    """Small indexes: each article cut to 1,500 bytes, and two together."""
    arts = list(articles())
    groups = [[a] for a in arts] + [arts[:2]]
    for i, group in enumerate(groups):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "src")
            os.mkdir(src)
            for name, text in group:
                write(src, name, text[:1500])
            ix = os.path.join(tmp, "ix")
            subprocess.run([kzsearch, "index", "-q", "-o", ix, src], check=True)
            # The index's one segment: the fuzz target reads it as the one
            # file of an index without a manifest.
            segments = sorted(n for n in os.listdir(ix) if n.startswith("seg-") and n.endswith(".kz"))
            with open(os.path.join(ix, segments[0]), "rb") as f:
                write(out, "ix%02d" % i, f.read())


def jsonl_seeds(out):
    for i, (name, text) in enumerate(articles()):
        lines = text.splitlines()
        doc = {"id": name, "title": lines[0], "text": "\n".join(lines[1:])[:3000],
               "date": "2024-03-0%d" % (i + 1), "tags": ["kazakhstan", "russia"], "n": i}
        rows = [json.dumps(doc, ensure_ascii=(i % 2 == 0)), json.dumps({"id": i, "text": lines[1][:200]})]
        write(out, "j%02d" % i, "\n".join(rows) + "\n")


def text_record(name, content):
    name = name.encode("utf-8")
    content = content.encode("utf-8")[:4000]
    return bytes([len(name)]) + name + struct.pack("<H", len(content)) + content


def text_seeds(out):
    arts = list(articles())
    for i, (name, text) in enumerate(arts):
        write(out, "t%02d" % i, text_record(name, text))
    tree = (text_record("a/b/one.txt", arts[0][1][:800]) + text_record("a/two.md", arts[1][1][:800]) +
            text_record(".hidden/x.txt", "hidden") + text_record("notes.pdf", "%PDF-1.4") +
            text_record("empty.txt", ""))
    write(out, "tree", tree)
    # One site's scraped pages in one folder (chrome.c): a breadcrumb, a
    # kicker and lines every page repeats (the repetition rule needs four
    # pages), an article shared by two (a copy), and trailing sections.
    site = b""
    shared = next(l for l in arts[0][1].splitlines() if len(l) > 250)[:400]
    for i, (name, text) in enumerate(arts):
        lines = [l for l in text.splitlines() if l.strip()]
        title, body = lines[0][:60], "\n".join(lines[1:6])[:500]
        page = ("Skip to content\nSite News: %s\nHome » world » %s\nWORLD-POLITICS %s\n%s\n%s\n"
                "Share this:\nAdvertisement\nSubscribe to our newsletter\nRelated posts\n%s\n"
                "Leave a comment below!\n© Site News" % (title, title, title, body, shared if i < 2 else "",
                                                          lines[-1][:80]))
        site += text_record("site/%d.txt" % i, page)
    write(out, "chrome", site)


def manifest_seeds(out, kzsearch):
    """The manifest of each generation of an index built as fuzz_manifest.c
    builds its own at start-up (so that the segments they name are there,
    with as many documents): two articles, then two added, then one, then
    the first deleted."""
    arts = list(articles())
    with tempfile.TemporaryDirectory() as tmp:
        ix = os.path.join(tmp, "ix")
        groups = [arts[0:2], arts[2:4], arts[4:5]]
        steps = []
        for i, group in enumerate(groups):
            src = os.path.join(tmp, "abc"[i])
            for name, text in group:
                write(src, name, text)
            # Declared field types make the manifest's version 2 (its field
            # entries); the later generations keep them.
            steps.append([kzsearch, "index" if i == 0 else "add", "-q", "-o", ix] +
                         (["--no-merge"] if i else ["--field", "date:date", "--field", "summary:text"]) + [src])
        steps.append([kzsearch, "delete", "--index", ix, arts[0][0]])
        for i, step in enumerate(steps):
            subprocess.run(step, check=True, capture_output=True)
            with open(os.path.join(ix, "manifest"), "rb") as f:
                write(out, "m%d" % (i + 1), f.read())


def html_page(i, title, paragraphs):
    """A news page around an article: the first byte of an html seed picks
    the HTTP charset (fuzz_html.c)."""
    body = "".join("<p>%s</p>" % p.replace("&", "&amp;").replace("<", "&lt;") for p in paragraphs)
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>%s | Site</title>"
            "<meta property=og:site_name content=Site><meta property=article:published_time content=2024-03-0%d>"
            "<script type=application/ld+json>{\"datePublished\":\"2024-03-01\",\"author\":{\"name\":\"A\"}}</script>"
            "</head><body><nav><a href=/>Home</a></nav><div class=share>Share</div><article><h1>%s</h1>%s"
            "</article><footer>Copyright</footer></body></html>" % (title, i + 1, title, body))


def html_seeds(out):
    for i, (name, text) in enumerate(articles()):
        lines = [l for l in text.splitlines() if l.strip()]
        page = html_page(i, lines[0], lines[1:12])
        write(out, "h%02d" % i, bytes([0]) + page.encode("utf-8")[:60000])
        if i == 0:
            write(out, "h-cp1251", bytes([1]) + "<p>Привет, мир &amp; всё</p>".encode("cp1251"))
            write(out, "h-koi8", bytes([2]) + "<meta charset=koi8-r><p>Привет</p>".encode("koi8_r"))


def warc_record(kind, uri, block):
    head = "WARC/1.0\r\nWARC-Type: %s\r\nWARC-Target-URI: %s\r\nContent-Type: application/http;msgtype=%s\r\n" \
           "Content-Length: %d\r\n\r\n" % (kind, uri, kind, len(block))
    return head.encode() + block + b"\r\n\r\n"


def zstd_raw(data):
    """data as one zstd frame (RFC 8878) of raw blocks: no encoder needed."""
    frame = b"\x28\xb5\x2f\xfd\x00\x48"  # magic; no content size, one window of 512 KiB
    for at in range(0, max(len(data), 1), 65536):
        piece = data[at:at + 65536]
        last = at + 65536 >= len(data)
        frame += (len(piece) << 3 | int(last)).to_bytes(3, "little") + piece
    return frame


def brotli_stored(data):
    """data as a Brotli stream (RFC 7932) of uncompressed meta-blocks."""
    bits = [0]  # WBITS: 16
    stream = bytearray()
    for at in range(0, len(data), 65536):
        piece = data[at:at + 65536]
        # ISLAST 0, MNIBBLES 4, MLEN - 1 in 16 bits, ISUNCOMPRESSED 1, then whole bytes.
        bits += [0, 0, 0] + [(len(piece) - 1) >> k & 1 for k in range(16)] + [1]
        while len(bits) % 8:
            bits.append(0)
        for k in range(0, len(bits), 8):
            stream.append(sum(b << j for j, b in enumerate(bits[k:k + 8])))
        bits = []
        stream += piece
    bits += [1, 1]  # ISLAST, ISLASTEMPTY
    stream.append(sum(b << j for j, b in enumerate(bits)))
    return bytes(stream)


def warc_seeds(out):
    import gzip
    import zlib
    for i, (name, text) in enumerate(articles()):
        if i > 1:
            break
        lines = [l for l in text.splitlines() if l.strip()]
        page = html_page(i, lines[0], lines[1:6]).encode("utf-8")
        resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + page
        recs = [warc_record("request", "http://example.org/%d" % i, b"GET / HTTP/1.1\r\n\r\n"),
                warc_record("response", "http://example.org/%d" % i, resp)]
        write(out, "w%02d" % i, b"".join(recs))
        write(out, "w%02d-gz" % i, b"".join(gzip.compress(r) for r in recs))
        if i == 0:
            # Bodies in each Content-Encoding the reader decodes.
            coded = [("gzip", gzip.compress(page)), ("deflate", zlib.compress(page)),
                     ("br", brotli_stored(page)), ("zstd", zstd_raw(page))]
            for enc, body in coded:
                resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Encoding: " +
                        enc.encode() + b"\r\n\r\n" + body)
                write(out, "w-" + enc, warc_record("response", "http://example.org/" + enc, resp))


def stats_seeds(out):
    """Global statistics as a node reads them (FORMAT.md "Remote search"):
    the terms of a few queries on the sample articles, and an extent."""
    head = (b"kzsearch stats 1\ndocs 5\ntokens 6000\ndocids 5\ncyrillic 1\nparts 2\n"
            b"analyzer 3\nlanguage auto\n")
    words = [[b"kazakhstan"], [b"putin", b"russia"], [b"kaz", b"kazakh", b"kazakhstan"],
             [b"\xd1\x82\xd0\xbe\xd0\xba\xd0\xb0\xd0\xb5\xd0\xb2", b"tokayev"]]
    for i, ws in enumerate(words):
        lines = b"".join(b"t %d %s\n" % (1 + j, w.hex().encode()) for j, w in enumerate(sorted(ws)))
        write(out, "s%02d" % i, head + lines + b"end\n")
    date = b"\x01date\x1fdY"
    write(out, "s-extent", head + b"t 3 " + b"kazakhstan".hex().encode() + b"\n" +
          b"x 2 " + date.hex().encode() + b" " + (date + b"2021").hex().encode() + b" " +
          (date + b"2023").hex().encode() + b"\nend\n")


def http_request(method, target, headers=(), body=b"", version="HTTP/1.1", host="localhost"):
    """One request as a client sends it, with Content-Length when body is
    not empty."""
    lines = ["%s %s %s" % (method, target, version), "Host: " + host] + list(headers)
    if body:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def http_seeds(out):
    """Requests to kzsearch serve (fuzz_http.c) on the sample index of
    fuzz.h (fields source, date, n and tags; an article's file name is its
    id): every route and parameter, the /api/shard/ steps with their
    bodies, and the awkward shapes of HTTP; those with "Host: coordinator"
    go to a coordinator (serve --remote) of two machines."""
    doc = sorted(os.listdir(ARTICLES))[1]
    stats = (b"kzsearch stats 1\ndocs 5\ntokens 6000\ndocids 5\ncyrillic 1\nparts 2\nanalyzer 3\n"
             b"language auto\nt 3 " + b"kazakhstan".hex().encode() + b"\nend\n")
    hits = stats + b"h 0 0x1.8p+1 1 1 1\ns 1 0x1p+1 1\nh 3 0x1p+0 2 0 1\n"
    get = lambda target, **kw: http_request("GET", target, **kw)
    seeds = {
        "search": get("/api/search?q=kazakhstan&n=5"),
        "search-facets": get("/api/search?q=russia+putin&n=3&offset=2&sort=-date&facet=source&facet=date:year"
                             "&facet=tags:5"),
        "search-dates": get("/api/search?q=war&since=2024-02&until=2024-06&sort=date&collapse=0&fragments=2"
                            "&mode=all&date_field=date"),
        "search-strict": get("/api/search?q=source%3As1+%22ethnic+russians%22+-n%3C20&strict=1&explain=1&chars=80"),
        "search-count": get("/api/search?q=kaz*+OR+putni~&n=0&sort=%2Bn&mode=any"),
        "search-since": get("/api/search?since=2024-03-11&n=100&offset=9900"),
        "doc": get("/api/doc/%s?q=kazakhstan+russia" % doc),
        "stats": get("/api/stats", headers=["Accept: application/json"]),
        "healthz": get("/healthz", version="HTTP/1.0"),
        "page": get("/", headers=["Accept-Encoding: gzip", "Connection: close"]),
        "head": http_request("HEAD", "/app.js"),
        "shard-stats": get("/api/shard/stats?q=kazakhstan+russia&facet=source"),
        "shard-search": http_request("POST", "/api/shard/search?q=kazakhstan&k=5&facet=source", body=stats),
        "shard-hits": http_request("POST", "/api/shard/hits?q=kazakhstan&format=json", body=hits),
        "shard-hits-text": http_request("POST", "/api/shard/hits?q=kazakhstan&format=text&color=1",
                                        headers=["Expect: 100-continue"], body=hits),
        # Two requests on one connection (keep-alive), then a third cut short.
        "keepalive": get("/api/search?q=grain&n=1") + get("/api/doc/%s" % doc) + b"GET /healthz HTTP/1.1\r\nHo",
        "chunked": (b"POST /api/shard/search?q=kazakhstan&k=2 HTTP/1.1\r\nHost: localhost\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n" +
                    b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (stats[:40], stats[40:])) + b"0\r\n\r\n"),
        "get-chunked": b"GET /api/stats HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "escapes": get("/api/search?q=%zz%4%%00x&n=%31%G0&q%00=1&%=&&=&facet"),
        "escapes-doc": get("/api/doc/%ff%fe%2e%2e%2fetc?q=%C3%28+%E2%82"),
        "huge-header": get("/api/search?q=kazakhstan", headers=["X-Fill: " + "a" * 12000, "Cookie: " + "b=c; " * 200]),
        "methods": http_request("PUT", "/api/search?q=x", body=b"data") + http_request("DELETE", "/healthz"),
        "version": get("http://localhost/api/stats", version="HTTP/2.0"),
        "unknown": get("/api/search?q=x&k=3&nope=1") + get("/api/nothing/../healthz"),
        "coord-search": get("/api/search?q=kazakhstan+OR+russia&n=4&offset=1&facet=source&facet=date:month"
                            "&sort=-date&fragments=2", host="coordinator"),
        "coord-count": get("/api/search?q=%22ethnic+russians%22&n=0&since=2024-02&collapse=0", host="coordinator"),
        "coord-doc": get("/api/doc/%s?q=putin+%%26x%%3D1%%23" % doc, host="coordinator") +
                     get("/api/doc/%2e%2e%2f%3Fq%3D?q=a", host="coordinator"),
        "coord-misc": get("/healthz", host="coordinator") + get("/api/stats", host="coordinator") +
                      http_request("POST", "/api/shard/search?q=x", body=stats, host="coordinator"),
    }
    for name, data in seeds.items():
        write(out, name, data)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    kzsearch, out = sys.argv[1], sys.argv[2]
    query_seeds(os.path.join(out, "query"))
    index_seeds(os.path.join(out, "index"), kzsearch)
    jsonl_seeds(os.path.join(out, "jsonl"))
    text_seeds(os.path.join(out, "text"))
    manifest_seeds(os.path.join(out, "manifest"), kzsearch)
    html_seeds(os.path.join(out, "html"))
    warc_seeds(os.path.join(out, "warc"))
    stats_seeds(os.path.join(out, "stats"))
    http_seeds(os.path.join(out, "http"))


if __name__ == "__main__":
    main()
