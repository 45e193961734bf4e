#!/bin/sh
# test_install.sh: kzsearch installed, as a user gets it.
#
# Usage: test_install.sh CMAKE BUILD_DIR SOURCE_DIR
#
# Installs the build into a temporary prefix, moves the prefix elsewhere
# (so only what it holds, found relative to the binary, can serve), and
# from a fresh HOME and a working folder outside any tree: runs the first
# search, checks that the binary names neither the source nor the build
# folder, renders the man pages, loads the completions, and builds a small
# C program against the installed library through pkg-config, shared and
# static. Prints one line per assertion and "N passed, N failed" last.

CMAKE=$1
BUILD=$2
SRC=$3
if [ -z "$CMAKE" ] || [ -z "$BUILD" ] || [ -z "$SRC" ]; then
    echo "usage: $0 CMAKE BUILD_DIR SOURCE_DIR" >&2
    echo "0 passed, 1 failed"
    exit 2
fi
BUILD=$(cd "$BUILD" && pwd -P)
SRC=$(cd "$SRC" && pwd -P)

T=$(mktemp -d "${TMPDIR:-/tmp}/kz-install.XXXXXX") || { echo "0 passed, 1 failed"; exit 2; }
cleanup() { rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
    failed=$((failed + 1))
    echo "FAIL $1"
    if [ -n "$2" ]; then printf '%s\n' "$2" | sed 's/^/     | /'; fi
}
run() { "$@" >"$T/out" 2>"$T/err"; status=$?; }
output() { cat "$T/out" "$T/err"; }
expect_status() {
    if [ "$status" -eq "$1" ]; then pass "$2: exit status $1"; else fail "$2: exit status $status, want $1" "$(output)"; fi
}
expect_in() {
    if grep -F -q -- "$2" "$T/$1"; then pass "$3: $1 says \"$2\""; else fail "$3: $1 lacks \"$2\"" "$(output)"; fi
}

# ---------------------------------------------------------------- install, then move

run "$CMAKE" --install "$BUILD" --prefix "$T/staged"
expect_status 0 "cmake --install"
mv "$T/staged" "$T/prefix"
P=$T/prefix
for f in bin/kzsearch include/kzsearch.h share/man/man1/kzsearch.1 share/man/man5/kzsearch-format.5 \
    share/bash-completion/completions/kzsearch share/kzsearch/articles/kazakhstan-second-ukraine.txt \
    share/doc/kzsearch/FORMAT.md; do
    if [ -f "$P/$f" ]; then pass "installed $f"; else fail "not installed: $f"; fi
done
LIBDIR=$(dirname "$(find "$P" -name kzsearch.pc | head -1)")/..
LIBDIR=$(cd "$LIBDIR" && pwd)
for f in libkzsearch.a libkzsearch.so libkzsearch.so.0 pkgconfig/kzsearch.pc; do
    if [ -e "$LIBDIR/$f" ]; then pass "installed $(basename "$LIBDIR")/$f"; else fail "not installed: lib/$f"; fi
done
if [ -f "$P/share/zsh/site-functions/_kzsearch" ] || [ -f "$P/share/zsh/vendor-completions/_kzsearch" ]; then
    pass "installed the zsh completion"
else
    fail "no zsh completion installed"
fi

# ---------------------------------------------------------------- no tree in sight

# The code and data of the binary (its debug information aside, which
# names source files by design) name neither tree.
objcopy --strip-debug "$P/bin/kzsearch" "$T/stripped"
for d in "$SRC" "$BUILD"; do
    if strings "$T/stripped" | grep -F -q -- "$d"; then
        fail "the binary names $d" "$(strings "$T/stripped" | grep -F -- "$d" | head -5)"
    else
        pass "the binary does not name $d"
    fi
done

# A fresh HOME, no XDG folders, a working folder of its own.
mkdir -p "$T/home" "$T/cwd"
cd "$T/cwd" || exit 2
unset KZSEARCH_INDEX XDG_DATA_HOME XDG_CACHE_HOME XDG_CONFIG_HOME
HOME=$T/home
export HOME
KZ=$P/bin/kzsearch

run "$KZ" "ethnic Russians"
expect_status 0 "the first search"
expect_in out "kazakhstan-would-have-been-next.txt" "the first search"
expect_in out "in the bundled sample articles" "the first search"
expect_in err "indexing the bundled sample articles" "the first search"
run "$KZ" "ethnic Russians"
expect_status 0 "the second search"
if [ -s "$T/err" ]; then fail "the second search indexes again" "$(output)"; else pass "the second search uses the sample index"; fi
if [ -f "$T/home/.cache/kzsearch/sample/manifest" ]; then pass "the sample index is in ~/.cache"; else fail "no sample index in ~/.cache" "$(ls -R "$T/home")"; fi

run "$KZ" --version
expect_in out "kzsearch " "--version"
run "$KZ" index -q "$P/share/kzsearch/articles"
expect_status 0 "index into the default index"
if [ -f "$T/home/.local/share/kzsearch/index/manifest" ]; then pass "the default index is in ~/.local/share"; else fail "no default index" "$(ls -R "$T/home")"; fi
run "$KZ" --index "$T/home/.local/share/kzsearch/index" stats
expect_in out "documents   5" "stats of the default index"
run "$KZ" Tokayev
expect_status 0 "search the default index"
if grep -q "bundled sample" "$T/out"; then fail "a search with a default index still uses the sample" "$(output)"; else pass "a search uses the default index"; fi

# No sample articles beside the binary: a clear message, not a crash.
mkdir -p "$T/lonely/bin" "$T/home2"
cp "$KZ" "$T/lonely/bin/"
run env HOME="$T/home2" "$T/lonely/bin/kzsearch" "ethnic Russians"
expect_status 2 "a copied binary without its articles"
expect_in err "no bundled sample articles" "a copied binary without its articles"

# ---------------------------------------------------------------- man pages, completions

# man and groff are not part of every system: CI installs them (man-db,
# groff-base); elsewhere their absence is a skip, not a failure.
for m in man1/kzsearch.1 man5/kzsearch-format.5; do
    command -v groff >/dev/null 2>&1 || { echo "skip groff is not installed"; break; }
    warnings=$(groff -man -ww -z "$P/share/man/$m" 2>&1)
    if [ -z "$warnings" ]; then pass "$m: no groff warnings"; else fail "$m: groff warnings" "$warnings"; fi
done
if command -v man >/dev/null 2>&1 && command -v groff >/dev/null 2>&1; then
    run env MANWIDTH=80 man -l "$P/share/man/man1/kzsearch.1"
    expect_status 0 "man -l kzsearch.1"
    expect_in out "QUERY LANGUAGE" "man -l kzsearch.1"
    expect_in out "russia OR kazakhstan" "man -l kzsearch.1"
    run env MANWIDTH=80 man -M "$P/share/man" kzsearch
    expect_in out "kzsearch - index and search" "man -M PREFIX/share/man kzsearch"
    run env MANWIDTH=80 man -M "$P/share/man" 5 kzsearch-format
    expect_in out "FORMAT.md" "man 5 kzsearch-format"
else
    echo "skip man is not installed (apt-get install man-db groff-base)"
fi

run bash -c ". '$P/share/bash-completion/completions/kzsearch' && complete -p kzsearch &&
    COMP_WORDS=(kzsearch --index /tmp st); COMP_CWORD=3; _kzsearch; echo \"\${COMPREPLY[*]}\""
expect_status 0 "the bash completion loads"
expect_in out "stats" "bash completion of a command after --index DIR"
if command -v zsh >/dev/null 2>&1; then
    z=$(ls "$P"/share/zsh/*/_kzsearch)
    run zsh -n "$z"
    expect_status 0 "the zsh completion parses"
fi

# ---------------------------------------------------------------- the library, through pkg-config

# The prefix was moved after installing: --define-variable tells
# pkg-config where it is now, as for any relocated .pc file.
PKG_CONFIG_PATH=$LIBDIR/pkgconfig
export PKG_CONFIG_PATH
CC=${CC:-cc}
if grep -q "^prefix=$T/staged\$" "$LIBDIR/pkgconfig/kzsearch.pc"; then
    pass "kzsearch.pc names the prefix installed to"
else
    fail "kzsearch.pc names another prefix" "$(cat "$LIBDIR/pkgconfig/kzsearch.pc")"
fi
pkg_config() { pkg-config --define-variable=prefix="$P" "$@"; }
run pkg_config --cflags --libs kzsearch
expect_status 0 "pkg-config --cflags --libs kzsearch"
expect_in out "-lkzsearch" "pkg-config --libs"
run pkg_config --modversion kzsearch
expect_in out "0." "pkg-config --modversion"

# Shared: libkzsearch.so from the prefix.
# shellcheck disable=SC2046
run "$CC" -o "$T/example-shared" "$SRC/tests/install/example.c" $(pkg_config --cflags --libs kzsearch) \
    -Wl,-rpath,"$LIBDIR"
expect_status 0 "build a program against the shared library"
run "$T/example-shared" "$T/ix-shared" "$P/share/kzsearch/articles" "ethnic Russians"
expect_status 0 "the program, shared"
expect_in out "kazakhs-fear-new-imperial-target.txt" "the program, shared"
if ldd "$T/example-shared" | grep -F -q "$LIBDIR/libkzsearch.so.0"; then
    pass "the program loads the installed libkzsearch.so.0"
else
    fail "the program does not load the installed library" "$(ldd "$T/example-shared")"
fi

# Static: libkzsearch.a, and its dependencies from Libs.private and
# Requires.private.
static_libs=$(pkg_config --static --libs kzsearch | sed 's/-lkzsearch\b/-l:libkzsearch.a/')
# shellcheck disable=SC2046,SC2086
run "$CC" -o "$T/example-static" "$SRC/tests/install/example.c" $(pkg_config --cflags kzsearch) $static_libs
expect_status 0 "build a program against the static library"
run "$T/example-static" "$T/ix-static" "$P/share/kzsearch/articles" "ethnic Russians"
expect_status 0 "the program, static"
expect_in out "kazakhs-fear-new-imperial-target.txt" "the program, static"
if ldd "$T/example-static" | grep -q libkzsearch; then
    fail "the static program loads libkzsearch" "$(ldd "$T/example-static")"
else
    pass "the static program needs no libkzsearch.so"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
