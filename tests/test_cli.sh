#!/bin/sh
# test_cli.sh: the kzsearch command, end to end.
#
# Usage: test_cli.sh KZSEARCH SOURCE_DIR JSON_VALID
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

T=$(mktemp -d "${TMPDIR:-/tmp}/kz-cli.XXXXXX") || { echo "0 passed, 1 failed"; exit 2; }
cleanup() { rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Nothing outside $T: no default index, no sample index in the user's cache.
mkdir -p "$T/home" "$T/cache" "$T/data"
HOME=$T/home
XDG_CACHE_HOME=$T/cache
XDG_DATA_HOME=$T/data
export HOME XDG_CACHE_HOME XDG_DATA_HOME
unset KZSEARCH_INDEX

passed=0
failed=0

pass() {
    passed=$((passed + 1))
    echo "ok   $1"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL $1"
    if [ -n "$2" ]; then
        printf '%s\n' "$2" | sed 's/^/     | /'
    fi
}

# run CMD...: runs the command with stdout in $T/out, stderr in $T/err and
# the exit status in $status.
run() {
    "$@" >"$T/out" 2>"$T/err"
    status=$?
}

output() { cat "$T/out" "$T/err"; }

# expect_status WANT WHAT
expect_status() {
    if [ "$status" -eq "$1" ]; then
        pass "$2: exit status $1"
    else
        fail "$2: exit status $status, want $1" "$(output)"
    fi
}

# expect_out FILE PATTERN WHAT: FILE (out or err) holds the fixed string.
expect_in() {
    if grep -F -q -- "$2" "$T/$1"; then
        pass "$3: $1 says \"$2\""
    else
        fail "$3: $1 lacks \"$2\"" "$(output)"
    fi
}

# expect_lines WORDS WHAT: out's lines, sorted, are WORDS (space-separated).
expect_lines() {
    got=$(sort "$T/out" | tr '\n' ' ' | sed 's/ $//')
    if [ "$got" = "$1" ]; then
        pass "$2: out is \"$1\""
    else
        fail "$2: out is \"$got\", want \"$1\"" "$(output)"
    fi
}

# expect_in_i FILE STRING WHAT: the same, ignoring case.
expect_in_i() {
    if grep -F -i -q -- "$2" "$T/$1"; then
        pass "$3: $1 says \"$2\""
    else
        fail "$3: $1 lacks \"$2\"" "$(output)"
    fi
}

# flip_byte FILE OFFSET: flips the lowest bit of one byte in place.
flip_byte() {
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    nb=$((b ^ 1))
    printf "\\$(printf '%03o' "$nb")" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null
}

# ---------------------------------------------------------------- index, stats, check

run "$KZ" index -q -o "$T/ix" "$SRC/data/articles"
expect_status 0 "index the bundled articles"
seg=$(ls "$T/ix" | grep '^seg-.*\.kz$' | head -1)
if [ -f "$T/ix/manifest" ] && [ -n "$seg" ]; then
    pass "a manifest and a segment written ($seg)"
else
    fail "no manifest or segment written" "$(ls -la "$T/ix" 2>&1)"
fi

# The sample articles' site chrome is not indexed; titles are the headlines.
for q in samsung adblock comment; do
    run "$KZ" --index "$T/ix" "$q"
    expect_status 1 "no chrome hit for $q"
done
run "$KZ" --index "$T/ix" kazakhstan
expect_in out "Putin’s Next Target? Kazakhstan Invasion Risk Rises" "a breadcrumb's headline is the title"
expect_in out "Kazakhstan is the second Ukraine waiting for Russia  [" "a decorated page title gives way"
if grep -q "Home »\|kmiainfo" "$T/out"; then fail "chrome in titles" "$(output)"; else pass "no chrome in titles"; fi

# A folder with nothing readable: each file listed, counted, exit 1.
mkdir -p "$T/unread"
echo a >"$T/unread/a.pdf"
echo b >"$T/unread/b.docx"
run "$KZ" index -o "$T/ix-unread" "$T/unread"
expect_status 1 "a folder of unread files"
expect_in err "a.pdf: not a .txt" "an unread file is listed"
expect_in err "2 skipped" "unread files are counted"

run "$KZ" stats --index "$T/ix"
expect_status 0 "stats"
expect_in out "documents   5" "stats"
expect_in out "language auto" "stats"
expect_in out "fields      1" "stats counts the fields (the files' dates)"

# Fields of every kind, in stats and in a search.
printf '%s\n' '{"id":"f1","text":"wheat report","date":"2022-03-01","n":5,"source":"ap"}' \
    '{"id":"f2","text":"wheat report","date":"2022-05","n":"-2.5","source":["ap","rt"]}' \
    '{"id":"f3","text":"wheat report","n":"1e3","source":"n/a"}' >"$T/fields.jsonl"
run "$KZ" index -q -o "$T/ixf" "$T/fields.jsonl"
run "$KZ" stats --index "$T/ixf"
expect_in out "fields      3" "stats lists three fields"
expect_in out "date             dates 2022-03-01 .. 2022-03-01" "a field's first and last day"
expect_in out "n                numbers -2.5 .. 1000; 3 keyword values" "a field's least and greatest number"
expect_in out "source           3 keyword values" "a keyword field"
run "$KZ" stats --json --index "$T/ixf"
expect_in out '"name": "n", "type": "auto", "keywords": 3, "numbers": [-2.5, 1000]' "stats --json lists the fields"
run "$KZ" stats --fields --index "$T/ixf"
expect_status 0 "stats --fields"
expect_lines "$(printf 'date\tdate n\tnumber,keyword source\tkeyword')" "stats --fields: each name and what it holds"
# The completions ask stats --fields: --sort offers the fields of dates or
# numbers (date once), --facet all of them, a query word a field's name.
complete_words() {
    bash -c '. "$1/completions/kzsearch.bash"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
             _kzsearch; printf "%s\n" "${COMPREPLY[@]}"' complete "$SRC" "$@" >"$T/out" 2>"$T/err"
}
complete_words "$KZ" --index "$T/ixf" --sort ""
expect_lines "-date -n date n score" "bash completion of --sort"
complete_words "$KZ" --index "$T/ixf" --facet ""
expect_lines "date n source" "bash completion of --facet"
complete_words "$KZ" --index "$T/ixf" wheat so
expect_lines "source:" "bash completion of a query word to a field"
run "$KZ" -l --no-collapse --index "$T/ixf" 'wheat n>=0'
expect_lines "f1 f3" "n>=0 finds 5 and 1e3"
run "$KZ" -l --no-collapse --index "$T/ixf" 'wheat n:-3..4.9'
expect_lines "f2" "a range finds -2.5"
run "$KZ" -l --no-collapse --index "$T/ixf" 'wheat n<5'
expect_lines "f2" "n<5 leaves 5 out"

# Declared types (--field NAME:TYPE), kept by the index for what is added.
printf '%s\n' '{"id":"t1","text":"grain","summary":"Ethnic Russians in Kazakhstan","zip":"2022-03","when":"soon"}' \
    '{"id":"t2","text":"grain","summary":"Russians and ethnic Kazakhs","zip":"10115","when":"2022-05-01"}' >"$T/typed.jsonl"
printf '%s\n' '{"id":"t3","text":"grain","summary":"ethnic Russians again","zip":"2022-03"}' >"$T/typed2.jsonl"
run "$KZ" index -o "$T/ixt" --field summary:text --field zip:keyword --field when:date "$T/typed.jsonl"
expect_status 0 "index with --field"
expect_in err 'typed.jsonl:1: field when: "soon" is no date: kept as a keyword' "a value not of its type is reported"
run "$KZ" add -q -o "$T/ixt" "$T/typed2.jsonl"
expect_status 0 "add to a typed index"
run "$KZ" -l --no-collapse --index "$T/ixt" 'grain summary:"ethnic russians"'
expect_lines "t1 t3" "a text field's phrase, in the added segment too"
run "$KZ" -l --no-collapse --index "$T/ixt" 'grain summary:kazakh*'
expect_lines "t1 t2" "a text field's prefix"
run "$KZ" -l --no-collapse --index "$T/ixt" 'grain zip:2022-03'
expect_lines "t1 t3" "a keyword field holds 2022-03 whole"
run "$KZ" -l --no-collapse --index "$T/ixt" 'grain when:soon'
expect_lines "t1" "a value that is no date is a keyword"
run "$KZ" --index "$T/ixt" 'grain summary>=2'
expect_status 2 "a text field takes no range"
expect_in err "summary holds words" "a text field takes no range"
run "$KZ" stats --index "$T/ixt"
expect_in out "summary          text; at most" "stats gives a declared type"
expect_in out "zip              keyword; " "stats gives a declared type"
run "$KZ" add -q -o "$T/ixt" --field zip:number "$T/typed2.jsonl"
expect_status 2 "retyping a field by add"
expect_in err "field zip is typed keyword in this index, not number" "retyping a field by add"
run "$KZ" index -o "$T/ixt2" --field summary:prose "$T/typed.jsonl"
expect_status 2 "an unknown type"
expect_in err "is no field type" "an unknown type"

run "$KZ" check --index "$T/ix"
expect_status 0 "check a good index"
expect_in out "ok:" "check a good index"

# ---------------------------------------------------------------- analyze

run "$KZ" analyze "Kasym-Žomart Tokayev’s"
expect_status 0 "analyze"
stems=$(cut -f3 "$T/out" | tr '\n' ' ')
if [ "$stems" = "kasym zomart tokayev " ]; then
    pass "analyze: stems kasym zomart tokayev"
else
    fail "analyze: stems \"$stems\", want \"kasym zomart tokayev \"" "$(output)"
fi
# A text read as Kazakh keeps its words of the Russian alphabet whole, as
# the index keeps a Kazakh document's, and says why.
run "$KZ" analyze "новый заң қабылданды"
expect_status 0 "analyze a Kazakh text"
expect_in out "новыи" "analyze a Kazakh text: новый unstemmed"
expect_in err "other than Russian" "analyze a Kazakh text: a note"
run "$KZ" analyze "новый закон"
if [ "$(head -1 "$T/out" | cut -f3)" = "нов" ] && ! grep -q "other than Russian" "$T/err"; then
    pass "analyze a Russian text: новый stemmed, no note"
else
    fail "analyze a Russian text: новый not stemmed to нов, or a note" "$(output)"
fi

# ---------------------------------------------------------------- skipped input, errors

mkdir -p "$T/mixed"
printf 'Good file\nsome fine text here\n' >"$T/mixed/good.txt"
printf 'Binary file\nab\000cd\001\n' >"$T/mixed/bad.txt"
run "$KZ" index -o "$T/ixm" "$T/mixed"
expect_status 1 "index a folder with a binary .txt"
expect_in err "binary" "index a folder with a binary .txt"
expect_in err "bad.txt" "index a folder with a binary .txt"
run "$KZ" stats --index "$T/ixm"
expect_in out "documents   1" "the binary file was skipped"

run "$KZ" index -q -o "$T/ix" "$T/does-not-exist"
expect_status 2 "index a missing path"
expect_in err "does-not-exist" "index a missing path"
expect_in err "was not changed" "index a missing path"
run "$KZ" stats --index "$T/ix"
expect_in out "documents   5" "the old index still serves after the failed build"
run "$KZ" check --index "$T/ix"
expect_status 0 "the old index still checks after the failed build"

run "$KZ" stats --index "$T/no-index-here"
expect_status 2 "stats on a missing index"

run "$KZ" index -q -o "$T/ix-small" --memory 16M "$SRC/data/articles"
expect_status 2 "a memory budget below 64M"
expect_in err "at least 64M" "a memory budget below 64M"
run "$KZ" index -o "$T/ix-runs" --memory 64M "$SRC/data/articles"
expect_status 0 "index with --memory 64M"
expect_in err "sorted run" "the summary names the sorted runs"

# ---------------------------------------------------------------- add, delete

run "$KZ" index -q -o "$T/ixs" "$SRC/data/articles"
expect_status 0 "index for add and delete"
printf '%s\n' '{"id":"new1","title":"Astana news","text":"Tokayev visited Moscow today."}' \
    '{"id":"kazakhstan-second-ukraine.txt","title":"Replaced","text":"A new version of an article."}' >"$T/new.jsonl"
run "$KZ" add -o "$T/ixs" "$T/new.jsonl"
expect_status 0 "add"
expect_in err "1 older document replaced" "add: a new version replaces the old"
run "$KZ" stats --index "$T/ixs"
expect_in out "segments    2" "stats after add"
expect_in out "documents   6" "stats after add: 5 + 2 - 1 replaced"
expect_in out "$T/new.jsonl" "stats lists the sources"
run "$KZ" --index "$T/ixs" --json Tokayev
expect_in out '"id": "new1"' "an added document is found"
run "$KZ" --index "$T/ixs" --all '"second Ukraine waiting"'
expect_status 1 "the old version of a replaced document is gone"
run "$KZ" delete --index "$T/ixs" new1
expect_status 0 "delete"
expect_in err "deleted 1 document" "delete"
run "$KZ" delete --index "$T/ixs" new1 no-such-id
expect_status 1 "delete of unknown ids"
expect_in err 'no document with id "new1"' "delete of an id deleted already"
expect_in err 'no document with id "no-such-id"' "delete of an unknown id"
printf 'kazakhs-fear-new-imperial-target.txt\n\nwill-russia-invade-kazakhstan.txt\n' >"$T/ids.txt"
run "$KZ" delete --index "$T/ixs" --ids-from "$T/ids.txt"
expect_status 0 "delete --ids-from"
expect_in err "deleted 2 documents" "delete --ids-from"
run "$KZ" stats --index "$T/ixs"
expect_in out "documents   3" "stats after deletes"
run "$KZ" check --index "$T/ixs"
expect_status 0 "check after add and delete"
run "$KZ" --index "$T/ixs" --json -n 10 kazakhstan
cp "$T/out" "$T/before-optimize.json"
run "$KZ" optimize --index "$T/ixs"
expect_status 0 "optimize"
run "$KZ" stats --index "$T/ixs"
expect_in out "segments    1" "optimize: one segment"
expect_in out "documents   3" "optimize: the live documents"
run "$KZ" --index "$T/ixs" --json -n 10 kazakhstan
sed -e 's/"took_ms": [0-9.]*//' -e 's/"docid": [0-9]*//' "$T/before-optimize.json" >"$T/a.json"
sed -e 's/"took_ms": [0-9.]*//' -e 's/"docid": [0-9]*//' "$T/out" >"$T/b.json"
if cmp -s "$T/a.json" "$T/b.json"; then
    pass "optimize: the same hits and scores"
else
    fail "optimize: other hits or scores" "$(diff "$T/before-optimize.json" "$T/out")"
fi
# A rebuild from other sources would throw documents away: refused.
run "$KZ" index -o "$T/ixs" "$T/new.jsonl"
expect_status 2 "index from other sources over an index"
expect_in err "kzsearch add" "index from other sources: names add"
expect_in err "--replace" "index from other sources: names --replace"
run "$KZ" stats --index "$T/ixs"
expect_in out "documents   3" "index from other sources: nothing changed"
mkdir -p "$T/empty"
run "$KZ" index -o "$T/ixs" --replace "$T/new.jsonl"
expect_status 0 "index --replace"
run "$KZ" stats --index "$T/ixs"
expect_in out "documents   2" "index --replace: the new sources alone"
expect_in out "segments    1" "index --replace: one segment"
run "$KZ" index -o "$T/ixs" "$T/new.jsonl" "$T/empty"
expect_status 2 "index from the recorded sources and another"
run "$KZ" index -q -o "$T/ixs" "$T/new.jsonl"
expect_status 0 "index again from the recorded sources"

# update: the recorded sources read again.
mkdir -p "$T/upd"
printf 'One\nabout the steppe\n' >"$T/upd/one.txt"
printf 'Two\nabout oil\n' >"$T/upd/two.txt"
run "$KZ" index -q -o "$T/ixu" "$T/upd"
printf 'Two\nabout grain now\n' >"$T/upd/two.txt"
printf 'Three\nabout a river\n' >"$T/upd/three.txt"
rm "$T/upd/one.txt"
run "$KZ" update --index "$T/ixu"
expect_status 0 "update"
expect_in err "2 new or changed, 0 unchanged, 1 deleted" "update: a file changed, one added, one removed"
run "$KZ" --index "$T/ixu" grain
expect_status 0 "update: the changed file is found by its new words"
run "$KZ" --index "$T/ixu" --all steppe
expect_status 1 "update: the removed file is gone"
run "$KZ" update --index "$T/ixu"
expect_in err "0 new or changed, 2 unchanged, 0 deleted" "update with nothing changed"
mv "$T/upd" "$T/upd-moved"
run "$KZ" update --index "$T/ixu"
expect_status 2 "update with a source gone"
expect_in err "was not changed" "update with a source gone: nothing changes"

# ---------------------------------------------------------------- damage

# The segment alone, as index.kz: an index of one file.
mkdir -p "$T/flip" "$T/trunc"
cp "$T/ix/$seg" "$T/flip/index.kz"
size=$(wc -c <"$T/ix/$seg" | tr -d ' ')
flip_byte "$T/flip/index.kz" $((size / 2))
if cmp -s "$T/ix/$seg" "$T/flip/index.kz"; then
    fail "flip_byte changed nothing"
else
    pass "one byte flipped at offset $((size / 2)) of $size"
fi
run "$KZ" check --index "$T/flip"
expect_status 1 "check an index with a flipped byte"
if grep -q -e "^fault:" -e "^damaged:" "$T/out"; then
    pass "check an index with a flipped byte: reports fault:/damaged:"
else
    fail "check an index with a flipped byte: no fault:/damaged: line" "$(output)"
fi

dd if="$T/ix/$seg" of="$T/trunc/index.kz" bs=1 count=$((size / 2)) 2>/dev/null
run "$KZ" stats --index "$T/trunc"
expect_status 2 "stats on a truncated index"
expect_in_i err "corrupt" "stats on a truncated index"
run "$KZ" check --index "$T/trunc"
if [ "$status" -ne 0 ]; then
    pass "check on a truncated index fails (exit $status)"
else
    fail "check on a truncated index exits 0" "$(output)"
fi

# ---------------------------------------------------------------- usage

run "$KZ" --help
expect_status 0 "--help"
expect_in out "Usage:" "--help"

# A word that is no command is a query (kzsearch "ethnic Russians"), so
# what must fail is an unknown option, before and after a command.
run "$KZ" --frobnicate
expect_status 2 "an unknown option"
expect_in err "frobnicate" "an unknown option"
run "$KZ" index --frobnicate -o "$T/ix3" "$SRC/data/articles"
expect_status 2 "an unknown option to index"
if [ -e "$T/ix3/manifest" ] || [ -e "$T/ix3/index.kz" ]; then
    fail "an unknown option to index: an index was written anyway"
else
    pass "an unknown option to index: nothing written"
fi
run "$KZ" stats --index
expect_status 2 "stats --index without its argument"

run "$KZ"
expect_status 2 "no command"

# Each command's own help: its usage line and examples, exit 0.
for c in search index add update delete optimize stats check analyze run help; do
    run "$KZ" "$c" --help
    expect_status 0 "$c --help"
    expect_in out "Usage: kzsearch" "$c --help"
    expect_in out "Examples:" "$c --help"
    if grep -q "^Commands:" "$T/out"; then fail "$c --help prints the overview" "$(output)"; else pass "$c --help is its own"; fi
    run "$KZ" help "$c"
    if grep -q "kzsearch.*$c" "$T/out"; then pass "help $c"; else fail "help $c" "$(output)"; fi
done
run "$KZ" index -h
expect_in out "Usage: kzsearch index" "index -h"
run "$KZ" help frobnicate
expect_status 2 "help for no command"
run "$KZ" -V
expect_status 0 "-V"
expect_in out "kzsearch " "-V"
run "$KZ" --version
expect_status 0 "--version"

# Global options before or after the command: the same command.
run "$KZ" --index "$T/ix" stats
expect_status 0 "--index DIR stats"
expect_in out "documents   5" "--index DIR stats runs stats"
run "$KZ" --index="$T/ix" stats
expect_in out "documents   5" "--index=DIR stats runs stats"
run "$KZ" --json --index "$T/ix" stats
expect_status 0 "--json --index DIR stats"
expect_in out '"documents": 5' "--json before stats"
if "$JSON_VALID" <"$T/out" >/dev/null 2>&1; then pass "stats --json is valid JSON"; else fail "stats --json is not valid JSON" "$(output)"; fi
run "$KZ" stats --json --index "$T/ix"
expect_in out '"documents": 5' "stats --json after"
run "$KZ" --index "$T/ix" check --json
expect_status 0 "--index DIR check --json"
expect_in out '"ok": true' "check --json"
if "$JSON_VALID" <"$T/out" >/dev/null 2>&1; then pass "check --json is valid JSON"; else fail "check --json is not valid JSON" "$(output)"; fi
run "$KZ" --index "$T/ix" --json search Tokayev
expect_in out '"hits": [' "--index and --json before search"
run "$KZ" --index "$T/ix" -n 1 --count Tokayev
expect_status 0 "--index DIR then search options"
run "$KZ" --index "$T/ix" -- stats
expect_status 1 "-- makes a command's name a query"
run "$KZ" --json --index "$T/ix" optimize
expect_status 2 "--json with a command that has no JSON"
expect_in err "--json goes with" "--json with a command that has no JSON"
run "$KZ" --index "$T/ix" stats extra
expect_status 2 "stats with an argument"
expect_in err "Try 'kzsearch stats --help'" "a usage error names the command's help"
run "$KZ" --index "$T/ix" analyze Russians
expect_status 0 "analyze --index: the index's language"

# ---------------------------------------------------------------- near words

run "$KZ" --index "$T/ix" -n 1 tokayv
expect_status 1 "a misspelled name finds nothing"
expect_in out "Did you mean: tokayev" "did you mean"
run "$KZ" --index "$T/ix" --json -n 1 tokayv
expect_in out '"suggestion": "tokayev"' "did you mean in JSON"
run "$KZ" --index "$T/ix" --json -n 1 tokayev
expect_in out '"suggestion": null' "no suggestion when every word is known"
run "$KZ" --index "$T/ix" -n 1 'tokayv~'
expect_status 0 "word~ finds the name"
expect_in err "tokayv~ matches" "word~: the note names the terms"

printf '# names\nAstana, Nur-Sultan, Akmola\nKazakhstan, Qazaqstan\n' >"$T/syn.txt"
run "$KZ" --index "$T/ix" --synonyms "$T/syn.txt" -n 1 qazaqstan
expect_status 0 "--synonyms: a synonym finds the name"
expect_in err "also searched: qazaqstan (Kazakhstan)" "--synonyms: the note"
printf 'Astana, Akmola\nKazakhstan\n' >"$T/bad-syn.txt"
run "$KZ" --index "$T/ix" --synonyms "$T/bad-syn.txt" qazaqstan
expect_status 2 "--synonyms: a bad file"
expect_in err "bad-syn.txt:2: a group needs two or more entries" "--synonyms: the line of the fault"

# ---------------------------------------------------------------- shards

run "$KZ" index -q --shard 0/2 -o "$T/sh0" "$SRC/data/articles"
expect_status 0 "index --shard 0/2"
run "$KZ" index --shard 1/2 -o "$T/sh1" "$SRC/data/articles"
expect_status 0 "index --shard 1/2"
expect_in err "of the other shards left out" "index --shard: the summary says what was left to others"
run "$KZ" index --shard 2/2 -o "$T/sh2" "$SRC/data/articles"
expect_status 2 "--shard 2/2 is out of range"
run "$KZ" shards create "$T/set" "$T/sh0" "$T/sh1"
expect_status 0 "shards create"
expect_in err "2 shards, 5 documents" "shards create: the set holds every document"
run "$KZ" shards create "$T/dup" "$T/ix" "$T/sh1" # every document of sh1 is in ix too
expect_status 2 "shards create: shards that share a document are refused"
expect_in err "is in two shards, $T/ix and $T/sh1" "shards create: the document and both shards named"
if [ -e "$T/dup" ]; then fail "a refused set leaves a folder" "$(ls -la "$T/dup")"; else pass "a refused set leaves nothing"; fi
"$KZ" --index "$T/ix" --json -n 10 kazakhstan | sed 's/"took_ms": [0-9.]*//' >"$T/one.json"
"$KZ" --index "$T/set" --json -n 10 kazakhstan | sed 's/"took_ms": [0-9.]*//' >"$T/set.json"
"$KZ" --index "$T/sh0" --index "$T/sh1" --json -n 10 kazakhstan | sed 's/"took_ms": [0-9.]*//' >"$T/two.json"
if [ "$(grep -o '"total": [0-9]*' "$T/one.json")" = "$(grep -o '"total": [0-9]*' "$T/set.json")" ] &&
   [ "$(grep -o '"score": [0-9.e+-]*' "$T/one.json" | sort)" = "$(grep -o '"score": [0-9.e+-]*' "$T/set.json" | sort)" ]; then
    pass "a shard set answers as one index: totals and scores"
else
    fail "a shard set answers otherwise" "$(head -c 600 "$T/set.json")"
fi
if cmp -s "$T/set.json" "$T/two.json"; then
    pass "--index twice answers as the shard set"
else
    fail "--index twice answers otherwise" "$(head -c 600 "$T/two.json")"
fi
run "$KZ" --index "$T/sh0" --index "$T/sh0" kazakhstan
expect_status 2 "--index twice with one folder"
expect_in err "named twice" "--index twice with one folder: why"
run "$KZ" add -q --index "$T/set" "$SRC/data/articles"
expect_status 2 "a shard set is not changed itself"
expect_in err "is a shard set" "a shard set is not changed itself: why"
printf '{"id":"late","text":"kazakhstan late news"}\n' >"$T/late.jsonl"
run "$KZ" add -q --shard 0/2 --index "$T/sh0" "$T/late.jsonl" # one of the two takes it
run "$KZ" add -q --shard 1/2 --index "$T/sh1" "$T/late.jsonl"
run "$KZ" --index "$T/set" kazakhstan
expect_status 2 "a set whose shard changed is refused"
expect_in err "make the set again" "a stale set: what to do"
run "$KZ" shards create "$T/set" "$T/sh0" "$T/sh1"
run "$KZ" --index "$T/set" -n 0 kazakhstan
expect_status 0 "the set made again serves"

# kill_shard_build DIR: kills 'kzsearch index --shard 0/2 -o DIR' while it
# reads its input (mid-build: the input is still open).
kill_shard_build() {
    rm -f "$T/fifo" && mkfifo "$T/fifo"
    "$KZ" index -q --replace --shard 0/2 -o "$1" - <"$T/fifo" >/dev/null 2>&1 &
    pid=$!
    exec 9>"$T/fifo"
    awk 'BEGIN { for (i = 0; i < 20000; i++) printf "{\"id\":\"k%d\",\"text\":\"killed build %d\"}\n", i, i }' >&9
    sleep 0.5
    kill -9 $pid
    wait $pid 2>/dev/null
    exec 9>&-
}
kill_shard_build "$T/killed"
run "$KZ" shards create "$T/set-killed" "$T/killed" "$T/sh1"
expect_status 2 "a shard build killed mid-way leaves no shard"
expect_in err "$T/killed" "a shard build killed mid-way: the set names it"
kill_shard_build "$T/sh0"
run "$KZ" --index "$T/set" -n 0 kazakhstan
expect_status 0 "a rebuild of a shard killed mid-way leaves the old shard and its set serving"
run "$KZ" check --index "$T/sh0"
expect_status 0 "a rebuild of a shard killed mid-way: the old shard checks"

# ---------------------------------------------------------------- stdin

printf '{"id":"1","title":"t","text":"hello world"}\n' | "$KZ" index -q -o "$T/ix2" - >"$T/out" 2>"$T/err"
status=$?
expect_status 0 "index JSON Lines from stdin"
run "$KZ" stats --index "$T/ix2"
expect_status 0 "stats of the stdin index"
expect_in out "documents   1" "stats of the stdin index"

# ---------------------------------------------------------------- search

# First use with no index anywhere: the bundled articles, with a note.
run "$KZ" "ethnic Russians"
expect_status 0 "search with no index: the bundled sample"
expect_in err "indexing the bundled sample articles" "search with no index"
expect_in out "in the bundled sample articles" "search with no index"
if grep -A1 '^1\. ' "$T/out" | grep -q "kazakhstan-would-have-been-next.txt"; then
    pass "\"ethnic Russians\": the article that uses the phrase most comes first"
else
    fail "\"ethnic Russians\": wrong first hit" "$(output)"
fi
run "$KZ" "ethnic Russians"
expect_status 0 "second search of the sample"
if [ -s "$T/err" ]; then
    fail "second search of the sample: indexed again" "$(output)"
else
    pass "second search of the sample: no re-indexing"
fi
# A sample index this kzsearch cannot read is rebuilt: it is ours.
echo "not an index" >"$T/cache/kzsearch/sample/manifest"
run "$KZ" "ethnic Russians"
expect_status 0 "a damaged sample index"
expect_in err "re-indexing the bundled sample" "a damaged sample index"

run "$KZ" --index "$T/ix" --color=always '"ethnic Russians"'
expect_status 0 "a phrase"
expect_in out "$(printf '\033[1;31m')ethnic Russians$(printf '\033[0m')" "a phrase, highlighted whole"
run "$KZ" --index "$T/ix" --color=always '"ethnic Russians"' </dev/null
NO_COLOR=1 "$KZ" --index "$T/ix" '"ethnic Russians"' >"$T/out" 2>"$T/err"
if grep -q "$(printf '\033')" "$T/out"; then
    fail "NO_COLOR: escape codes in the output" "$(output)"
else
    pass "NO_COLOR and no terminal: no escape codes"
fi

run "$KZ" --index "$T/ix" zzzqqq
expect_status 1 "no hits"
expect_in out "0 hits" "no hits"

run "$KZ" --index "$T/ix" --all "ethnic zzzqqq"
expect_status 1 "--all: no fallback"
run "$KZ" --index "$T/ix" "ethnic zzzqqq"
expect_status 0 "a word no document has: OR fallback"
expect_in out "No document has all the words" "the fallback note"

run "$KZ" --index "$T/ix" --strict 'russia OR'
expect_status 2 "a syntax error"
expect_in err "column 8: OR needs a query after it" "a syntax error"
expect_in err "       ^" "a syntax error: the caret"
run "$KZ" --index "$T/ix" --strict '(russia'
expect_status 2 "an unclosed parenthesis"
expect_in err "column 1" "an unclosed parenthesis"
run "$KZ" --index "$T/ix" --strict '"cold war'
expect_status 2 "an unclosed quote"
run "$KZ" --index "$T/ix" 'russia OR'
expect_status 0 "a dangling OR without --strict: plain words"
expect_in err "column 8: OR needs a query after it" "a dangling OR: the note says where"
run "$KZ" --index "$T/ix" -- '-russia kazakhstan'
expect_status 1 "-- then a query that starts with -"

run "$KZ" --index "$T/ix" 'kaz*'
expect_status 0 "a prefix"
run "$KZ" --index "$T/ix" --json -n 3 --explain --fragments 2 '"ethnic Russians" kazakhstan'
expect_status 0 "--json"
if "$JSON_VALID" <"$T/out" 2>"$T/err"; then
    pass "--json: valid JSON"
else
    fail "--json: invalid JSON" "$(output)"
fi
expect_in out '"mode": "any", "fallback": false, "total": 5, "total_all_words": 2' "--json: AUTO, the AND hits first"
expect_in out '"rank": 2, "all_words": true' "--json: the last hit with every word"
expect_in out '"rank": 3, "all_words": false' "--json: the first with only some"
expect_in out '"highlights": [{"snippet": [' "--json highlights"
expect_in out '"unit": "\"ethnic russian\""' "--json explain of a phrase"
# --fragments 0: hits without passages, as the server's fragments=0.
run "$KZ" --index "$T/ix" --json -n 3 --fragments 0 kazakhstan
expect_status 0 "--fragments 0"
if grep -q '"hits": \[' "$T/out" && ! grep -q '"highlights"' "$T/out" && grep -q '"title_highlights"' "$T/out"; then
    pass "--fragments 0: hits without passages"
else
    fail "--fragments 0: hits without passages" "$(output)"
fi
run "$KZ" --index "$T/ix" --fragments 17 kazakhstan
expect_status 2 "--fragments 17"
run "$KZ" --index "$T/ix" -n 5 '"ethnic Russians" kazakhstan'
expect_in out '5 hits for ""ethnic Russians" kazakhstan", 2 with every word' "AUTO: how many have every word"
expect_in out '-- 3 more with only some of the words --' "AUTO: the boundary before the OR hits"
run "$KZ" --index "$T/ix" -n 5 --all --json '"ethnic Russians" kazakhstan'
expect_in out '"mode": "all", "fallback": false, "total": 2, "total_all_words": 2' "--all: the AND hits only"
run "$KZ" --index "$T/ix" -n 1 --offset 2 '"ethnic Russians" kazakhstan'
expect_in out '-- 3 more with only some of the words --' "AUTO: the boundary on a later page"
run "$KZ" --index "$T/ix" -n 1 '"ethnic Russians'
expect_status 0 "an unclosed quote: plain words"
expect_in err 'note: searched the words without operators: column 1: this quote is never closed' "an unclosed quote: the note"
expect_in out 'with every word' "an unclosed quote: the words are searched"
run "$KZ" --index "$T/ix" -n 1 '(ethnic Russians OR'
expect_status 0 "an unclosed parenthesis and a dangling OR: plain words"
run "$KZ" --index "$T/ix" --strict -n 1 '"ethnic Russians'
expect_status 2 "--strict: an unclosed quote is an error"
expect_in err 'syntax error at column 1: this quote is never closed' "--strict: the error"
run "$KZ" --index "$T/ix" -n 1 --since 2020 '"ethnic Russians'
expect_status 2 "beside --since a syntax error stays an error"
run "$KZ" --index "$T/ix" --json zzzqqq
expect_status 1 "--json with no hits"
"$JSON_VALID" <"$T/out" && pass "--json with no hits: valid JSON" || fail "--json with no hits: invalid JSON" "$(output)"

run "$KZ" --index "$T/ix" --explain -n 1 "ethnic Russians"
expect_in out "sum of w over 2 units" "--explain"

# Hostile queries: never a crash, never a hang.
words=$(i=0; while [ $i -lt 10000 ]; do printf 'w%d ' $i; i=$((i + 1)); done)
run "$KZ" --index "$T/ix" --any "$words russia"
expect_status 0 "a query of 10,000 words"
deep=$(i=0; while [ $i -lt 5000 ]; do printf '('; i=$((i + 1)); done)
run "$KZ" --index "$T/ix" --strict "${deep}russia"
expect_status 2 "5,000 nested parentheses: an error, not a crash"
run "$KZ" --index "$T/ix" "${deep}russia"
expect_status 0 "5,000 nested parentheses without --strict: the word"
run "$KZ" --index "$T/ix" "$(printf 'russia \377\376 \300\200')"
expect_status 0 "invalid UTF-8 in a query"
# A query that runs past --timeout stops with a clear error (exit 2); the
# clock is read every 1,024 candidates, so the index has more.
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "{\"id\":\"d%d\",\"text\":\"war and peace %d\"}\n", i, i }' \
    >"$T/many.jsonl"
run "$KZ" index -q -o "$T/ix-many" "$T/many.jsonl"
expect_status 0 "index of 5,000 documents"
run "$KZ" --index "$T/ix-many" --timeout 0.000000001 war peace
expect_status 2 "--timeout: a query past it"
expect_in err "time budget" "--timeout: a query past it"
expect_in err "--timeout" "--timeout: says how to give it longer"
run "$KZ" --index "$T/ix-many" --timeout 0 war peace
expect_status 0 "--timeout 0: no limit"
run "$KZ" --index "$T/ix-many" --timeout -1 war
expect_status 2 "--timeout -1: refused"
# --json echoed the query's raw bytes, which no JSON parser accepts.
run "$KZ" --index "$T/ix" --json "$(printf 'russia \377\376 \300\200 \355\240\200 caf\303\251 \342\202')"
expect_status 0 "--json, invalid UTF-8 in a query"
"$JSON_VALID" <"$T/out" && pass "--json, invalid UTF-8 in a query: valid JSON" ||
    fail "--json, invalid UTF-8 in a query: invalid JSON" "$(output)"
expect_in out '"query": "russia \ufffd\ufffd \ufffd\ufffd \ufffd\ufffd\ufffd café \ufffd\ufffd"' \
    "--json, invalid UTF-8 in a query: each bad byte is U+FFFD"
run "$KZ" --index "$T/ix" '!!! ??? --- ...'
expect_status 1 "nothing but punctuation"

# Batch runs.
printf '1\tethnic russians\n2\tzzzqqq\n3\tkazakhstan OR russia\n' >"$T/q.tsv"
run "$KZ" run --index "$T/ix" --queries "$T/q.tsv" --mode or -k 3 --output "$T/run" --latency "$T/lat"
expect_status 0 "run --mode or"
lines=$(wc -l <"$T/run" | tr -d ' ')
if [ "$lines" -eq 6 ]; then
    pass "run: 3 + 0 + 3 TREC lines"
else
    fail "run: $lines TREC lines, want 6" "$(cat "$T/run")"
fi
if awk 'NF != 6 || $2 != "Q0" || $4 !~ /^[0-9]+$/ || $6 != "kzsearch" { bad = 1 } END { exit bad }' "$T/run"; then
    pass "run: qid Q0 docid rank score tag"
else
    fail "run: malformed TREC lines" "$(cat "$T/run")"
fi
if [ "$(wc -l <"$T/lat" | tr -d ' ')" -eq 3 ] && awk -F'\t' 'NF != 2 || $2 !~ /^[0-9]+$/ { bad = 1 } END { exit bad }' "$T/lat"; then
    pass "run --latency: qid<TAB>microseconds per query"
else
    fail "run --latency" "$(cat "$T/lat")"
fi
run "$KZ" run --index "$T/ix" --queries "$T/does-not-exist.tsv"
expect_status 2 "run with a missing queries file"

# ---------------------------------------------------------------- fields

cat >"$T/news.jsonl" <<'EOF2'
{"id":"n1","title":"Grain deal","text":"Soviet grain imports rise.","date":"1987-03-02T10:00:00","source":"Interfax","topics":["grain","trade"]}
{"id":"n2","title":"Grain talks","text":"Soviet grain talks stall.","date":"1987-06-15","source":"TASS","topics":["grain"]}
{"id":"n3","title":"Oil","text":"Soviet oil output falls.","date":"1987-06-30T23:30:00-05:00","source":"interfax","topics":["oil"]}
{"id":"n4","title":"Steppe","text":"Grain harvest on the steppe.","source":"Radio Free Europe"}
EOF2
run "$KZ" index -q -o "$T/news" "$T/news.jsonl"
expect_status 0 "index news with fields"
run "$KZ" --index "$T/news" -l 'soviet source:interfax'
expect_status 0 "a keyword filter"
if [ "$(sort "$T/out" | tr '\n' ' ')" = "n1 n3 " ]; then pass "source:interfax finds n1 n3 (case folded)"; else fail "source:interfax" "$(output)"; fi
run "$KZ" --index "$T/news" --count 'grain -source:tass'
if [ "$(cat "$T/out")" = "2" ]; then pass "an excluded value"; else fail "-source:tass" "$(output)"; fi
run "$KZ" --index "$T/news" -l 'source:"Radio Free Europe"'
if [ "$(cat "$T/out")" = "n4" ]; then pass "a quoted value"; else fail "quoted value" "$(output)"; fi
run "$KZ" --index "$T/news" -l 'soviet date:1987-06'
if [ "$(cat "$T/out")" = "n2" ]; then pass "a month (a time with a zone counts by its UTC day: n3 is July 1)"; else fail "date:1987-06" "$(output)"; fi
run "$KZ" --index "$T/news" -l --since 1987-06-01 soviet
if [ "$(sort "$T/out" | tr '\n' ' ')" = "n2 n3 " ]; then pass "--since"; else fail "--since" "$(output)"; fi
run "$KZ" --index "$T/news" -n 0 --until 1987-03 soviet
if [ "$(cat "$T/out")" = "1" ]; then pass "-n 0 and --until"; else fail "--until" "$(output)"; fi
run "$KZ" --index "$T/news" -l 'topics:grain OR topics:oil' --any soviet
if [ "$(sort "$T/out" | tr '\n' ' ')" = "n1 n2 n3 " ]; then pass "OR of values"; else fail "topics OR" "$(output)"; fi
run "$KZ" --index "$T/news" --any -l 'soviet zzzqqq topics:oil'
if [ "$(cat "$T/out")" = "n3" ]; then pass "a filter stays required with --any"; else fail "--any filter" "$(output)"; fi
run "$KZ" --index "$T/news" -l --no-collapse 'source:inter* OR source:ta*'
if [ "$(sort "$T/out" | tr '\n' ' ')" = "n1 n2 n3 " ]; then pass "a value's prefix (source:inter*)"; else fail "source:inter*" "$(output)"; fi
run "$KZ" --index "$T/news" -l --no-collapse 'grain -source:radio*'
if [ "$(sort "$T/out" | tr '\n' ' ')" = "n1 n2 " ]; then pass "an excluded value's prefix"; else fail "-source:radio*" "$(output)"; fi
run "$KZ" --index "$T/news" -l 'source:zzz*'
expect_status 1 "a value's prefix that matches none"
run "$KZ" --index "$T/news" --sort -dat soviet
expect_status 2 "--sort by a field without dates"
expect_in err 'no document has dates or numbers in the field "dat"' "--sort by a field without dates: why"
run "$KZ" --index "$T/news" 'soviet date:1987-13'
expect_status 2 "a malformed date"
expect_in err "column 13" "a malformed date's column"
run "$KZ" --index "$T/news" 'soviet foo:bar'
expect_in err "\"foo:\" is not a field" "an unknown field is words, with a note"
run "$KZ" --index "$T/news" --since 1987-13 soviet
expect_status 2 "a bad --since"
run "$KZ" --index "$T/news" -n 1 'oil'
expect_in out "1987-06-30T23:30:00-05:00  interfax" "a hit shows its date and source"
run "$KZ" --index "$T/news" -n 1 --facet topics --facet date:month --facet source:1 grain
expect_in out "topics: grain (2), trade (1)" "facet counts over all matches"
expect_in out "date:month: 1987-03 (1), 1987-06 (1)" "a date facet by month"
expect_in out "source: interfax (1)" "a facet cut to its limit"
# Each value's count is that of the search narrowed to it (another path).
for v in grain trade; do
    run "$KZ" --index "$T/news" --count "grain topics:$v"
    want=$(cat "$T/out")
    run "$KZ" --index "$T/news" --count --facet topics grain
    if grep -q "$v ($want)" "$T/out"; then pass "facet $v = the filtered count $want"; else fail "facet $v" "$(output)"; fi
done
run "$KZ" --index "$T/news" --json -n 0 --facet topics grain
expect_in out '"facets": {"topics": [{"value": "grain", "docs": 2}' "facets in JSON"
run "$KZ" --index "$T/news" -l --sort -date soviet
if [ "$(tr '\n' ' ' <"$T/out")" = "n3 n2 n1 " ]; then pass "--sort -date: newest first (n3 is July 1 in UTC)"; else fail "--sort -date" "$(output)"; fi
run "$KZ" --index "$T/news" -l --sort date grain
if [ "$(tr '\n' ' ' <"$T/out")" = "n1 n2 n4 " ]; then pass "--sort date: oldest first, undated last"; else fail "--sort date" "$(output)"; fi
run "$KZ" --index "$T/news" -l --sort -date -n 1 --offset 1 soviet
if [ "$(cat "$T/out")" = "n2" ]; then pass "--sort with --offset"; else fail "--sort --offset" "$(output)"; fi
printf '1\tsoviet\n' >"$T/nq.tsv"
run "$KZ" run --index "$T/news" --queries "$T/nq.tsv" -k 2 --sort -date --since 1987-06 --output "$T/nrun"
expect_status 0 "run with --sort and --since"
if [ "$(awk '{print $3}' "$T/nrun" | tr '\n' ' ')" = "n3 n2 " ]; then pass "run: sorted and narrowed"; else fail "run --sort --since" "$(cat "$T/nrun")"; fi
run "$KZ" run --index "$T/news" --queries "$T/nq.tsv" --mode and --since 1987-06
expect_status 2 "run: --since needs the query language"
# Facets in batch mode: a JSON line a query, the counts a search gives.
printf '1\tsoviet\n2\tgrain\n' >"$T/fq.tsv"
run "$KZ" run --index "$T/news" --queries "$T/fq.tsv" -k 0 --facet topics --facet date:month --facets "$T/facets.jsonl"
expect_status 0 "run with --facet"
if [ ! -s "$T/out" ] && [ "$(wc -l <"$T/facets.jsonl")" -eq 2 ]; then pass "run -k 0: no hits, a facet line a query"; else fail "run -k 0 --facets" "$(output; cat "$T/facets.jsonl")"; fi
"$KZ" --index "$T/news" --json -n 0 --facet topics --facet date:month grain >"$T/fs.json"
python3 - "$T/facets.jsonl" "$T/fs.json" <<'PY' && pass "run's facets are the search's" || fail "run's facets differ from the search's" "$(cat "$T/facets.jsonl" "$T/fs.json")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
search = json.load(open(sys.argv[2]))
assert [l["qid"] for l in lines] == ["1", "2"], lines
assert lines[1]["facets"] == search["facets"], (lines[1], search["facets"])
assert lines[1]["total"] == search["total"], (lines[1], search)
PY
run "$KZ" run --index "$T/news" --queries "$T/fq.tsv" --facet topics
expect_status 2 "run: --facet needs --facets"
run "$KZ" --index "$T/news" --json -n 1 'steppe'
expect_in out '"source": "Radio Free Europe"' "json metadata"
run "$KZ" --index "$T/news" --json -n 1 'imports'
expect_in out '"topics": ["grain", "trade"]' "an array's values as a JSON array"

# ---------------------------------------------------------------- web pages

mkdir -p "$T/web"
printf '<html lang=ru><head><meta charset="windows-1251"><title>\315\356\342\356\361\362\350 \344\355\377 \350 \355\356\367\350 | Site</title><meta property=og:site_name content=Site></head><body><nav><a href=/>Home</a></nav><article><p>\317\360\350\342\345\362 &amp; hello from a page about Tokayev, long enough to be text.</p></article><script>var adblock=1;</script></body></html>' >"$T/web/ru.html"
run "$KZ" extract "$T/web/ru.html"
expect_status 0 "extract a page"
expect_in out "title: Новости дня и ночи" "extract: title without the site"
expect_in out "Привет & hello from a page" "extract: charset and entities"
expect_in out "site: Site" "extract: fields"
run "$KZ" extract --json "$T/web/ru.html"
expect_in out '"lang": "ru"' "extract --json"
printf 'binary\000data' >"$T/web/bin.html"
run "$KZ" extract "$T/web/bin.html"
expect_status 1 "extract: binary is skipped"
run "$KZ" index --index "$T/webix" "$T/web"
expect_status 1 "index pages, one binary"
run "$KZ" --index "$T/webix" Tokayev
expect_in out "Новости дня и ночи" "a page found by its text"
run "$KZ" --index "$T/webix" adblock
expect_status 1 "no hit inside a script"

# ---------------------------------------------------------------- summary

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
