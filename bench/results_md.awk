# SPDX-License-Identifier: MIT
#
# bench/results_md.awk -- the figures that bench/plot_results charts, read
# back from the tables of a RESULTS.md (what bench/report.awk wrote) as RES
# lines, so that the charts of a committed report can be drawn again without
# running the benchmarks:
#
#   awk -f bench/results_md.awk bench/RESULTS.md >res.tsv
#   bench/build/plot_results res.tsv docs
#
# Only the "## Results" section is read (the older runs kept further down
# are not), and only the tables the charts use:
#   fib, sum          1- and 2-thread seconds           -> metric secs
#   spawn + wait      the four ns columns               -> latency, cases empty / after-sleep
#   process pool      start: create, + first job, all up (the best of "best / median")
#                     round trip: hot, after sleep mean -> procs, cases rssNm|rssNg, hot, sleep
# The tables give a parent's measured RSS, not the size bench/run asked for:
# a row under 1 GiB is taken as the rss=10 run (case rss10m, as bench/run
# runs it), one of 1 GiB or more as rss=N GiB (rss2g). A "-" is no figure.
# Plain POSIX awk (mawk and gawk both run it).

BEGIN { FS = "|"; OFS = "\t" }

# Sections: read inside "## Results" only.
/^## / { in_results = ($0 == "## Results"); table = ""; next }
!in_results { next }

# A table's kind comes from the heading above it and its header row.
/^### / {
    heading = $0; table = ""
    fibcase = ""; sumcase = ""
    if (match(heading, /^### fib\([0-9]+\)/)) fibcase = substr(heading, 9, RLENGTH - 9)
    if (match(heading, /^### Sum of [^ ]+ /)) { sumcase = substr(heading, 12); sub(/ .*/, "", sumcase) }
    next
}
/^\| impl \|/ {
    split("", col)  # forget the previous table's columns (portable "delete col")
    for (i = 2; i < NF; i++) col[trim($i)] = i
    if (fibcase != "" && ("1 thread (s)" in col)) table = "fib"
    else if (sumcase != "" && ("1 thread (s)" in col)) table = "sum"
    else if ("back to back, 1 thr" in col) table = "latency"
    else if ("all up (us)" in col) table = "start"
    else if ("hot (us)" in col) table = "roundtrip"
    else table = ""
    next
}
/^\|---/ { next }
/^\|/ && table != "" {
    impl = trim($2); var = trim($3)
    if (table == "fib" || table == "sum") {
        cas = table == "fib" ? fibcase : sumcase
        res(table, impl, var, cas, 1, "secs", cell("1 thread (s)"))
        res(table, impl, var, cas, 2, "secs", cell("2 threads (s)"))
    } else if (table == "latency") {
        res("latency", impl, var, "empty", 1, "ns", cell("back to back, 1 thr"))
        res("latency", impl, var, "empty", 2, "ns", cell("back to back, 2 thr"))
        res("latency", impl, var, "after-sleep", 1, "ns", cell("after 2 ms sleep, 1 thr"))
        res("latency", impl, var, "after-sleep", 2, "ns", cell("after 2 ms sleep, 2 thr"))
    } else if (table == "start") {
        w = cell("workers"); if (w == "") w = 1      # os fork(): one process
        rss = cell("parent RSS (MiB)")
        cas = (rss + 0 >= 1024) ? "rss" int(rss / 1024) "g" : "rss10m"
        res("procs", impl, var, cas, w, "create_us", cell("create (us)"))
        res("procs", impl, var, cas, w, "first_us", cell("+ first job (us)"))
        res("procs", impl, var, cas, w, "allup_us", cell("all up (us)"))
    } else if (table == "roundtrip") {
        w = cell("workers")
        res("procs", impl, var, "hot", w, "us", cell("hot (us)"))
        res("procs", impl, var, "sleep", w, "us", cell("after sleep, mean (us)"))
    }
    next
}
# Anything else (a paragraph) ends a table.
{ if ($0 != "") table = "" }

function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }

# The figure in the named column of the current row: the first number of
# the cell ("974 / 1035" -> 974, "1.00x" -> 1.00), or "" for "-" or none.
function cell(name,   s) {
    if (!(name in col)) return ""
    s = trim($(col[name]))
    if (!match(s, /^[0-9.eE+-]+/) || s == "-") return ""
    s = substr(s, 1, RLENGTH)
    return s
}

function res(b, impl, var, cas, t, metric, v) {
    if (v == "") return
    print "RES", b, impl, var, cas, t, metric, v
}
