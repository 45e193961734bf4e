#!/bin/sh
# test_cli.sh: the kzsearch command, end to end.
#
# Usage: test_cli.sh KZSEARCH SOURCE_DIR
# Prints one line per assertion and, as its last line, "N passed, N failed";
# exits non-zero if anything failed.

KZ=$1
SRC=$2
if [ -z "$KZ" ] || [ -z "$SRC" ]; then
    echo "usage: $0 KZSEARCH SOURCE_DIR" >&2
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
if [ -f "$T/ix/index.kz" ]; then
    pass "index.kz written"
else
    fail "index.kz not written" "$(ls -la "$T/ix" 2>&1)"
fi

run "$KZ" stats --index "$T/ix"
expect_status 0 "stats"
expect_in out "documents   5" "stats"
expect_in out "language english" "stats"

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

# ---------------------------------------------------------------- damage

mkdir -p "$T/flip" "$T/trunc"
cp "$T/ix/index.kz" "$T/flip/index.kz"
size=$(wc -c <"$T/ix/index.kz" | tr -d ' ')
flip_byte "$T/flip/index.kz" $((size / 2))
if cmp -s "$T/ix/index.kz" "$T/flip/index.kz"; then
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

dd if="$T/ix/index.kz" of="$T/trunc/index.kz" bs=1 count=$((size / 2)) 2>/dev/null
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
if [ -e "$T/ix3/index.kz" ]; then
    fail "an unknown option to index: an index was written anyway"
else
    pass "an unknown option to index: nothing written"
fi
run "$KZ" stats --index
expect_status 2 "stats --index without its argument"

run "$KZ"
expect_status 2 "no command"

# ---------------------------------------------------------------- stdin

printf '{"id":"1","title":"t","text":"hello world"}\n' | "$KZ" index -q -o "$T/ix2" - >"$T/out" 2>"$T/err"
status=$?
expect_status 0 "index JSON Lines from stdin"
run "$KZ" stats --index "$T/ix2"
expect_status 0 "stats of the stdin index"
expect_in out "documents   1" "stats of the stdin index"

# ---------------------------------------------------------------- summary

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
