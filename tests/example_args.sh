#!/usr/bin/env bash
# The examples given arguments they do not take: each must refuse them with
# its usage line on stderr and exit status 2, printing nothing on stdout,
# never run with a number misread from them (atoi("abc") is 0, "5x" is 5,
# strtoull("-1") is 2^64 - 1: a run that never ends, or an allocation whose
# size wraps) and never crash.
#
# An example given an output path it cannot write must say so, naming the
# path, and exit 2 before its work (nothing on stdout), not after it.
#
# usage: example_args.sh EXAMPLE...
# Prints TAP; exits 0 when every check passed.
set -u

tmp=$(mktemp -d "${TMPDIR:-/tmp}/parx-example-args-XXXXXX") || { echo "1..0 # SKIP no temporary directory"; exit 0; }
trap 'rm -rf "$tmp"' EXIT

# Arguments no example takes: not numbers, numbers with junk after them,
# negative or overflowing numbers, an empty one, and too many.
bad_args=('abc' '5x' '-1' '--help' '' '99999999999999999999' '1 1 1 1')

# Per example, argument lists it must refuse besides (one per line, split
# at spaces): options its usage line does not combine, a scale below its range.
extra_args() {
    case "$(basename "$1")" in
    12_monte_carlo_noise) printf '%s\n' '--auto-only --bench 0.01' '--reps 2 0.01' ;;
    13_param_sweep) printf '%s\n' '0.001' ;;
    11_mpi_sweep) printf '%s\n' '2 4294967297' '4294967298 1' '4 99999999999' '2001 1' \
        '--threads 5000 2 1' '--slice 4294967296/4294967297 2 1' '--slice 1/5 2 1' \
        '--slice 2/2 2 1' '--slice 1 2 1' ;;
    esac
}

# Per example, output paths it must refuse before its work (one per line:
# the path, then the arguments that give it).
out_args() {
    case "$(basename "$1")" in
    13_param_sweep) printf '%s\n' '/nonexistent-parx-dir --out /nonexistent-parx-dir 0.01' \
        '/etc/hostname --out /etc/hostname 0.01' ;;
    esac
}

total=0
for exe in "$@"; do
    total=$((total + ${#bad_args[@]} + $(extra_args "$exe" | grep -c .) + $(out_args "$exe" | grep -c .)))
done
echo "1..$total"
n=0 failed=0
# One case: run exe with the arguments after it, in $tmp; it must refuse them.
check() {
    local exe=$1
    shift
    n=$((n + 1))
    (cd "$tmp" && exec timeout 30 "$exe" "$@" </dev/null >"$tmp/out" 2>"$tmp/err")
    local rc=$?
    local name="$(basename "$exe") '$*'"
    if [ "$rc" -eq 2 ] && grep -q '^usage: ' "$tmp/err" && [ ! -s "$tmp/out" ]; then
        echo "ok $n - $name: usage, exit 2"
    else
        echo "not ok $n - $name: exit $rc, want 2 with a usage line and no output"
        sed -n '1,5s/^/# stdout: /p' "$tmp/out"
        sed -n '1,5s/^/# stderr: /p' "$tmp/err"
        failed=1
    fi
}
# One case: run exe with the arguments after the path, in $tmp; it must
# refuse the path at once.
check_out() {
    local exe=$1 path=$2
    shift 2
    n=$((n + 1))
    (cd "$tmp" && exec timeout 30 "$exe" "$@" </dev/null >"$tmp/out" 2>"$tmp/err")
    local rc=$?
    local name="$(basename "$exe") '$*'"
    if [ "$rc" -eq 2 ] && grep -qF -- "$path" "$tmp/err" && [ ! -s "$tmp/out" ]; then
        echo "ok $n - $name: refused before the work, exit 2"
    else
        echo "not ok $n - $name: exit $rc, want 2 with $path named on stderr and no output"
        sed -n '1,5s/^/# stdout: /p' "$tmp/out"
        sed -n '1,5s/^/# stderr: /p' "$tmp/err"
        failed=1
    fi
}
for exe in "$@"; do
    outs=()
    while IFS= read -r line; do outs+=("$line"); done < <(out_args "$exe")
    for a in "${outs[@]}"; do
        read -r -a args <<<"$a"
        check_out "$(readlink -f "$exe")" "${args[@]}"
    done
    extras=()
    while IFS= read -r line; do extras+=("$line"); done < <(extra_args "$exe")
    exe=$(readlink -f "$exe") # runs in $tmp, where any files it makes go
    for a in "${bad_args[@]}"; do
        # '1 1 1 1' is four arguments; every other entry is one
        if [ "$a" = '1 1 1 1' ]; then check "$exe" 1 1 1 1; else check "$exe" "$a"; fi
    done
    for a in "${extras[@]}"; do
        read -r -a args <<<"$a"
        check "$exe" "${args[@]}"
    done
done
exit $failed
