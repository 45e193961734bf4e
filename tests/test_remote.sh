#!/usr/bin/env bash
# test_remote.sh: `kzsearch --remote URL...` and `serve --remote` search
# the indexes that `kzsearch serve` serves on other machines as one index
# (README "Shards across machines"; cli/remote.c, cli/shard_api.c).
#
# A seeded corpus is built as 3 shards (index --shard I/3), each served on
# a port of its own. For every query of a list, with options that reach
# every part of a search (modes, prefixes, word~, phrases, field clauses,
# dates, facets, sorting, paging, collapsing, --explain, --count, --ids),
# the coordinator's output must be byte for byte that of `--index s0
# --index s1 --index s2` (one index of the three, its docids shard after
# shard), text and JSON, exit status and notes included; took_ms and the
# "machines" the coordinator adds are the only differences allowed.
# Then: a machine that is down gives a result marked partial, never a
# silent one; no machine gives exit 2; a syntax error is the user's; a
# coordinator server answers /api/search with the same document; the
# machines refuse malformed requests with 400s.
#
#   tests/test_remote.sh KZSEARCH
set -u
KZ=$1
T=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fails=0 checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }

# ---- the corpus: 600 articles of a few hundred words, with sources and
# dates, Cyrillic names, and copies of some texts (near-duplicates).
RANDOM=20261207
words=(kazakhstan russia border steppe oil grain astana tokayev treaty language minority pipeline election
    uranium railway news report history market river sanctions wheat exports harvest prices moscow almaty
    Токаев Казахстан россия нефть tokaev nazarbayev pipelines elections reporting markets)
sources=("Reuters" "Interfax" "Radio Free Europe" "Kazinform" "TASS")
gen() {
    local i j n text
    for ((i = 0; i < 600; i++)); do
        n=$((8 + RANDOM % 60))
        text=""
        for ((j = 0; j < n; j++)); do text+="${words[RANDOM % ${#words[@]}]} "; done
        if ((i % 50 == 7)); then text="Identical wire story about grain exports from Kazakhstan to China and the prices of wheat this autumn, as reported by several outlets."; fi
        if ((i == 123)); then text="A zeppelin flew over the steppe with a cargo of grain."; fi
        printf '{"id":"a%d","title":"%s %s","source":"%s","date":"%d-%02d-%02d","views":%d,"text":"%s"}\n' "$i" \
            "${words[RANDOM % ${#words[@]}]}" "${words[RANDOM % ${#words[@]}]}" "${sources[RANDOM % 5]}" \
            $((2019 + RANDOM % 5)) $((1 + RANDOM % 12)) $((1 + RANDOM % 28)) $((RANDOM % 40 - 20)) "$text"
    done
}
gen >"$T/docs.jsonl"
for i in 0 1 2; do
    "$KZ" index -q --shard $i/3 -o "$T/s$i" "$T/docs.jsonl" || { echo "FAIL: shard $i did not build"; exit 1; }
done

start() { # NAME ARGS... : a server; its URL in $url
    local name=$1
    shift
    "$KZ" serve --listen 127.0.0.1:0 "$@" >"$T/$name.out" 2>"$T/$name.err" &
    pids+=($!)
    local tries=0
    while ! grep -q 'http://' "$T/$name.out" 2>/dev/null; do
        tries=$((tries + 1))
        if [ $tries -gt 100 ]; then
            echo "FAIL: server $name did not start"
            cat "$T/$name.err"
            exit 1
        fi
        sleep 0.1
    done
    url=$(sed -n 's|.*\(http://[^ ]*\)/$|\1|p' "$T/$name.out")
}
start m0 --index "$T/s0"
u0=$url
start m1 --index "$T/s1"
u1=$url
start m2 --index "$T/s2"
u2=$url
m2pid=${pids[2]}
R=(--remote "$u0" --remote "$u1/" --remote "$u2")
L=(--index "$T/s0" --index "$T/s1" --index "$T/s2")

normalize() { sed -e 's/"took_ms": [0-9.]*//' -e 's/, "machines": {.*}}$/}/' -e 's/ ([0-9.]* ms)//' "$1"; }

# ---- the same output as one index of the three
compare() { # ARGS...
    local fmt
    for fmt in --json ""; do
        "$KZ" "${L[@]}" $fmt --color never "$@" >"$T/l.out" 2>"$T/l.err"
        local lrc=$?
        "$KZ" "${R[@]}" $fmt --color never "$@" >"$T/r.out" 2>"$T/r.err"
        local rrc=$?
        if [ $lrc = $rrc ] && cmp -s <(normalize "$T/l.out") <(normalize "$T/r.out") && cmp -s "$T/l.err" "$T/r.err"; then
            ok
        else
            bad "remote differs from one index: $fmt $* (exit $rrc, one index $lrc)"
            diff <(normalize "$T/l.out") <(normalize "$T/r.out") | head -6
            diff "$T/l.err" "$T/r.err" | head -4
        fi
    done
}
compare kazakhstan
compare oil grain
compare '"grain exports"'
compare 'oil -russia' --any
compare 'oil OR wheat' --all
compare 'ka*' -n 20
compare 'r*' -n 5
compare 'tokaev~'
compare Токаев
compare tokayev
compare 'source:reuters grain'
compare 'sour*:inter*' 'oil'
compare 'date>=2022-06 market' --facet source --facet date:year
compare grain --facet source:2 --facet date:month:3
compare wheat --sort -date -n 15
compare wheat --sort date --since 2020-03-01 --until 2021-12-31
compare 'harvest prices' --explain -n 3
compare 'grain exports' --offset 7 -n 5
compare 'grain exports china' -n 12
compare 'grain exports china' --no-collapse -n 12
compare identical wire story -n 3 --offset 1
compare zzznothing
compare 'grian exprots'
compare '"of the' 
compare --count oil
compare --ids oil -n 12
compare 'kazakhstan steppe' --sort -date --facet source
compare 'kazakhstan zzznothing' --sort date
compare 'zeppelin grain' --sort -date # AND finds one machine's document: the others must not fall back to OR
compare wheat --sort -views -n 15 # by a number field, ties (40 values) by score
compare 'kazakhstan views<0' --sort views
compare 'zeppelin grain' -n 5
compare 'title:grain exports'
compare 'title:"grain exports" OR title:wheat' --any -n 15

# ---- a syntax error is the user's, said once, with its caret
"$KZ" "${R[@]}" --strict '"oil' >"$T/out" 2>"$T/err"
rc=$?
if [ $rc = 2 ] && grep -q 'syntax error at column 1' "$T/err" && grep -q '^  \^' "$T/err"; then ok; else bad "a syntax error: exit $rc"; cat "$T/err"; fi

# ---- a coordinator server: /api/search gives the document of --json
if command -v curl >/dev/null; then
    start coord --remote "$u0" --remote "$u1" --remote "$u2"
    uc=$url
    for q in 'oil+grain' 'ka*' 'grain&facet=source&sort=-date' 'identical+wire+story&n=3'; do
        curl -s "$uc/api/search?q=$q" >"$T/c.json"
        curl -s "$u0/api/search?q=$q" >/dev/null # warm
        "$KZ" "${L[@]}" --json $(printf '%s' "$q" | sed -e 's/+/ /g' -e 's/&facet=/ --facet /; s/&sort=/ --sort /; s/&n=/ -n /') \
            >"$T/l.json" 2>/dev/null
        if cmp -s <(normalize "$T/c.json") <(normalize "$T/l.json") && grep -q '"machines": {"asked": 3, "answered": 3, "partial": false' "$T/c.json"; then
            ok
        else
            bad "serve --remote /api/search?q=$q differs"
            diff <(normalize "$T/l.json") <(normalize "$T/c.json") | head -4
        fi
    done
    # A document by its id, from whichever machine has it.
    if curl -s "$uc/api/doc/a7?q=grain" | grep -q '"id": "a7"'; then ok; else bad "serve --remote /api/doc"; fi
    code=$(curl -s -o /dev/null -w '%{http_code}' "$uc/api/doc/nosuchid")
    [ "$code" = 404 ] && ok || bad "serve --remote /api/doc of no document: $code"
    code=$(curl -s -o "$T/e.json" -w '%{http_code}' "$uc/api/search?q=%22oil&strict=1")
    [ "$code" = 400 ] && grep -q '"column": 1' "$T/e.json" && ok || bad "serve --remote syntax error: $code"

    # ---- the machines refuse what is not a step of a search
    code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary 'garbage' "$u0/api/shard/search?q=oil")
    [ "$code" = 400 ] && ok || bad "a body that is not statistics: $code"
    curl -s "$u0/api/shard/stats?q=oil" >"$T/stats"
    code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$T/stats" "$u0/api/shard/search?q=oil&k=100000000")
    [ "$code" = 400 ] && ok || bad "k past its limit: $code"
    { tail -n +3 "$T/stats"; echo "h 999999 0x1p+0 1 1 5"; } >"$T/hits"
    code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$T/hits" "$u0/api/shard/hits?q=oil")
    [ "$code" = 400 ] && ok || bad "a hit of no document: $code"
    # A later step names the index its statistics came from: another is 409.
    printf '%s\n' "$(tail -n +3 "$T/stats")" >"$T/sum"
    code=$(curl -s -o "$T/e.json" -w '%{http_code}' --data-binary @"$T/sum" "$u0/api/shard/search?q=oil&at=1-2-3")
    [ "$code" = 409 ] && grep -q '"changed"' "$T/e.json" && ok || bad "a step of another index: $code"
    at=$(sed -n 's/^index //p' "$T/stats")
    code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$T/sum" "$u0/api/shard/search?q=oil&at=$at")
    [ "$code" = 200 ] && ok || bad "a step of the same index: $code"
    # A machine's new generation (kzsearch add) is searched at once, and
    # the whole still equals one index of the three.
    printf '%s\n' '{"id":"fresh-1","title":"Fresh","source":"Reuters","date":"2024-01-01","text":"zeppelin grain oil exports"}' \
        >"$T/fresh.jsonl"
    "$KZ" add -q --index "$T/s0" "$T/fresh.jsonl" >/dev/null 2>&1 || bad "add to a machine's index"
    compare zeppelin grain -n 5

    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$u0/api/shard/search?q=oil")
    [ "$code" = 405 ] && ok || bad "PUT: $code"
    code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$T/stats" "$uc/api/shard/search?q=oil")
    [ "$code" = 404 ] || [ "$code" = 405 ] && ok || bad "a coordinator is not a machine: $code"
fi

# ---- a machine down: partial, said in text and JSON
kill "$m2pid"
wait "$m2pid" 2>/dev/null
"$KZ" "${R[@]}" --json oil >"$T/p.json" 2>"$T/p.err"
rc=$?
if [ $rc = 0 ] && grep -q '"partial": true' "$T/p.json" && grep -q '"answered": 2' "$T/p.json" &&
    grep -q "partial result: 2 of 3" "$T/p.err"; then ok; else bad "a machine down: exit $rc"; cat "$T/p.err"; fi
total_partial=$(grep -o '"total": [0-9]*' "$T/p.json" | head -1 | grep -o '[0-9]*$')
total_two=$("$KZ" --index "$T/s0" --index "$T/s1" --count oil)
[ "$total_partial" = "$total_two" ] && ok || bad "a partial total is of the machines that answered: $total_partial, $total_two"
"$KZ" "${R[@]}" oil >"$T/p.txt" 2>/dev/null
grep -q '^Partial: 2 of 3 machines answered' "$T/p.txt" && ok || bad "a partial result is said in the text"
"$KZ" --remote "$u2" oil >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 2 ] && grep -q 'no machine answered' "$T/err" && ok || bad "no machine: exit $rc"
"$KZ" --remote "$u0" --index "$T/s0" oil >/dev/null 2>&1
[ $? = 2 ] && ok || bad "--remote beside --index is refused"

# ---- a shard set with a shard gone is an error that names it
"$KZ" shards create "$T/set" "$T/s0" "$T/s1" "$T/s2" >/dev/null 2>&1 || bad "shards create"
mv "$T/s1" "$T/s1.away"
"$KZ" --index "$T/set" oil >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 2 ] && grep -q "s1" "$T/err" && grep -q "a shard of the set" "$T/err" && ok || { bad "a missing shard: exit $rc"; cat "$T/err"; }
mv "$T/s1.away" "$T/s1"

echo "$checks checks; $fails failed"
[ $fails = 0 ]
