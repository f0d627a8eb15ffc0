#!/usr/bin/env bash
# Compile-time contract: the errors-and-logging block (>>common) is the same
# text in every parx header. Each header carries a copy so it can be copied
# alone, and whichever is included first defines the error codes and
# parx_strerror for all of them: a code added to one copy only would be
# missing, or nameless, depending on include order.
#
# usage: common_blocks.sh SOURCE_ROOT      Prints TAP; exits 0 when they match.
set -u
root=$1
headers=()
for h in "$root"/parx*.h; do
    grep -q PARX_COMMON_DECLARED "$h" && headers+=("$h") # parx_gpu_kernels.h has none
done

# extract FILE START_PATTERN END_PATTERN: the lines between, inclusive
extract() { sed -n "\\|$2|,\\|$3|p" "$1"; }

echo "1..2"
n=1
for part in "declarations|^/\* ===== Errors and logging (>>common)|^#endif /\* PARX_COMMON_DECLARED \*/" \
            "implementation|^#ifndef PARX__COMMON_IMPLEMENTED|^#endif /\* PARX__COMMON_IMPLEMENTED \*/"; do
    IFS='|' read -r what start end <<<"$part"
    ref=$(extract "${headers[0]}" "$start" "$end")
    ok=1
    if [ -z "$ref" ]; then
        echo "# ${headers[0]##*/}: no $what block found"
        ok=0
    fi
    for h in "${headers[@]:1}"; do
        if [ "$(extract "$h" "$start" "$end")" != "$ref" ]; then
            echo "# ${h##*/} differs from ${headers[0]##*/} in the $what block:"
            diff <(echo "$ref") <(extract "$h" "$start" "$end") | sed 's/^/#   /' | head -20
            ok=0
        fi
    done
    echo "$([ $ok = 1 ] && echo ok || echo "not ok") $n - the >>common $what block is the same in ${#headers[@]} headers"
    [ $ok = 1 ] || failed=1
    n=$((n + 1))
done
exit ${failed:-0}
