#!/usr/bin/env bash
# The examples given arguments they do not take: each must refuse them with
# its usage line on stderr and exit status 2, printing nothing on stdout,
# never run with a number misread from them (atoi("abc") is 0, "5x" is 5,
# strtoull("-1") is 2^64 - 1: a run that never ends, or an allocation whose
# size wraps) and never crash.
#
# usage: example_args.sh EXAMPLE...
# Prints TAP; exits 0 when every check passed.
set -u

tmp=$(mktemp -d "${TMPDIR:-/tmp}/parx-example-args-XXXXXX") || { echo "1..0 # SKIP no temporary directory"; exit 0; }
trap 'rm -rf "$tmp"' EXIT

# Arguments no example takes: not numbers, numbers with junk after them,
# negative or overflowing numbers, an empty one, and too many.
bad_args=('abc' '5x' '-1' '--help' '' '99999999999999999999' '1 1 1 1')

echo "1..$(( $# * ${#bad_args[@]} ))"
n=0 failed=0
for exe in "$@"; do
    exe=$(readlink -f "$exe") # runs in $tmp, where any files it makes go
    for a in "${bad_args[@]}"; do
        n=$((n + 1))
        # '1 1 1 1' is four arguments; every other entry is one
        if [ "$a" = '1 1 1 1' ]; then args=(1 1 1 1); else args=("$a"); fi
        (cd "$tmp" && exec timeout 30 "$exe" "${args[@]}" </dev/null >"$tmp/out" 2>"$tmp/err")
        rc=$?
        name="$(basename "$exe") '${args[*]}'"
        if [ "$rc" -eq 2 ] && grep -q '^usage: ' "$tmp/err" && [ ! -s "$tmp/out" ]; then
            echo "ok $n - $name: usage, exit 2"
        else
            echo "not ok $n - $name: exit $rc, want 2 with a usage line and no output"
            sed -n '1,5s/^/# stdout: /p' "$tmp/out"
            sed -n '1,5s/^/# stderr: /p' "$tmp/err"
            failed=1
        fi
    done
done
exit $failed
