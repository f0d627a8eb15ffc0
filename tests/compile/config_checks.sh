#!/usr/bin/env bash
# Compile check: tunables that would break the implementation stop the build
# with an #error that names them and says how to fix the build, and their
# smallest sensible values still compile.
#
#   PARX_DEQUE_MIN_CAPACITY  a power of two, 1 or more. 0 passed the power-of-
#                            two test (0 & -1 == 0): a deque of capacity 0
#                            was written past its end by the first push, and
#                            a capacity hint made parx_deque_init loop forever.
#   PARX_OUTSIDE_SLOTS       0 or more.
#   PARX_CACHELINE           a power of two, 16 or more. Below 16 the deque's
#                            padding was an array of size 0 or less, and a
#                            value that is no power of two compiled where the
#                            process pool is left out, with task records
#                            aligned to nothing in particular; the compilers'
#                            own messages did not name the macro.
#   _FILE_OFFSET_BITS        64 on a 32-bit target, where off_t would
#                            otherwise have 32 bits and offsets past 2 GiB
#                            be cut (a write at 5 GiB landed at 1 GiB).
#
# usage: config_checks.sh SOURCE_ROOT CC [CC_ARGS...]
# Prints TAP; exits 0 when every check passes.
set -u

root=$1
shift
cc=("$@")

# Compile the implementation (as parx.c does) with the flags given.
compile() {
    printf '#define _GNU_SOURCE\n#define PARX_IMPLEMENTATION\n#include "parx.h"\n' |
        "${cc[@]}" -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I "$root" "$@" -x c - 2>&1
}

n=0
failed=0

# stops LABEL PATTERN [FLAGS...]: the build stops, and its error matches PATTERN.
stops() {
    n=$((n + 1))
    local out label=$1 pattern=$2
    shift 2
    if out=$(compile "$@"); then
        echo "not ok $n - $label compiled, but should stop with an #error"
        failed=1
    elif grep -qE "error.*$pattern" <<<"$out"; then
        echo "ok $n - $label stops the build with an error that names it"
    else
        echo "not ok $n - $label failed to build, but the message does not name it"
        failed=1
    fi
    sed 's/^/# /' <<<"$out"
}

# must_fail MACRO VALUE [FLAGS...]: the build stops, and the message names the macro.
must_fail() { stops "$1=$2${3:+ ${*:3}}" "$1" "-D$1=$2" "${@:3}"; }

# must_build MACRO VALUE [FLAGS...]: the control, so that failures above come from the value.
must_build() {
    n=$((n + 1))
    local out label="$1=$2${3:+ ${*:3}}"
    if out=$(compile "-D$1=$2" "${@:3}"); then
        echo "ok $n - $label compiles"
    else
        echo "not ok $n - $label does not compile"
        sed 's/^/# /' <<<"$out"
        failed=1
    fi
}

echo "1..14"
must_fail PARX_DEQUE_MIN_CAPACITY 0
must_fail PARX_DEQUE_MIN_CAPACITY 48
must_fail PARX_DEQUE_MIN_CAPACITY -64
must_build PARX_DEQUE_MIN_CAPACITY 1
must_build PARX_DEQUE_MIN_CAPACITY 64
must_fail PARX_OUTSIDE_SLOTS -1
must_build PARX_OUTSIDE_SLOTS 0
must_fail PARX_CACHELINE 8
must_fail PARX_CACHELINE 48
must_fail PARX_CACHELINE 48 -DPARX_NO_PROC
must_build PARX_CACHELINE 16
must_build PARX_CACHELINE 128
if printf 'int x[sizeof(void *) == 4 ? 1 : -1];\n' | "${cc[@]}" -fsyntax-only -x c - 2>/dev/null; then
    stops "32-bit, no _FILE_OFFSET_BITS" "_FILE_OFFSET_BITS=64" -U_FILE_OFFSET_BITS
    must_build _FILE_OFFSET_BITS 64
else
    echo "ok $((n + 1)) # SKIP a 64-bit target: off_t has 64 bits whatever _FILE_OFFSET_BITS says"
    echo "ok $((n + 2)) # SKIP a 64-bit target"
fi
exit "$failed"
