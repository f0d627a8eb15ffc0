#!/usr/bin/env bash
# bench/plot_results, the charts of bench/run, end to end on real figures:
# the tables of the committed bench/RESULTS.md read back into RES lines by
# bench/results_md.awk, then charted. Checks the shape of what comes out,
# never the figures themselves (they change with every run of the bench):
# every chart with data is written, its bars / lines match the CSV beside it,
# every label is in the SVG; a partial input writes only the charts it has
# figures for; a missing input is an error (exit 2).
#
# usage: plot_results.sh PLOT_RESULTS RESULTS_MD_AWK RESULTS_MD
# Prints TAP; exits 0 when every check passed.
set -u

exe=$1 awkfile=$2 md=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/parx-plot-results-XXXXXX") || { echo "1..0 # SKIP no temporary directory"; exit 0; }
trap 'rm -rf "$tmp"' EXIT

n=0 failed=0
ok() { # ok CONDITION-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi
}
count() { grep -o -- "$1" "$2" | wc -l; } # occurrences of a string in a file

# An SVG chart is well formed enough: XML declaration first, </svg> last,
# exactly one root.
svg_shape() {
    head -c 19 "$1" | grep -q '^<?xml version="1.0"' &&
        [ "$(tail -n 1 "$1")" = "</svg>" ] &&
        [ "$(count '<svg ' "$1")" -eq 1 ] &&
        [ "$(count '<text' "$1")" -eq "$(count '</text>' "$1")" ]
}

echo "1..9"

awk -f "$awkfile" "$md" >"$tmp/res.tsv"
ok $(( $? != 0 || $(grep -c '^RES' "$tmp/res.tsv") == 0 )) "results_md.awk reads RES lines out of $(basename "$md")"

mkdir "$tmp/out"
"$exe" "$tmp/res.tsv" "$tmp/out" >"$tmp/log" 2>&1
ok $? "plot_results exits 0 on them"
sed 's/^/# /' "$tmp/log"

# The overhead chart: one bar per CSV row (the header aside), each label in it.
o=$tmp/out/overhead
bars=$( [ -f "$o.svg" ] && count 'class="bar"' "$o.svg" || echo 0)
rows=$( [ -f "$o.csv" ] && echo $(( $(wc -l <"$o.csv") - 1 )) || echo 0)
ok $(( rows == 0 || bars != rows )) "overhead.svg: one bar per row of overhead.csv ($bars bars, $rows rows)"
svg_shape "$o.svg" 2>/dev/null
ok $? "overhead.svg is a standalone SVG document"
missing=0
while IFS=, read -r label _; do
    grep -qF ">$label</text>" "$o.svg" || { echo "# label not in overhead.svg: $label"; missing=1; }
done < <(tail -n +2 "$o.csv" 2>/dev/null)
ok $missing "overhead.svg holds every label of overhead.csv"

# The speedup charts: one polyline per series (CSV columns but threads) plus
# the ideal line.
bad=0 seen=0
for s in "$tmp"/out/speedup_*.svg; do
    [ -f "$s" ] || continue
    seen=$((seen + 1))
    cols=$(head -n 1 "${s%.svg}.csv" | awk -F, '{ print NF }')
    lines=$(count '<polyline' "$s")
    [ "$lines" -eq "$cols" ] || { echo "# $s: $lines polylines for $cols CSV columns"; bad=1; }
    svg_shape "$s" || { echo "# $s: not a well-formed SVG"; bad=1; }
done
ok $(( bad != 0 || seen == 0 )) "speedup_*.svg: one polyline per series + the ideal line ($seen charts)"

# A partial run (the latency benchmark alone): the overhead chart only.
awk -F '\t' '$1 == "RES" && $2 == "latency"' "$tmp/res.tsv" >"$tmp/partial.tsv"
mkdir "$tmp/partial"
"$exe" "$tmp/partial.tsv" "$tmp/partial" >/dev/null 2>&1
ok $? "plot_results exits 0 on a partial input"
ls "$tmp/partial" | sed 's/^/# wrote: /'
[ -f "$tmp/partial/overhead.svg" ] && ! ls "$tmp"/partial/speedup_* >/dev/null 2>&1
ok $? "a partial input writes the charts it has figures for, and no others"

"$exe" "$tmp/no-such-file.tsv" "$tmp/partial" >/dev/null 2>&1
ok $(( $? != 2 )) "a missing input is an error (exit 2)"

exit $failed
