#!/bin/sh
# serve_fixture.sh: the index the serve tests search, and the server on it.
#
#   serve_fixture.sh index KZSEARCH DIR     writes DIR/docs.jsonl (40 articles with
#                                           sources and dates, and one hostile
#                                           document) and indexes it into DIR/ix
#   serve_fixture.sh start KZSEARCH DIR     starts `kzsearch serve` on a free port of
#                                           127.0.0.1 against DIR/ix; prints
#                                           http://127.0.0.1:PORT; its pid in DIR/pid,
#                                           its output in DIR/serve.out and .err
#   serve_fixture.sh more KZSEARCH DIR      writes DIR/more.jsonl (10 articles, ids
#                                           late-0..9, the word "zeppelin")
#
# Used by tests/test_serve.sh and tests/test_browser.py.
set -eu
what=$1 KZ=$2 DIR=$3

article() { # ID TITLE SOURCE DATE TEXT
    printf '{"id":"%s","title":"%s","source":"%s","date":"%s","url":"https://news.example/%s","text":"%s"}\n' \
        "$1" "$2" "$3" "$4" "$1" "$5"
}

case $what in
index)
    mkdir -p "$DIR"
    : >"$DIR/docs.jsonl"
    i=0
    while [ $i -lt 40 ]; do
        case $((i % 3)) in 0) src="Reuters" ;; 1) src="Radio Free Europe" ;; *) src="Interfax" ;; esac
        year=$((2021 + i % 3)) month=$((1 + i % 12))
        date=$(printf '%d-%02d-%02d' $year $month $((1 + i % 28)))
        case $((i % 4)) in
        0) words="Grain exports from Kazakhstan rose as the harvest came in early." ;;
        1) words="Kazakhstan and Russia discussed pipelines, oil and the price of grain." ;;
        2) words="The steppe was quiet; herders moved their flocks before the winter." ;;
        *) words="Elections in Kazakhstan: observers reported long queues at polling stations." ;;
        esac
        # Figures of its own, so that the articles are not near-duplicates
        # of each other (searches collapse those: README "Near-duplicates").
        figures=$(seq -s ' ' $((i * 100)) $((i * 100 + 24)))
        article "art-$i" "Report $i from the steppe" "$src" "$date" \
            "Article number $i. $words More text follows about the region and its neighbours. $words Figures: $figures."
        i=$((i + 1))
    done >>"$DIR/docs.jsonl"
    # Everything a page could be tricked by: it must show as text, never run.
    printf '%s\n' '{"id":"evil\"<script>","title":"<script>window.__pwned=1</script> Evil \"onmouseover=window.__pwned=1 x=\"","source":"<img src=x onerror=window.__pwned=1>","date":"2022-05-05","url":"javascript:window.__pwned=1","text":"Kazakhstan </textarea><script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=1\"> javascript:window.__pwned=1 \"onmouseover=window.__pwned=1 <a href=\"javascript:window.__pwned=1\">click</a>"}' >>"$DIR/docs.jsonl"
    rm -rf "$DIR/ix"
    "$KZ" index -q -o "$DIR/ix" "$DIR/docs.jsonl" >/dev/null
    ;;
more)
    i=0
    while [ $i -lt 10 ]; do
        article "late-$i" "Late report $i" "Reuters" "2024-01-0$((1 + i % 9))" \
            "A zeppelin was seen over the steppe of Kazakhstan, report $i."
        i=$((i + 1))
    done >"$DIR/more.jsonl"
    ;;
start)
    rm -f "$DIR/serve.out" "$DIR/serve.err"
    "$KZ" serve --index "$DIR/ix" --listen 127.0.0.1:0 >"$DIR/serve.out" 2>"$DIR/serve.err" &
    echo $! >"$DIR/pid"
    tries=0
    while ! grep -q 'http://' "$DIR/serve.out" 2>/dev/null; do
        tries=$((tries + 1))
        if [ $tries -gt 100 ] || ! kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
            echo "serve_fixture.sh: the server did not start" >&2
            cat "$DIR/serve.err" >&2
            exit 1
        fi
        sleep 0.1
    done
    sed -n 's|.*\(http://[^ ]*\)/$|\1|p' "$DIR/serve.out"
    ;;
*)
    echo "usage: $0 index|more|start KZSEARCH DIR" >&2
    exit 2
    ;;
esac
