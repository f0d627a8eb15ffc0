#!/usr/bin/env bash
# README's first program, as printed there: it compiles with -Werror and
# prints the same bits on one worker as on every CPU (its comment's claim).
# The README is the first code most users copy; a change to the API that
# leaves it behind fails here.
#
# usage: readme_first.sh SOURCE_ROOT CC [CC_ARGS...]
# Prints TAP; exits 0 when every check passes.
set -u

root=$1
shift
cc=("$@")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

echo "1..3"
failed=0

# The block of C after the heading "## A first program".
awk '/^## A first program/ { found = 1 } found && /^```c/ { code = 1; next }
     code && /^```/ { exit } code' "$root/README.md" >"$dir/first.c"
libs=(-pthread)
case " ${cc[*]} " in *" -DPARX_NO_URING "*) ;; *) libs+=(-luring) ;; esac
if [ -s "$dir/first.c" ] &&
    out=$("${cc[@]}" -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -I "$root" \
        "$dir/first.c" -o "$dir/first" "${libs[@]}" 2>&1); then
    echo "ok 1 - README's first program compiles with -Werror"
else
    echo "not ok 1 - README's first program does not compile"
    printf '%s\n' "${out:-no block of C after '## A first program'}" | sed 's/^/# /'
    echo "not ok 2 - it prints H(1e8) # SKIP not built"
    echo "not ok 3 - the same bits on one worker # SKIP not built"
    exit 1
fi

all=$("$dir/first" 2>&1)
want='H(1e8) = 18.99789641385'
if [ "${all#"$want"}" != "$all" ]; then
    echo "ok 2 - it prints H(1e8): $all"
else
    echo "not ok 2 - it printed '$all', want a line starting '$want'"
    failed=1
fi

# One CPU, the first this process may use (a container's cpuset may leave
# out CPU 0): parx_pool_create(NULL) starts one worker.
cpu=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)
if ! command -v taskset >/dev/null || [ -z "$cpu" ]; then
    echo "ok 3 - the same bits on one worker # SKIP no taskset, or no CPU list in /proc"
elif [ "$(nproc)" -eq 1 ]; then
    echo "ok 3 - the same bits on one worker # SKIP one CPU here: nothing to compare"
elif one=$(taskset -c "$cpu" "$dir/first" 2>&1) && [ "$one" = "$all" ]; then
    echo "ok 3 - the same bits on one worker as on every CPU ($(nproc) here)"
else
    echo "not ok 3 - one worker (CPU $cpu) printed '$one', every CPU '$all'"
    failed=1
fi
exit $failed
