#!/usr/bin/env bash
# test_serve.sh: kzsearch serve over real HTTP on loopback: every endpoint,
# the answers against the command's own, every error status, hostile
# requests, idle connections, and a live index changed while requests run.
#
# Usage: test_serve.sh KZSEARCH SOURCE_DIR JSON_VALID
# Prints one line per assertion and, as its last line, "N passed, N failed";
# exits non-zero if anything failed.

KZ=$1
SRC=$2
JSON_VALID=$3
if [ -z "$KZ" ] || [ -z "$SRC" ] || [ -z "$JSON_VALID" ]; then
    echo "usage: $0 KZSEARCH SOURCE_DIR JSON_VALID" >&2
    echo "0 passed, 1 failed"
    exit 2
fi
if ! command -v curl >/dev/null; then
    echo "test_serve.sh needs curl: apt-get install curl" >&2
    echo "0 passed, 1 failed"
    exit 2
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/kz-serve.XXXXXX") || { echo "0 passed, 1 failed"; exit 2; }
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export HOME=$T XDG_CACHE_HOME=$T/cache XDG_DATA_HOME=$T/data
unset KZSEARCH_INDEX

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
    failed=$((failed + 1))
    echo "FAIL $1"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/     | /'
}

# get PATH [CURL ARGS...]: the body in $T/body, the status in $code, the
# headers in $T/headers.
get() {
    local path=$1
    shift
    code=$(curl -s -g -o "$T/body" -D "$T/headers" -w '%{http_code}' --max-time 20 "$@" "$URL$path")
}

# expect CODE WHAT: the status, and a JSON body for the API's answers.
expect() {
    if [ "$code" = "$1" ]; then pass "$2: $1"; else fail "$2: status $code, want $1" "$(cat "$T/body")"; fi
}
expect_json() {
    if "$JSON_VALID" <"$T/body" >/dev/null 2>&1; then pass "$1: valid JSON"; else fail "$1: invalid JSON" "$(head -c 600 "$T/body")"; fi
}
expect_body() {
    if grep -qF -- "$1" "$T/body"; then pass "$2"; else fail "$2: no '$1'" "$(head -c 600 "$T/body")"; fi
}
expect_header() {
    if grep -qiF -- "$1" "$T/headers"; then pass "$2"; else fail "$2: no header '$1'" "$(cat "$T/headers")"; fi
}
no_took() { sed -e 's/"took_ms": [0-9.]*//' "$1"; }

"$SRC/tests/serve_fixture.sh" index "$KZ" "$T" || { echo "0 passed, 1 failed"; exit 1; }
URL=$("$SRC/tests/serve_fixture.sh" start "$KZ" "$T") || { echo "0 passed, 1 failed"; exit 1; }
SERVER=$(cat "$T/pid")
PIDS+=("$SERVER")
pass "serve started at $URL"

# ---------------------------------------------------------------- endpoints
get /healthz
expect 200 "/healthz"
expect_json "/healthz"
expect_body '"documents": 41' "/healthz counts the documents"

get /
expect 200 "the page"
expect_header "content-type: text/html" "the page is HTML"
expect_header "content-security-policy: default-src 'none'; script-src 'self'" "the page forbids inline scripts"
expect_body '<script src="/app.js"' "the page loads its script"
for asset in /app.js /app.css; do
    get $asset
    expect 200 "$asset"
done
expect_header "content-type: text/css" "/app.css is CSS"
get / -I
expect 200 "HEAD /"

# The API answers what `kzsearch --json` prints, for the same search.
same_as_cli() { # WHAT PATH CLI-ARGS...
    local what=$1 path=$2
    shift 2
    get "$path"
    "$KZ" --index "$T/ix" --json "$@" >"$T/cli.json" 2>/dev/null
    if [ "$code" = 200 ] && diff <(no_took "$T/body") <(no_took "$T/cli.json") >"$T/diff"; then
        pass "/api/search $what: the JSON of kzsearch --json"
    else
        fail "/api/search $what: status $code, or not the JSON of kzsearch --json" "$(cat "$T/diff")"
    fi
}
same_as_cli "plain" "/api/search?q=kazakhstan+grain" kazakhstan grain
same_as_cli "n, offset" "/api/search?q=kazakhstan&n=5&offset=5" -n 5 --offset 5 kazakhstan
same_as_cli "facets" "/api/search?q=kazakhstan&facet=source&facet=date:year&facet=date:month:3" \
    --facet source --facet date:year --facet date:month:3 kazakhstan
same_as_cli "sort, since, until" "/api/search?q=grain&sort=-date&since=2022-01&until=2022-12" \
    --sort=-date --since 2022-01 --until 2022-12 grain
same_as_cli "a field clause" "/api/search?q=steppe%20source:%22radio%20free%20europe%22" \
    'steppe source:"radio free europe"'
same_as_cli "lenient" "/api/search?q=%22unclosed%20grain" '"unclosed grain'
same_as_cli "since alone" "/api/search?since=2023-06" --since 2023-06
same_as_cli "mode=any" "/api/search?q=zzz%20grain&mode=any" --any zzz grain
same_as_cli "n=0 counts" "/api/search?q=grain&n=0" -n 0 grain
get "/api/search?q=kazakhstan&n=3"
expect_json "/api/search"
expect_header "cache-control: no-store" "the API is not cached"

get "/api/doc/art-1?q=grain"
expect 200 "/api/doc/ID"
expect_json "/api/doc/ID"
expect_body '"id": "art-1"' "/api/doc gives the document"
expect_body '"source": "Radio Free Europe"' "/api/doc gives the fields"
expect_body '"highlights": [[' "/api/doc gives q's matches"
if grep -q '"text": "Article number 1\. Kazakhstan' "$T/body"; then pass "/api/doc gives the text"; else fail "/api/doc text" "$(cat "$T/body")"; fi
get "/api/doc/evil%22%3Cscript%3E"
expect 200 "/api/doc of an id with quotes and brackets (percent-encoded)"
get "/api/doc/art-1"
expect_body '"highlights": []' "/api/doc without q: no highlights"

get /api/stats
expect 200 "/api/stats"
expect_json "/api/stats"
"$KZ" --index "$T/ix" stats --json >"$T/cli.json"
if cmp -s "$T/body" "$T/cli.json"; then pass "/api/stats is kzsearch stats --json"; else fail "/api/stats differs" "$(diff "$T/body" "$T/cli.json")"; fi

# ---------------------------------------------------------------- errors
get "/api/search?q=%22grain&strict=1"
expect 400 "a syntax error with strict=1"
expect_json "a syntax error"
expect_body '"column": 1' "the syntax error's column"
get "/api/search?q=grain%20date:1987-13"
expect 400 "a malformed date in a field clause"
expect_body '"error": "syntax"' "a malformed date is a syntax error"
get "/api/search?q=grain&since=yesterday"
expect 400 "a bad since"
get "/api/search?q=grain&since=2022&date_field=nofield"
expect 400 "since on no date field"
for bad in "n=abc" "n=101" "n=-1" "offset=10001" "offset=9995&n=10" "color=red" "q=a&q=b" \
    "facet=" "facet=source:0" "sort=-" "mode=fast" ""; do
    get "/api/search?q=grain&$bad"
    [ "$bad" = "" ] && get "/api/search"
    [ "$bad" = "q=a&q=b" ] && get "/api/search?q=a&q=b"
    expect 400 "bad parameters: '$bad'"
done
expect_json "a 400"
get "/api/doc/no-such-id"
expect 404 "/api/doc of no document"
expect_json "a 404"
get "/nope"
expect 404 "an unknown path"
get "/../../../../etc/passwd" --path-as-is
expect 404 "a path out of the tree"
get "/api/doc/..%2F..%2Fetc%2Fpasswd"
expect 404 "/api/doc of a path: ids only, never files"
for m in POST PUT DELETE PATCH OPTIONS; do
    get "/api/search?q=grain" -X $m
    expect 405 "$m"
done
expect_header "allow: GET, HEAD" "405 says what is allowed"
get "/api/search?q=$(head -c 5000 /dev/zero | tr '\0' a)"
expect 413 "a query of 5000 bytes"
expect_json "a 413"
get "/api/search?q=grain" --data-binary "$(head -c 1000 /dev/zero | tr '\0' x)" -X GET
expect 413 "a GET with a body"
# A URL of 200 KB, past what a request may hold (its line and headers):
# sent by hand, too long for a command line.
exec {raw}<>"/dev/tcp/127.0.0.1/${URL##*:}"
# The server may close the connection before all is written: in a subshell
# that ignores SIGPIPE, so that the write fails instead of killing the test.
(trap '' PIPE; printf 'GET /api/search?q=%s HTTP/1.1\r\nHost: x\r\n\r\n' "$(head -c 200000 /dev/zero | tr '\0' a)" >&"$raw") 2>/dev/null || true
read -r -t 5 _ code _ <&"$raw"
exec {raw}>&-
if [ "$code" = 414 ] || [ "$code" = 413 ] || [ "$code" = 431 ]; then pass "a URL of 200 KB: $code"; else fail "a URL of 200 KB: $code"; fi
params=$(for i in $(seq 1 100); do printf 'facet=f%d&' "$i"; done)
get "/api/search?q=grain&$params"
expect 400 "100 parameters"

# ---------------------------------------------------------------- hostile input
for q in '%ff%fe%fd' '%c3%28' '%e2%82' '%zz%%%2' '%' '%%%%%%' '%ed%a0%80' '(((((((((((((((((((' \
    '%22%22%22%22' 'a*' '*' 'NOT' 'OR%20OR%20OR' 'date:..' '%0a%0d%09' '%7f%01' 'source:' '-' '+' \
    "$(for i in $(seq 1 300); do printf '(a%%20OR%%20'; done)"; do
    get "/api/search?q=$q"
    if { [ "$code" = 200 ] || [ "$code" = 400 ]; } && "$JSON_VALID" <"$T/body" >/dev/null 2>&1; then
        pass "hostile q '$(printf '%.30s' "$q")': $code, valid JSON"
    else
        fail "hostile q '$(printf '%.30s' "$q")': $code" "$(head -c 300 "$T/body")"
    fi
done
get "/api/search?q=a%00b"
expect 400 "a NUL byte in q"
get "/api/doc/%ff%fe"
expect 404 "/api/doc of bad UTF-8"
# A broken request line and headers: the server answers or closes, and lives.
printf 'GET /%%%%zz HTTP/1.1\r\nHost: x\r\nX: \xff\xfe\r\n\r\n' >"$T/raw"
curl -s --max-time 5 "telnet://127.0.0.1:${URL##*:}" <"$T/raw" >/dev/null 2>&1
printf 'BREW /pot HTCPCP/1.0\r\n\r\n' >"$T/raw"
curl -s --max-time 5 "telnet://127.0.0.1:${URL##*:}" <"$T/raw" >/dev/null 2>&1
get /healthz
expect 200 "alive after broken requests"

# Many idle and half-sent connections do not starve the others.
exec 3>&2 2>/dev/null
fds=()
for i in $(seq 1 200); do
    exec {fd}<>"/dev/tcp/127.0.0.1/${URL##*:}" && fds+=("$fd")
    [ $((i % 4)) = 0 ] && printf 'GET /api/search?q=gr' >&"$fd"
done
exec 2>&3 3>&-
start=$(date +%s%N)
get "/api/search?q=grain"
took=$((($(date +%s%N) - start) / 1000000))
if [ "$code" = 200 ] && [ "$took" -lt 2000 ]; then
    pass "a search beside ${#fds[@]} idle and half-sent connections: ${took} ms"
else
    fail "a search beside ${#fds[@]} idle connections: $code in ${took} ms"
fi
for fd in "${fds[@]}"; do exec {fd}>&-; done

# The time limit: a server whose searches may look at one document (a
# budget of work stops a search as its deadline does).
"$KZ" serve --index "$T/ix" --listen 127.0.0.1:0 --max-work 1 >"$T/slow.out" 2>"$T/slow.err" &
PIDS+=($!)
for _ in $(seq 1 50); do grep -q http "$T/slow.out" && break; sleep 0.1; done
SLOW=$(sed -n 's|.*\(http://[^ ]*\)/$|\1|p' "$T/slow.out")
code=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' "$SLOW/api/search?q=kazakhstan+OR+grain+OR+steppe+OR+article")
expect 503 "a search past its time limit"
expect_json "a 503"
expect_header "retry-after" "503 says when to retry"

# fragments=0: no passages, and the stored text is not read.
get "/api/search?q=kazakhstan&n=3&fragments=0"
expect 200 "fragments=0"
if grep -q '"hits": \[' "$T/body" && ! grep -q '"highlights"' "$T/body" && grep -q '"title_highlights"' "$T/body"; then
    pass "fragments=0: hits without passages"
else
    fail "fragments=0" "$(head -c 400 "$T/body")"
fi
get "/api/search?q=kazakhstan&fragments=17"
expect 400 "fragments=17"

# Synonyms: a server with --synonyms expands a word into its line.
printf 'steppe, zzzqqqword\n' >"$T/syn.txt"
"$KZ" serve --index "$T/ix" --listen 127.0.0.1:0 --synonyms "$T/syn.txt" >"$T/syn.out" 2>"$T/syn.err" &
PIDS+=($!)
for _ in $(seq 1 50); do grep -q http "$T/syn.out" && break; sleep 0.1; done
SYN=$(sed -n 's|.*\(http://[^ ]*\)/$|\1|p' "$T/syn.out")
code=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' "$SYN/api/search?q=zzzqqqword")
expect 200 "a search with --synonyms"
grep -q '"total": [1-9]' "$T/body" && pass "--synonyms: a made-up word finds its synonym's documents" ||
    fail "--synonyms: no hits" "$(head -c 300 "$T/body")"
grep -q 'also searched: zzzqqqword (steppe)' "$T/body" && pass "--synonyms: the note" ||
    fail "--synonyms: no note" "$(head -c 300 "$T/body")"
printf 'steppe\n' >"$T/bad-syn.txt"
"$KZ" serve --index "$T/ix" --listen 127.0.0.1:0 --synonyms "$T/bad-syn.txt" >/dev/null 2>"$T/err"
status=$?
[ "$status" = 2 ] && grep -q "bad-syn.txt:1" "$T/err" && pass "--synonyms: a bad file stops serve with its line" ||
    fail "--synonyms: a bad file: status $status" "$(cat "$T/err")"

# A coordinator (serve --remote) of this server: a search every machine
# refuses (a sort by a field none has dates in) is the user's error, a 400
# as from one index, not a 503 "no machine answered" to try again (found
# by fuzz/fuzz_http.c).
"$KZ" serve --remote "$URL" --listen 127.0.0.1:0 >"$T/coord.out" 2>"$T/coord.err" &
PIDS+=($!)
for _ in $(seq 1 50); do grep -q http "$T/coord.out" && break; sleep 0.1; done
COORD=$(sed -n 's|.*\(http://[^ ]*\)/$|\1|p' "$T/coord.out")
code=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' "$COORD/api/search?q=grain&sort=nofield")
expect 400 "serve --remote: a sort by a field no machine has dates in"
expect_body '"error": "bad_request"' "serve --remote: the machines' refusal is the user's error"
expect_body 'no document has dates or numbers in the field' "serve --remote: the machines' message"

# ---------------------------------------------------------------- a live index
# Requests run without a pause while the index gets new generations: an
# add, a delete, an optimize. None may fail; the new documents show.
"$SRC/tests/serve_fixture.sh" more "$KZ" "$T"
(
    n=0 bad=0
    while [ ! -f "$T/stop" ]; do
        c=$(curl -s -o "$T/live.body" -w '%{http_code}' --max-time 10 "$URL/api/search?q=kazakhstan&n=3")
        n=$((n + 1))
        if [ "$c" != 200 ] || ! "$JSON_VALID" <"$T/live.body" >/dev/null 2>&1; then
            bad=$((bad + 1))
            echo "$c $(head -c 200 "$T/live.body")" >>"$T/live.bad"
        fi
    done
    echo "$n $bad" >"$T/live.counts"
) &
LOOP=$!
sleep 0.3
"$KZ" add -q -o "$T/ix" "$T/more.jsonl" >/dev/null 2>"$T/add.err" || fail "kzsearch add" "$(cat "$T/add.err")"
sleep 0.2
"$KZ" delete --index "$T/ix" art-0 >/dev/null 2>&1 || fail "kzsearch delete"
sleep 0.2
"$KZ" optimize --index "$T/ix" >/dev/null 2>&1 || fail "kzsearch optimize"
sleep 0.3
touch "$T/stop"
wait $LOOP
read -r n bad <"$T/live.counts"
if [ "$bad" = 0 ] && [ "$n" -gt 10 ]; then
    pass "$n requests while add, delete and optimize ran: none failed"
else
    fail "$bad of $n requests failed while the index changed" "$(cat "$T/live.bad" 2>/dev/null)"
fi
get "/api/search?q=zeppelin&n=0"
expect_body '"total": 10' "the added documents are served without a restart"
get "/api/doc/art-0"
expect 404 "a deleted document is gone"
get /healthz
expect_body '"documents": 50' "/healthz: the new count"
if grep -qE '"reloads": [3-9]' "$T/body"; then pass "three new generations were put in place"; else fail "reloads" "$(cat "$T/body")"; fi

# ---------------------------------------------------------------- stopping
kill -TERM "$SERVER"
for _ in $(seq 1 50); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SERVER" 2>/dev/null; then
    fail "SIGTERM stops the server"
else
    if grep -q "stopping (SIGTERM)" "$T/serve.err"; then pass "SIGTERM stops the server cleanly"; else fail "SIGTERM" "$(cat "$T/serve.err")"; fi
    if grep -qE "Sanitizer|runtime error" "$T/serve.err"; then fail "the sanitizers' report" "$(cat "$T/serve.err")"; else pass "no sanitizer report"; fi
fi
"$KZ" serve --listen 127.0.0.1:99999 >/dev/null 2>"$T/err"
[ $? = 2 ] && pass "a bad --listen is a usage error" || fail "a bad --listen" "$(cat "$T/err")"
"$KZ" serve --help >"$T/out" 2>&1
grep -q "kzsearch serve" "$T/out" && pass "serve --help" || fail "serve --help" "$(cat "$T/out")"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
