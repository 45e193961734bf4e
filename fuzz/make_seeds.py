#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the bundled sample
articles (data/articles), so that no binary seed is kept in the repository.

usage: make_seeds.py KZSEARCH OUT_DIR
  KZSEARCH  the kzsearch command, used to build the seed indexes
  OUT_DIR   gets one folder per target: query/ index/ jsonl/ text/ manifest/
            html/ warc/ stats/
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
            steps.append([kzsearch, "index" if i == 0 else "add", "-q", "-o", ix] + (["--no-merge"] if i else []) +
                         [src])
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


def warc_seeds(out):
    import gzip
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


if __name__ == "__main__":
    main()
