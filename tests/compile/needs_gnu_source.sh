#!/usr/bin/env bash
# Compile check: the implementation refuses to build without _GNU_SOURCE, and
# says so. It uses Linux interfaces that glibc hides unless _GNU_SOURCE is
# defined before the first system header, and a header must not define
# feature-test macros itself (it would change what the program's own
# includes declare), so the only honest answer is an #error that tells the
# user how to fix the build.
#
# usage: needs_gnu_source.sh SOURCE_ROOT CC [CC_ARGS...]
# Prints TAP; exits 0 when both checks pass. The header and its implementation
# macro come from PARX_HEADER and PARX_IMPL_MACRO in the environment (default:
# parx.h and PARX_IMPLEMENTATION).
set -u

root=$1
shift
cc=("$@")
header=${PARX_HEADER:-parx.h}
macro=${PARX_IMPL_MACRO:-PARX_IMPLEMENTATION}

# Compile a two-line implementation unit read from stdin, after the lines
# in $before (if any); $@ adds flags.
compile() {
    printf '%s#define %s\n#include "%s"\n' "${before:-}" "$macro" "$header" |
        "${cc[@]}" -std=c11 -fsyntax-only -I "$root" "$@" -x c - 2>&1
}

echo "1..3"

if out=$(compile); then
    echo "not ok 1 - the implementation without _GNU_SOURCE compiled, but should stop with #error"
    failed=1
elif grep -qE 'error.*_GNU_SOURCE' <<<"$out"; then
    echo "ok 1 - without _GNU_SOURCE the build stops with an error that names it"
else
    echo "not ok 1 - the build failed, but the message does not mention _GNU_SOURCE"
    failed=1
fi
sed 's/^/# /' <<<"$out"

# Control: the same unit with _GNU_SOURCE compiles, so the failure above came
# from the missing macro and nothing else.
if out=$(compile -D_GNU_SOURCE); then
    echo "ok 2 - with _GNU_SOURCE the same unit compiles"
else
    echo "not ok 2 - with _GNU_SOURCE the unit does not compile either"
    sed 's/^/# /' <<<"$out"
    failed=1
fi

# _GNU_SOURCE defined, but after a system header: glibc has already read the
# feature macros, so the build must stop with an #error that says so (it
# passed the check above, then failed with dozens of undeclared names).
if out=$(before=$'#include <stdio.h>\n#define _GNU_SOURCE\n' compile); then
    echo "not ok 3 - _GNU_SOURCE after <stdio.h> compiled, but should stop with #error"
    failed=1
elif grep -qE 'error.*_GNU_SOURCE came after a system header' <<<"$out"; then
    echo "ok 3 - _GNU_SOURCE after a system header: an error that says so"
else
    echo "not ok 3 - _GNU_SOURCE after <stdio.h>: no error that says it came too late"
    failed=1
fi
sed -n '1,5s/^/# /p' <<<"$out"

exit "${failed:-0}"
