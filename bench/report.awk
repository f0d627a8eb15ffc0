# SPDX-License-Identifier: MIT
#
# bench/report.awk -- turn the RES lines of the benchmark programs into the
# markdown tables of bench/RESULTS.md and the evaluation of parx's targets.
# Plain POSIX awk (mawk and gawk both run it).
#
#   awk -f bench/report.awk results.tsv
#
# Input lines (tab-separated; anything else is ignored):
#   RES  bench  impl  variant  case  threads  metric  value
# Timings are the best of N repetitions as the programs report them.

BEGIN { FS = "\t" }

$1 == "RES" && NF >= 8 {
    b = $2; row = $3 SUBSEP $4
    if (!((b, row) in seen_row)) { seen_row[b, row] = 1; rows[b, ++nrows[b]] = row }
    if (!((b, $5) in seen_case)) { seen_case[b, $5] = 1; cases[b, ++ncases[b]] = $5 }
    V[b, $3, $4, $5, $6, $7] = $8
    # The process counts of each case, in order of appearance (shm tables).
    if (!((b, $5, $6) in seen_t)) { seen_t[b, $5, $6] = 1; tlist[b, $5, ++nt[b, $5]] = $6 }
}

# ---- helpers --------------------------------------------------------------

function get(b, impl, var, cas, t, m) {
    return ((b, impl, var, cas, t, m) in V) ? V[b, impl, var, cas, t, m] : ""
}
function impl_of(row,   p) { split(row, p, SUBSEP); return p[1] }
function var_of(row,   p) { split(row, p, SUBSEP); return p[2] }
function fmt(x, f) { return x == "" ? "-" : sprintf(f, x) }
function ratio(a, b, f) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf(f, a / b) }
function verdict(ok) { return ok ? "**met**" : "**not met**" }
# The fastest 2-thread time among the rows of bench b whose impl starts with
# `prefix` (e.g. "omp-"); sets BEST_ROW to the winner's "impl variant".
function best2(b, prefix, cas, metric,   i, r, x, best) {
    best = ""; BEST_ROW = ""
    for (i = 1; i <= nrows[b]; i++) {
        r = rows[b, i]
        if (index(impl_of(r), prefix) != 1) continue
        x = get(b, impl_of(r), var_of(r), cas, 2, metric)
        if (x != "" && (best == "" || x + 0 < best + 0)) { best = x; BEST_ROW = impl_of(r) " " var_of(r) }
    }
    return best
}

# ---- tables ----------------------------------------------------------------

function table_fib(   i, r, im, va, c, t1, t2, ns, tbb2) {
    if (!nrows["fib"]) return
    c = cases["fib", 1]
    tbb2 = get("fib", "tbb", "task_group", c, 2, "secs")
    print "### fib(" c "): one spawn per call, no cutoff"
    print ""
    print "Seconds (best of N); ns/spawn = 2-thread time / spawns (the fib(n+1)-1 calls with"
    print "n >= 2 spawn); speedup = 1-thread time / 2-thread time; CPUs = process CPU time /"
    print "wall time over all repetitions (how many CPUs the run really kept busy; idle"
    print "threads that spin count too). parx `spawn+wait`: main spawns the root and waits;"
    print "parx_wait lets main run the root itself when no worker has taken it yet, so main"
    print "may compute beside the workers (1 thread = up to 2 CPUs). parx `root-in-pool`: the"
    print "root is started with parx_for, which uses only the pool's threads."
    print ""
    print "| impl | variant | 1 thread (s) | 2 threads (s) | speedup | ns/spawn (2 thr) | time vs oneTBB (2 thr) | CPUs (1/2 thr) | N (1/2 thr) |"
    print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nrows["fib"]; i++) {
        r = rows["fib", i]; im = impl_of(r); va = var_of(r)
        t1 = get("fib", im, va, c, 1, "secs"); t2 = get("fib", im, va, c, 2, "secs")
        ns = get("fib", im, va, c, 2, "ns_per_spawn")
        if (im == "seq") ns = get("fib", im, va, c, 1, "ns_per_spawn")
        printf "| %s | %s | %s | %s | %s | %s | %s | %s/%s | %s/%s |\n", im, va, fmt(t1, "%.4f"),
            fmt(t2, "%.4f"), ratio(t1, t2, "%.2fx"), fmt(ns, "%.1f") (im == "seq" ? " (per call)" : ""),
            ratio(t2, tbb2, "%.3fx"),
            fmt(get("fib", im, va, c, 1, "cpus"), "%.2f"), fmt(get("fib", im, va, c, 2, "cpus"), "%.2f"),
            fmt(get("fib", im, va, c, 1, "reps"), "%d"), fmt(get("fib", im, va, c, 2, "reps"), "%d")
    }
    print ""
}

function table_uneven(   i, j, r, im, va, c, s, t2, line, hdr, sep, bad, one, n1) {
    if (!nrows["uneven"]) return
    print "### Uneven loop: efficiency = sequential time / (2 x 2-thread time)"
    print ""
    print "Per-iteration cost 1..100 units: ramp (linear in i), geom (100^(i/(N-1))),"
    print "random (uniform, fixed seed); ~" (seq_target == "" ? 0.25 : seq_target) " s of work sequentially for every case."
    print "`!` marks a result whose checksum differs from the sequential loop's."
    print ""
    hdr = "| impl | variant |"; sep = "|---|---|"
    for (j = 1; j <= ncases["uneven"]; j++) { hdr = hdr " " cases["uneven", j] " |"; sep = sep "---:|" }
    print hdr; print sep
    line = "| seq | loop (seconds) |"
    for (j = 1; j <= ncases["uneven"]; j++)
        line = line " " fmt(get("uneven", "seq", "loop", cases["uneven", j], 1, "secs"), "%.3f s") " |"
    print line
    for (i = 1; i <= nrows["uneven"]; i++) {
        r = rows["uneven", i]; im = impl_of(r); va = var_of(r)
        if (im == "seq") continue
        line = "| " im " | " va " |"
        for (j = 1; j <= ncases["uneven"]; j++) {
            c = cases["uneven", j]
            s = get("uneven", "seq", "loop", c, 1, "secs")
            t2 = get("uneven", im, va, c, 2, "secs")
            bad = (get("uneven", im, va, c, 2, "checksum") != "" && \
                   get("uneven", im, va, c, 2, "checksum") != get("uneven", "seq", "loop", c, 1, "checksum")) ? " !" : ""
            line = line " " ratio(s, 2 * t2, "%.3f") bad " |"
        }
        print line
    }
    print ""
    # 1-thread runs (only some cases are run at 1 thread): overhead over sequential.
    hdr = "| impl | variant |"; sep = "|---|---|"; n1 = 0
    for (j = 1; j <= ncases["uneven"]; j++) {
        c = cases["uneven", j]
        for (i = 1; i <= nrows["uneven"]; i++) {
            r = rows["uneven", i]
            if (impl_of(r) != "seq" && get("uneven", impl_of(r), var_of(r), c, 1, "secs") != "") {
                one[++n1] = c; hdr = hdr " " c " |"; sep = sep "---:|"; break
            }
        }
    }
    if (!n1) return
    print "1-thread time / sequential time (the runtime's own overhead; 1.00 = none):"
    print ""
    print hdr; print sep
    for (i = 1; i <= nrows["uneven"]; i++) {
        r = rows["uneven", i]; im = impl_of(r); va = var_of(r)
        if (im == "seq") continue
        line = "| " im " | " va " |"
        for (j = 1; j <= n1; j++)
            line = line " " ratio(get("uneven", im, va, one[j], 1, "secs"), \
                                  get("uneven", "seq", "loop", one[j], 1, "secs"), "%.3f") " |"
        print line
    }
    print ""
}

function table_sum(   i, r, im, va, c, t1, t2, b1, b2, same, omp2) {
    if (!nrows["sum"]) return
    c = cases["sum", 1]
    omp2 = best2("sum", "omp-", c, "secs")
    print "### Sum of " c " doubles a[i] = 1/(i+1)"
    print ""
    print "Seconds (best of N). `1 thr = 2 thr` compares the result's bits at 1 and 2 threads."
    print ""
    print "| impl | variant | 1 thread (s) | 2 threads (s) | speedup | vs best OpenMP (2 thr) | 1 thr = 2 thr | result (2 thr) |"
    print "|---|---|---:|---:|---:|---:|:---:|---|"
    for (i = 1; i <= nrows["sum"]; i++) {
        r = rows["sum", i]; im = impl_of(r); va = var_of(r)
        t1 = get("sum", im, va, c, 1, "secs"); t2 = get("sum", im, va, c, 2, "secs")
        b1 = get("sum", im, va, c, 1, "bits"); b2 = get("sum", im, va, c, 2, "bits")
        same = (b1 == "" || b2 == "") ? "-" : (b1 == b2 ? "yes" : "no")
        printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", im, va, fmt(t1, "%.4f"), fmt(t2, "%.4f"),
            ratio(t1, t2, "%.2fx"), ratio(t2, omp2, "%.3fx"), same,
            (im == "seq" ? get("sum", im, va, c, 1, "value") : get("sum", im, va, c, 2, "value"))
    }
    print ""
}

function table_latency(   i, r, im, va) {
    if (!nrows["latency"]) return
    print "### Spawn + wait of one empty task from outside the pool (mean ns per round trip)"
    print ""
    print "Back to back: many round trips in a row (threads stay awake). After 2 ms sleep:"
    print "each round trip follows a 2 ms pause of the caller, so idle threads may have gone"
    print "to sleep (the wake-up a program sees when work arrives now and then)."
    print "OpenMP cannot hand a task to a running team from outside it: `region+task` opens a"
    print "parallel region per task (what serial code must do); `task+taskwait` is the main"
    print "thread inside one long-lived region creating a task and waiting for it."
    print ""
    print "| impl | variant | back to back, 1 thr | back to back, 2 thr | after 2 ms sleep, 1 thr | after 2 ms sleep, 2 thr |"
    print "|---|---|---:|---:|---:|---:|"
    for (i = 1; i <= nrows["latency"]; i++) {
        r = rows["latency", i]; im = impl_of(r); va = var_of(r)
        printf "| %s | %s | %s | %s | %s | %s |\n", im, va,
            fmt(get("latency", im, va, "empty", 1, "ns"), "%.0f"),
            fmt(get("latency", im, va, "empty", 2, "ns"), "%.0f"),
            fmt(get("latency", im, va, "after-sleep", 1, "ns"), "%.0f"),
            fmt(get("latency", im, va, "after-sleep", 2, "ns"), "%.0f")
    }
    print ""
}

function table_idle(   i, r, im, va) {
    if (!nrows["idle"]) return
    print "### Idle CPU (percent of one core, process CPU time)"
    print ""
    print "Measured while main sleeps: over the first 0.1 s after the last work (settling),"
    print "then over the next 1.0 s (idle); with 2 threads, and with 64 (more threads than"
    print "CPUs, as a pool sized for blocking work would have)."
    print ""
    print "| impl | variant | 2 threads: first 0.1 s | the next 1.0 s | 64 threads: first 0.1 s | the next 1.0 s |"
    print "|---|---|---:|---:|---:|---:|"
    for (i = 1; i <= nrows["idle"]; i++) {
        r = rows["idle", i]; im = impl_of(r); va = var_of(r)
        printf "| %s | %s | %s | %s | %s | %s |\n", im, va,
            fmt(get("idle", im, va, "idle", 2, "settle_pct"), "%.2f %%"),
            fmt(get("idle", im, va, "idle", 2, "idle_pct"), "%.3f %%"),
            fmt(get("idle", im, va, "idle", 64, "settle_pct"), "%.2f %%"),
            fmt(get("idle", im, va, "idle", 64, "idle_pct"), "%.3f %%")
    }
    print ""
}

# The arena benchmarks (bench_shm, bench_shm.py). The `threads` field holds
# the number of processes. Cases: alloc<bytes>, create<size>, mem<size>.

# The first case of bench shm whose name starts with `prefix`, or "".
function shm_case(prefix,   j) {
    for (j = 1; j <= ncases["shm"]; j++)
        if (index(cases["shm", j], prefix) == 1) return cases["shm", j]
    return ""
}
# MiB in a case name's size: "mem1g" -> 1024, "mem64m" -> 64.
function case_mib(c,   n) {
    n = c; gsub(/[^0-9]/, "", n)
    return c ~ /g$/ ? n * 1024 : n + 0
}
# The same for people: "1 GiB", "64 MiB".
function case_size(c,   m) {
    m = case_mib(c)
    return m % 1024 == 0 ? (m / 1024) " GiB" : m " MiB"
}

function table_shm(   c, i, j, r, im, va, t, x, w, g, py, line, hdr, sep) {
    if (!nrows["shm"]) return
    print "### Shared-memory arenas"
    print ""
    c = shm_case("alloc")
    if (c != "") {
        g = get("shm", "glibc", "malloc+free", c, 1, "ns")
        print "Small blocks (" substr(c, 6) " bytes): rounds of 1000 allocations, one byte written into"
        print "each, then 1000 frees in the same order. ns = the time of one alloc + free pair in"
        print "each process while the others run (the slowest process's wall time / its pairs),"
        print "best of N; Mops/s = pairs per second of all processes together. The arena is"
        print "created by the parent and inherited by fork; glibc is malloc/free in each process."
        print "All of it is done S times from scratch (fresh arena, fresh processes): how the"
        print "processes' first allocations interleave can set the speed of all that follow, so"
        print "the best of the slowest start is shown too, with its ratio to glibc."
        print ""
        print "| impl | variant | processes | ns per alloc+free | median | slowest start | Mops/s (all) | vs glibc, 1 process | slowest start vs glibc | S x N |"
        print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for (i = 1; i <= nrows["shm"]; i++) {
            r = rows["shm", i]; im = impl_of(r); va = var_of(r)
            for (j = 1; j <= nt["shm", c]; j++) {
                t = tlist["shm", c, j]
                x = get("shm", im, va, c, t, "ns")
                if (x == "") continue
                w = get("shm", im, va, c, t, "ns_worst_start")
                printf "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s x %s |\n", im, va, t,
                    fmt(x, "%.1f"), fmt(get("shm", im, va, c, t, "ns_med"), "%.1f"), fmt(w, "%.1f"),
                    fmt(get("shm", im, va, c, t, "mops"), "%.1f"), ratio(x, g, "%.2fx"), ratio(w, g, "%.2fx"),
                    fmt(get("shm", im, va, c, t, "starts"), "%d"),
                    ratio(get("shm", im, va, c, t, "reps"), get("shm", im, va, c, t, "starts"), "%d")
            }
        }
        print ""
    }
    c = shm_case("create")
    if (c != "") {
        py = get("shm", "python", "shared_memory", c, 1, "total_us")
        print "Create + attach of a " case_size(c) " segment, in microseconds: create in one process,"
        print "attach in another (forked before timing starts); total = both, in the same"
        print "repetition; best of N after an untimed warm-up; first call = that warm-up (a cold"
        print "start). parx anonymous: parx_arena_create, then parx_arena_send / parx_arena_recv"
        print "over a UNIX socket (the descriptor's transfer counts as attach time); parx named:"
        print "parx_arena_create(.named) + parx_arena_open(name). Python 3: SharedMemory(create=True,"
        print "size) + SharedMemory(name), timed with time.perf_counter around the calls. Closing"
        print "and unlinking are not timed."
        print ""
        print "| impl | variant | create (us) | attach (us) | total (us) | total, median | first call (us) | Python's total / this |"
        print "|---|---|---:|---:|---:|---:|---:|---:|"
        for (i = 1; i <= nrows["shm"]; i++) {
            r = rows["shm", i]; im = impl_of(r); va = var_of(r)
            x = get("shm", im, va, c, 1, "total_us")
            if (x == "") continue
            printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", im, va,
                fmt(get("shm", im, va, c, 1, "create_us"), "%.1f"),
                fmt(get("shm", im, va, c, 1, "attach_us"), "%.1f"), fmt(x, "%.1f"),
                fmt(get("shm", im, va, c, 1, "total_us_med"), "%.1f"),
                fmt(get("shm", im, va, c, 1, "first_us"), "%.0f"), ratio(py, x, "%.2fx")
        }
        print ""
    }
    c = shm_case("mem")
    if (c != "") {
        print "Memory to read the same " case_size(c) " from k processes, in MiB: Pss (and Rss) summed over"
        print "the k children and the parent, from /proc/<pid>/smaps_rollup, read while every child"
        print "has read all of its data and waits. parx arena: the parent fills a block of an"
        print "arena, the children read every word of it in place. private: each child mallocs its"
        print "own copy and copies the data in; the original is freed everywhere before measuring."
        print "A page mapped by n processes counts 1/n in each one's Pss, fully in each one's Rss."
        print ""
        hdr = "| impl | variant |"; sep = "|---|---|"
        for (j = 1; j <= nt["shm", c]; j++) { hdr = hdr " Pss, k = " tlist["shm", c, j] " |"; sep = sep "---:|" }
        for (j = 1; j <= nt["shm", c]; j++) { hdr = hdr " Rss, k = " tlist["shm", c, j] " |"; sep = sep "---:|" }
        print hdr; print sep
        for (i = 1; i <= nrows["shm"]; i++) {
            r = rows["shm", i]; im = impl_of(r); va = var_of(r)
            if (get("shm", im, va, c, tlist["shm", c, 1], "pss_mib") == "") continue
            line = "| " im " | " va " |"
            for (j = 1; j <= nt["shm", c]; j++)
                line = line " " fmt(get("shm", im, va, c, tlist["shm", c, j], "pss_mib"), "%.0f") " |"
            for (j = 1; j <= nt["shm", c]; j++)
                line = line " " fmt(get("shm", im, va, c, tlist["shm", c, j], "rss_mib"), "%.0f") " |"
            print line
        }
        print ""
    }
}

function targets_shm(   c, p2, g, py, x, j, va, mb, pss, cp) {
    c = shm_case("alloc")
    if (c != "") {
        g = get("shm", "glibc", "malloc+free", c, 1, "ns")
        p2 = get("shm", "parx", "alloc+free", c, 2, "ns")
        target("small allocation + free from 2 processes at once: at most 2x the time of glibc malloc+free in one process (per op) [best start]",
               (p2 == "" || g == "") ? "-" : sprintf("%.1f ns vs %.1f ns = %.2fx", p2, g, p2 / g),
               (p2 == "" || g == "") ? "" : (p2 / g <= 2))
        p2 = get("shm", "parx", "alloc+free", c, 2, "ns_worst_start")
        target("the same, at every start [slowest of " get("shm", "parx", "alloc+free", c, 2, "starts") " starts]",
               (p2 == "" || g == "") ? "-" : sprintf("%.1f ns vs %.1f ns = %.2fx", p2, g, p2 / g),
               (p2 == "" || g == "") ? "" : (p2 / g <= 2))
    }
    c = shm_case("create")
    if (c != "") {
        py = get("shm", "python", "shared_memory", c, 1, "total_us")
        for (j = 1; j <= nrows["shm"]; j++) {
            if (impl_of(rows["shm", j]) != "parx") continue
            va = var_of(rows["shm", j])
            x = get("shm", "parx", va, c, 1, "total_us")
            if (x == "") continue
            target("creating and attaching an arena [" va "]: at least 10x faster than Python's shared_memory create+attach (" case_size(c) ")",
                   py == "" ? "-" : sprintf("parx %.1f us, Python %.1f us: Python / parx = %.2fx", x, py, py / x),
                   py == "" ? "" : (py / x >= 10))
        }
    }
    c = shm_case("mem")
    if (c != "") {
        mb = case_mib(c)
        pss = get("shm", "parx", "arena", c, 8, "pss_mib")
        cp = get("shm", "private", "malloc+memcpy", c, 8, "pss_mib")
        target("sharing " case_size(c) " among 8 processes: at most 1.05x its size in Pss in total (one copy), against 8x for copies",
               pss == "" ? "-" : sprintf("8 children + the parent: %.0f MiB = %.3fx; copies: %s", pss,
                                         pss / mb, cp == "" ? "-" : sprintf("%.0f MiB = %.2fx", cp, cp / mb)),
               pss == "" ? "" : (pss / mb <= 1.05))
    }
}

# ---- process pool (bench "procs") --------------------------------------------

# "a/b": the best and the median of a metric (metric and metric_med).
function bm(b, im, va, c, t, m, f,   x, y) {
    x = get(b, im, va, c, t, m); y = get(b, im, va, c, t, m "_med")
    if (x == "") return "-"
    return sprintf(f, x) " / " fmt(y, f)
}
function procs_has(prefix,   j) {
    for (j = 1; j <= ncases["procs"]; j++)
        if (index(cases["procs", j], prefix) == 1) return 1
    return 0
}
# The smallest value of metric m over the rows of impls starting with `prefix`
# whose variant is `va` (any variant when va is ""); PBEST_ROW names the row.
function procs_best(prefix, va, c, t, m,   i, r, x, best) {
    best = ""; PBEST_ROW = ""
    for (i = 1; i <= nrows["procs"]; i++) {
        r = rows["procs", i]
        if (index(impl_of(r), prefix) != 1 || (va != "" && var_of(r) != va)) continue
        x = get("procs", impl_of(r), var_of(r), c, t, m)
        if (x != "" && (best == "" || x + 0 < best + 0)) { best = x; PBEST_ROW = impl_of(r) " " var_of(r) }
    }
    return best
}

function table_procs(   i, j, k, r, im, va, c, t, x) {
    if (!nrows["procs"]) return
    print "### Process pool: parx_procs against Python's ProcessPoolExecutor (py-ppe) and multiprocessing.Pool (py-pool)"
    print ""
    if (procs_has("rss")) {
        print "Pool start, in microseconds, best / median of N fresh pools (after one untimed"
        print "warm-up, shown as cold). create = the constructor returning (parx_procs_create"
        print "waits until every worker is ready; Python's constructors return before their"
        print "workers run, ProcessPoolExecutor even starts them only as tasks come); + first"
        print "job = create, then one trivial job submitted and its result back; all up = that,"
        print "then one job per worker at once, each waiting until all of them run (an atomic"
        print "counter in the arena for parx, a multiprocessing Barrier given through the"
        print "initializer for Python): every worker is up and taking jobs. All counted from"
        print "before the constructor; destroy/shutdown not timed. RSS = the parent's VmRSS"
        print "when the pools are made (memory allocated and written first: fork copies it;"
        print "an idle python3 with these modules already holds ~20 MiB). os fork(): one bare"
        print "fork() of the C program at that size until the child runs, the floor under fork"
        print "mode, which forks the caller (its fork server), then the server once per worker."
        print ""
        print "| impl | start | workers | parent RSS (MiB) | create (us) | + first job (us) | all up (us) | cold: all up (us) | N |"
        print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
        for (j = 1; j <= ncases["procs"]; j++) {
            c = cases["procs", j]
            if (index(c, "rss") != 1) continue
            for (i = 1; i <= nrows["procs"]; i++) {
                r = rows["procs", i]; im = impl_of(r); va = var_of(r)
                for (k = 1; k <= nt["procs", c]; k++) {
                    t = tlist["procs", c, k]
                    if (get("procs", im, va, c, t, "create_us") == "") continue
                    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", im, va, im == "os" ? "-" : t,
                        fmt(get("procs", im, va, c, t, "rss_mib"), "%.0f"),
                        bm("procs", im, va, c, t, "create_us", "%.0f"),
                        bm("procs", im, va, c, t, "first_us", "%.0f"),
                        bm("procs", im, va, c, t, "allup_us", "%.0f"),
                        fmt(get("procs", im, va, c, t, "cold_us"), "%.0f"),
                        fmt(get("procs", im, va, c, t, "reps"), "%d")
                }
            }
        }
        print ""
    }
    if (procs_has("hot") || procs_has("sleep")) {
        print "Job round trip: submit one empty job and wait for its result, one at a time, in"
        print "microseconds. hot: back to back (the next job right after the previous result;"
        print "workers and caller busy-polling), mean per job of a repetition, best / median of"
        print "N. after sleep: the caller sleeps " fmt(get_any("procs", "sleep", "gap_us"), "%.0f") " us before each job, so idle workers"
        print "have gone to sleep (parx: spin_ns 50 us by default); mean, then p50 and p99 over"
        print "every job of every repetition. parx: parx_procs_submit + parx_procs_wait; Python:"
        print "submit(f).result() / apply_async(f).get()."
        print ""
        print "| impl | start | workers | hot (us) | after sleep, mean (us) | after sleep, p50 | after sleep, p99 | jobs x N (hot / sleep) |"
        print "|---|---|---:|---:|---:|---:|---:|---:|"
        for (i = 1; i <= nrows["procs"]; i++) {
            r = rows["procs", i]; im = impl_of(r); va = var_of(r)
            for (k = 1; k <= 8; k++) {
                if (get("procs", im, va, "hot", k, "us") == "" && get("procs", im, va, "sleep", k, "us") == "") continue
                printf "| %s | %s | %d | %s | %s | %s | %s | %s x %s / %s x %s |\n", im, va, k,
                    bm("procs", im, va, "hot", k, "us", "%.2f"), bm("procs", im, va, "sleep", k, "us", "%.1f"),
                    fmt(get("procs", im, va, "sleep", k, "us_p50"), "%.1f"),
                    fmt(get("procs", im, va, "sleep", k, "us_p99"), "%.1f"),
                    fmt(get("procs", im, va, "hot", k, "iters"), "%d"), fmt(get("procs", im, va, "hot", k, "reps"), "%d"),
                    fmt(get("procs", im, va, "sleep", k, "iters"), "%d"), fmt(get("procs", im, va, "sleep", k, "reps"), "%d")
            }
        }
        print ""
    }
    if (procs_has("map")) {
        print "Map of tiny jobs (parx: each adds 1 to its own int in the arena; Python: x + 1 over"
        print "range(n)); results checked. Jobs per second from the best repetition (and the"
        print "median). parx_procs_map queues one job per item; Python's maps send chunks of"
        print "`chunksize` items per task (the Pool default ceil(n / (4 x workers)) for both"
        print "executors, and 1)."
        print ""
        print "| impl | start | workers | jobs | chunksize | seconds (best / median) | jobs/s (best) | jobs/s (median) | N |"
        print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
        for (j = 1; j <= ncases["procs"]; j++) {
            c = cases["procs", j]
            if (index(c, "map") != 1) continue
            for (i = 1; i <= nrows["procs"]; i++) {
                r = rows["procs", i]; im = impl_of(r); va = var_of(r)
                for (k = 1; k <= nt["procs", c]; k++) {
                    t = tlist["procs", c, k]
                    x = get("procs", im, va, c, t, "jobs_per_s")
                    if (x == "") continue
                    printf "| %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", im, va, t, substr(c, 4),
                        im == "parx" ? "(1 job per item)" : fmt(get("procs", im, va, c, t, "chunksize"), "%d"),
                        bm("procs", im, va, c, t, "secs", "%.4f"), fmt(x, "%.0f"),
                        fmt(get("procs", im, va, c, t, "jobs_per_s_med"), "%.0f"),
                        fmt(get("procs", im, va, c, t, "reps"), "%d")
                }
            }
        }
        print ""
    }
    if (procs_has("arg")) {
        print "Passing a large argument to one worker whose job reads its first byte (parx: and"
        print "writes its last), in microseconds, best / median. parx: the argument is already"
        print "in the pool's arena; hand-off = submit + wait, mean of " fmt(get_any("procs", "arg", "iters"), "%d") " in a row; first = the"
        print "first hand-off of a freshly filled block (the worker maps its pages then; an"
        print "untimed empty job just before it, so the worker is awake for every size). copy"
        print "= memcpy of the data from private memory into the arena (fresh pages: faults"
        print "included; warm: pages already there), what putting it there costs once. Python"
        print "pickle: the bytes as the task's argument; Python shm: the data already in a"
        print "multiprocessing.shared_memory segment, the task attaches by name, reads, closes;"
        print "its copy = creating the segment and copying the data in."
        print ""
        print "| impl | variant | size | hand-off (us) | first hand-off (us) | copy in, fresh pages (ms) | copy in, warm pages (ms) |"
        print "|---|---|---:|---:|---:|---:|---:|"
        for (i = 1; i <= nrows["procs"]; i++) {
            r = rows["procs", i]; im = impl_of(r); va = var_of(r)
            for (j = 1; j <= ncases["procs"]; j++) {
                c = cases["procs", j]
                if (index(c, "arg") != 1 || get("procs", im, va, c, 1, "us") == "") continue
                printf "| %s | %s | %s MiB | %s | %s | %s | %s |\n", im, va, substr(c, 4, length(c) - 4),
                    bm("procs", im, va, c, 1, "us", "%.2f"), bm("procs", im, va, c, 1, "first_us", "%.1f"),
                    im == "parx" ? bm("procs", im, va, c, 1, "copy_first_ms", "%.2f") : bm("procs", im, va, c, 1, "copy_ms", "%.2f"),
                    im == "parx" ? bm("procs", im, va, c, 1, "copy_ms", "%.2f") : "-"
            }
        }
        print ""
    }
    if (procs_has("crash")) {
        print "A crashed worker (parx, retries = 1), in microseconds, best / median of N: a normal"
        print "job (submit to result), then a job that raise(SIGKILL)s its worker on its first"
        print "attempt and returns 0 on the second; extra = crashed job - normal job of the same"
        print "repetition: the death detected (fork server: SIGCHLD; caller's monitor thread:"
        print "its message), the job requeued, a worker started again, the job run again. With"
        print "2 workers the surviving worker may take the retry before the replacement is up."
        print "Checked: attempts 2, signal 9, status 0. Parent RSS: where shown, the parent was"
        print "made that large first (fork mode's server, which starts every worker, is a copy"
        print "of it); elsewhere ~10 MiB. (Python's executors do not retry: ProcessPoolExecutor"
        print "marks itself broken, multiprocessing.Pool never returns the task's result.)"
        print ""
        print "| impl | start | workers | parent RSS (MiB) | normal job (us) | crashed job (us) | extra (us) | workers crashed | N |"
        print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
        for (i = 1; i <= nrows["procs"]; i++) {
            r = rows["procs", i]; im = impl_of(r); va = var_of(r)
            for (j = 1; j <= ncases["procs"]; j++) {
                c = cases["procs", j]
                if (index(c, "crash") != 1) continue
                for (k = 1; k <= nt["procs", c]; k++) {
                    t = tlist["procs", c, k]
                    if (get("procs", im, va, c, t, "extra_us") == "") continue
                    printf "| %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", im, va, t,
                        c == "crash" ? "-" : fmt(get("procs", im, va, c, t, "rss_mib"), "%.0f"),
                        bm("procs", im, va, c, t, "normal_us", "%.1f"),
                        bm("procs", im, va, c, t, "crash_us", "%.0f"),
                        bm("procs", im, va, c, t, "extra_us", "%.0f"),
                        fmt(get("procs", im, va, c, t, "crashed"), "%d"),
                        fmt(get("procs", im, va, c, t, "reps"), "%d")
                }
            }
        }
        print ""
    }
}

# The case "<prefix><N>m" or "<prefix><N>g" (e.g. rss10m, arg100m) with the
# largest (big = 1) or smallest (big = 0) size; "" if there is none.
function procs_size_case(prefix, big,   j, c, r, mb, best, bc) {
    best = ""; bc = ""
    for (j = 1; j <= ncases["procs"]; j++) {
        c = cases["procs", j]
        if (index(c, prefix) != 1) continue
        r = substr(c, length(prefix) + 1)
        if (r !~ /^[0-9]+[mg]$/) continue
        mb = substr(r, 1, length(r) - 1) * (substr(r, length(r)) == "g" ? 1024 : 1)
        if (best == "" || (big ? mb > best : mb < best)) { best = mb; bc = c }
    }
    return bc
}

# Any value of metric m in a case starting with `prefix` (for the prose).
function get_any(b, prefix, m,   k, p) {
    for (k in V) {
        split(k, p, SUBSEP)
        if (p[1] == b && index(p[4], prefix) == 1 && p[6] == m) return V[k]
    }
    return ""
}

function targets_procs(   m, x, y, py, c2, a10, a2g, h1, h100, f100, e, em, hot, sl, p50, mp, va, lim, j, big, small) {
    for (m = 1; m <= 2; m++) {
        va = m == 1 ? "fork" : "spawn"
        x = get("procs", "parx", va, "rss10m", 2, "create_us")
        y = get("procs", "parx", va, "rss10m", 2, "create_us_med")
        lim = m == 1 ? 500 : 2000
        target("pool start, 2 workers, " va " mode: <= " lim / 1000 " ms (parx_procs_create, which waits until every worker is ready; parent RSS ~10 MiB) [best of N]",
               x == "" ? "-" : sprintf("%.0f us (median %.0f us; create + first job %.0f us, all up %.0f us)", x, y,
                                       get("procs", "parx", va, "rss10m", 2, "first_us"), get("procs", "parx", va, "rss10m", 2, "allup_us")),
               x == "" ? "" : (x + 0 <= lim))
    }
    x = get("procs", "parx", "spawn", "rss10m", 2, "allup_us")
    py = procs_best("py-", "spawn", "rss10m", 2, "allup_us")
    target("spawn-mode start, 2 workers: >= 25x faster than Python's spawn (all up, same definition; the faster of the two Python executors)",
           (x == "" || py == "") ? "-" : sprintf("parx %.0f us, Python %.0f us (%s): %.1fx", x, py, PBEST_ROW, py / x),
           (x == "" || py == "") ? "" : (py / x >= 25))
    big = procs_size_case("rss", 1)
    for (m = 2; m <= 8; m += 6) {
        a10 = get("procs", "parx", "spawn", "rss10m", m, "create_us")
        a2g = big == "rss10m" ? "" : get("procs", "parx", "spawn", big, m, "create_us")
        target("spawn-mode start at 2 GiB parent RSS within 1.5x of its start at 10 MiB (" m " workers, create) [best of N]" (big != "rss2g" && big != "" ? " (this run: " substr(big, 4) ")" : ""),
               (a10 == "" || a2g == "") ? "-" : sprintf("%.0f us vs %.0f us = %.2fx (medians %.0f / %.0f us = %.2fx)", a2g, a10, a2g / a10,
                   get("procs", "parx", "spawn", big, m, "create_us_med"), get("procs", "parx", "spawn", "rss10m", m, "create_us_med"),
                   get("procs", "parx", "spawn", big, m, "create_us_med") / get("procs", "parx", "spawn", "rss10m", m, "create_us_med")),
               (a10 == "" || a2g == "") ? "" : (a2g / a10 <= 1.5))
    }
    small = procs_size_case("arg", 0); big = procs_size_case("arg", 1)
    for (m = 1; m <= 2; m++) {
        va = m == 1 ? "fork" : "spawn"
        for (j = 1; j <= 2; j++) {
            hot = get("procs", "parx", va, "hot", j, "us")
            target("job round trip while workers are busy-hot, " va " mode, " j " worker" (j > 1 ? "s" : "") ": <= 2 us [mean of a repetition, best of N; median]",
                   hot == "" ? "-" : sprintf("%.2f us (median %.2f us)", hot, get("procs", "parx", va, "hot", j, "us_med")),
                   hot == "" ? "" : (hot + 0 <= 2))
        }
        sl = get("procs", "parx", va, "sleep", 1, "us"); p50 = get("procs", "parx", va, "sleep", 1, "us_p50")
        target("job round trip from sleep, " va " mode, 1 worker: <= 50 us [mean, best of N]",
               sl == "" ? "-" : sprintf("%.1f us (median of N %.1f us; single jobs: p50 %.1f us, p99 %.1f us)", sl,
                   get("procs", "parx", va, "sleep", 1, "us_med"), p50, get("procs", "parx", va, "sleep", 1, "us_p99")),
               sl == "" ? "" : (sl + 0 <= 50))
        c2 = ""
        for (j = 1; j <= ncases["procs"]; j++) if (index(cases["procs", j], "map") == 1) { c2 = cases["procs", j]; break }
        mp = c2 == "" ? "" : get("procs", "parx", va, c2, 2, "jobs_per_s")
        target("map throughput of tiny jobs, " va " mode, 2 workers: >= 1 M jobs/s [best of N]",
               mp == "" ? "-" : sprintf("%.2f M jobs/s (median %.2f M; %s jobs)", mp / 1e6,
                   get("procs", "parx", va, c2, 2, "jobs_per_s_med") / 1e6, substr(c2, 4)),
               mp == "" ? "" : (mp >= 1e6))
        h1 = get("procs", "parx", va, small, 1, "us"); h100 = small == big ? "" : get("procs", "parx", va, big, 1, "us")
        f100 = get("procs", "parx", va, big, 1, "first_us")
        target("100 MiB argument, " va " mode: hand-off <= 10 us and not growing with size (<= 1.5x the 1 MiB hand-off) [best of N]" (big != "arg100m" && big != "" ? " (this run: " substr(big, 4) " vs " substr(small, 4) ")" : ""),
               (h1 == "" || h100 == "") ? "-" : sprintf("%.2f us vs %.2f us at %s = %.2fx (medians %.2f / %.2f us; first hand-off of a fresh block %.1f us)", h100, h1, substr(small, 4), h100 / h1,
                   get("procs", "parx", va, big, 1, "us_med"), get("procs", "parx", va, small, 1, "us_med"), f100),
               (h1 == "" || h100 == "") ? "" : (h100 + 0 <= 10 && h100 / h1 <= 1.5))
        e = get("procs", "parx", va, "crash", 1, "extra_us"); em = get("procs", "parx", va, "crash", 1, "extra_us_med")
        target("crashed worker detected, replaced and its job restarted, " va " mode, 1 worker: <= 1 ms [best of N]",
               e == "" ? "-" : sprintf("%.0f us (median %.0f us)", e, em), e == "" ? "" : (e + 0 <= 1000))
        target("the same at the median of N",
               em == "" ? "-" : sprintf("%.0f us", em), em == "" ? "" : (em + 0 <= 1000))
    }
}

# ---- targets -----------------------------------------------------------------

function target(name, figure, ok) {
    printf "| %s | %s | %s |\n", name, figure, (ok == "" ? "not measured" : ok == "n/a" ? "n/a" : verdict(ok))
}

function targets(   c, ns, t1, t2, tbb2, j, k, s, e, emin, wcase, allok, nok, o2, orow, b1, b2, pl, tl, va) {
    print "### Targets"
    print ""
    print "| target | measured | verdict |"
    print "|---|---|---|"
    if (nrows["fib"]) {
        c = cases["fib", 1]
        tbb2 = get("fib", "tbb", "task_group", c, 2, "secs")
        for (j = 1; j <= nrows["fib"]; j++) {
            if (impl_of(rows["fib", j]) != "parx") continue
            va = var_of(rows["fib", j])
            ns = get("fib", "parx", va, c, 2, "ns_per_spawn")
            t1 = get("fib", "parx", va, c, 1, "secs"); t2 = get("fib", "parx", va, c, 2, "secs")
            target("fib(" c ") [" va "]: <= 10 ns per spawn at 2 threads", fmt(ns, "%.1f ns"),
                   ns == "" ? "" : (ns + 0 <= 10))
            target("fib(" c ") [" va "]: <= 0.25x oneTBB's time at 2 threads",
                   (t2 == "" || tbb2 == "") ? "-" : sprintf("%.3f s vs %.3f s = %.3fx", t2, tbb2, t2 / tbb2),
                   (t2 == "" || tbb2 == "") ? "" : (t2 / tbb2 <= 0.25))
            # Speedup means something only where "threads" counts the CPUs
            # used: with spawn+wait, main computes beside the workers, so
            # "1 thread" is already up to 2 CPUs.
            if (va == "spawn+wait")
                target("fib(" c ") [" va "]: speedup 1 -> 2 threads >= 1.9x",
                       "1 worker + main already use 2 CPUs: see root-in-pool", "n/a")
            else
                target("fib(" c ") [" va "]: speedup 1 -> 2 threads >= 1.9x",
                       (t1 == "" || t2 == "") ? "-" : sprintf("%.3f s / %.3f s = %.2fx", t1, t2, t1 / t2),
                       (t1 == "" || t2 == "") ? "" : (t1 / t2 >= 1.9))
        }
    }
    if (nrows["uneven"]) {
        emin = ""; allok = 1; nok = 0; k = 0; wrong = ""
        for (j = 1; j <= ncases["uneven"]; j++) {
            c = cases["uneven", j]
            s = get("uneven", "seq", "loop", c, 1, "secs"); t2 = get("uneven", "parx", "for:grain0", c, 2, "secs")
            if (s == "" || t2 == "") { allok = ""; continue }
            # a loop that skipped or repeated iterations is no speed at all
            if (get("uneven", "parx", "for:grain0", c, 2, "checksum") != \
                get("uneven", "seq", "loop", c, 1, "checksum")) { allok = 0; wrong = wrong " " c }
            e = s / (2 * t2); k++
            if (e >= 0.95) nok++; else allok = 0
            if (emin == "" || e < emin) { emin = e; wcase = c }
        }
        target("uneven parx_for, grain 0: efficiency >= 0.95 on every distribution and N",
               emin == "" ? "-" : sprintf("%d of %d cases >= 0.95; worst %.3f (%s)%s", nok, k, emin, wcase,
                                          wrong == "" ? "" : "; wrong checksum in" wrong),
               (emin == "" || allok == "") ? "" : allok)
    }
    if (nrows["sum"]) {
        c = cases["sum", 1]
        t2 = get("sum", "parx", "reduce:grain0", c, 2, "secs")
        o2 = best2("sum", "omp-", c, "secs"); orow = BEST_ROW
        target("sum of " c " doubles: within 5% of OpenMP reduction(+) (2 threads)",
               (t2 == "" || o2 == "") ? "-" : sprintf("%.4f s vs %.4f s (%s) = %.3fx", t2, o2, orow, t2 / o2),
               (t2 == "" || o2 == "") ? "" : (t2 / o2 <= 1.05))
        b1 = get("sum", "parx", "reduce:grain0", c, 1, "bits"); b2 = get("sum", "parx", "reduce:grain0", c, 2, "bits")
        # each program checks its sum against the terms added in order (bench_sum_emit_result)
        target("sum: bitwise identical at 1 and 2 threads",
               (b1 == "" || b2 == "") ? "-" : ("0x" b1 " / 0x" b2), (b1 == "" || b2 == "") ? "" : (b1 == b2))
    }
    if (nrows["latency"]) {
        pl = get("latency", "parx", "spawn+wait", "empty", 2, "ns")
        tl = get("latency", "tbb", "task_group", "empty", 2, "ns")
        target("empty task spawn+wait from outside (2 threads): no slower than oneTBB",
               (pl == "" || tl == "") ? "-" : sprintf("%.0f ns vs %.0f ns = %.2fx", pl, tl, pl / tl),
               (pl == "" || tl == "") ? "" : (pl + 0 <= tl + 0))
        # The same comparison at equal CPUs: oneTBB's "2 threads" are main and
        # one worker; parx's pool of 1 worker plus main, who helps, are too.
        pl = get("latency", "parx", "spawn+wait", "empty", 1, "ns")
        target("the same at equal CPUs: parx 1 worker + main vs oneTBB 2 threads",
               (pl == "" || tl == "") ? "-" : sprintf("%.0f ns vs %.0f ns = %.2fx", pl, tl, pl / tl),
               (pl == "" || tl == "") ? "" : (pl + 0 <= tl + 0))
    }
    if (nrows["idle"]) {
        for (j = 1; j <= nrows["idle"]; j++) {
            if (impl_of(rows["idle", j]) != "parx") continue
            va = var_of(rows["idle", j])
            pl = get("idle", "parx", va, "idle", 2, "idle_pct")
            target("idle pool [" va "] (2 threads): < 1% of a core", fmt(pl, "%.3f %%"),
                   pl == "" ? "" : (pl + 0 < 1))
        }
    }
    if (nrows["shm"]) targets_shm()
    if (nrows["io"]) targets_io()
    if (nrows["procs"]) targets_procs()
    if (nrcases) targets_runner()
    if (nprobe) targets_probe()
    print ""
}

# ---- I/O: parx_prefetch against read-then-compute and fio (bench_io) --------
# RES io IMPL VARIANT MODE 1 time_s SECONDS; IMPL sync|uring|threads|compute|
# fio-psync|fio-io_uring, VARIANT io-only or rRATIO, MODE warm|cold|direct.
function io_get(impl, var, mode) { return get("io", impl, var, mode, 1, "time_s") }
function io_min(a, b) { return a == "" ? b : (b == "" ? a : (a + 0 < b + 0 ? a : b)) }
function io_max(a, b) { return a == "" ? b : (b == "" ? a : (a + 0 > b + 0 ? a : b)) }
function table_io(   j, k, m, v, mb, s, u, t, fp, fu, pb, fb, c, iob, mx) {
    if (!nrows["io"]) return
    mb = IO_MIB + 0
    print "### I/O: parx_prefetch against read-then-compute and fio"
    print ""
    print "A " IO_MIB " MiB file read in chunks of " IO_CHUNK_KIB " KiB, " IO_DEPTH " reads in flight"
    print "(fio: `--bs=" IO_CHUNK_KIB "k --iodepth=" IO_DEPTH "`; psync ignores the depth). Modes: warm = in the"
    print "page cache, cold = dropped from it before each pass, direct = O_DIRECT. Seconds, best of"
    print IO_REPS " passes of each, the variants of a table row (and fio's two engines) taken in"
    print "turns, so that each meets the disk's fast and slow spells alike; MB/s = 10^6 bytes per"
    print "second. The pread loop reads into a buffer on transparent huge pages, as parx does."
    print ""
    print "I/O only:"
    print ""
    print "| mode | pread loop | parx io_uring | parx threads | fio psync | fio io_uring | parx best / fio best (throughput) |"
    print "|---|---:|---:|---:|---:|---:|---:|"
    for (j = 1; j <= ncases["io"]; j++) {
        m = cases["io", j]
        s = io_get("sync", "io-only", m); u = io_get("uring", "io-only", m); t = io_get("threads", "io-only", m)
        fp = io_get("fio-psync", "io-only", m); fu = io_get("fio-io_uring", "io-only", m)
        pb = io_min(u, t); fb = io_min(fp, fu)
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", m, io_cell(s, mb), io_cell(u, mb), io_cell(t, mb),
            io_cell(fp, mb), io_cell(fu, mb), (pb == "" || fb == "") ? "-" : sprintf("%.2f", fb / pb)
    }
    print ""
    print "Read and compute (the compute step runs on the reading thread; it is calibrated to take"
    print "`ratio` x the pread loop's io-only time). x = total / max(best io-only, compute-only):"
    print ""
    print "| mode | ratio | io-only (best) | compute-only | read-then-compute | prefetch io_uring | prefetch threads |"
    print "|---|---:|---:|---:|---:|---:|---:|"
    for (j = 1; j <= ncases["io"]; j++) {
        m = cases["io", j]
        iob = io_min(io_min(io_get("sync", "io-only", m), io_get("uring", "io-only", m)), io_get("threads", "io-only", m))
        for (k = 1; k <= nrows["io"]; k++) {
            if (impl_of(rows["io", k]) != "compute") continue
            v = var_of(rows["io", k])
            c = io_get("compute", v, m)
            if (c == "") continue
            mx = io_max(iob, c)
            s = io_get("sync", v, m); u = io_get("uring", v, m); t = io_get("threads", v, m)
            printf "| %s | %s | %.3f | %.3f | %s | %s | %s |\n", m, substr(v, 2), iob, c, io_x(s, mx), io_x(u, mx), io_x(t, mx)
        }
    }
    print ""
}
function io_cell(t, mb) { return t == "" ? "-" : sprintf("%.3f s (%.0f MB/s)", t, mb * 1048576 / t / 1e6) }
function io_x(t, mx) { return t == "" ? "-" : sprintf("%.3f s (%.2fx)", t, t / mx) }
# What a full io run holds (bench/run passes IO_MODES and IO_RATIOS): in each
# mode the io-only times of the pread loop and the thread backend, and at
# each ratio the compute step with the loop and the thread backend; io_uring
# in every mode once it ran in one (bench_io leaves it out where the kernel
# refuses it); both fio engines in every mode. A row left out (a program that
# failed or timed out partway) leaves the verdicts it feeds "not measured":
# a worst case over some modes is no worst case "in every mode".
function io_missing(   j, k, m, r, nr, rat, miss, uring_any, impls, ni, i, mm, nm) {
    miss = ""
    nr = split(IO_RATIOS == "" ? "0.2 1 2" : IO_RATIOS, rat, /[ ,]+/)
    uring_any = 0
    for (j = 1; j <= split(IO_MODES == "" ? "warm cold direct" : IO_MODES, IOM, /[ ,]+/); j++)
        if (io_get("uring", "io-only", IOM[j]) != "") uring_any = 1
    ni = split(uring_any ? "sync threads uring" : "sync threads", impls, " ")
    for (j = 1; IOM[j] != ""; j++) {
        m = IOM[j]; mm = ""; nm = 0
        for (i = 1; i <= ni; i++) {
            if (io_get(impls[i], "io-only", m) == "") { mm = mm " " m "/io-only/" impls[i]; nm++ }
            for (k = 1; k <= nr; k++)
                if (io_get(impls[i], "r" rat[k], m) == "") { mm = mm " " m "/r" rat[k] "/" impls[i]; nm++ }
        }
        for (k = 1; k <= nr; k++)
            if (io_get("compute", "r" rat[k], m) == "") { mm = mm " " m "/r" rat[k] "/compute"; nm++ }
        miss = miss (nm == ni * (nr + 1) + nr ? " " m " (every row)" : mm)
    }
    return miss
}
function io_fio_missing(   j, m, miss) {
    miss = ""
    for (j = 1; IOM[j] != ""; j++) {
        m = IOM[j]
        if (io_get("fio-psync", "io-only", m) == "") miss = miss " " m "/psync"
        if (io_get("fio-io_uring", "io-only", m) == "") miss = miss " " m "/io_uring"
    }
    return miss
}
function targets_io(   j, k, m, v, c, mx, iob, s, u, t, bb, worst_b, worst_t, wb, wt, slower, nslow, n, pb, fb, fp, fu, worst_f, wf, miss, fmiss, note) {
    worst_b = ""; worst_t = ""; nslow = 0; n = 0; slower = ""
    for (j = 1; j <= ncases["io"]; j++) {
        m = cases["io", j]
        iob = io_min(io_min(io_get("sync", "io-only", m), io_get("uring", "io-only", m)), io_get("threads", "io-only", m))
        for (k = 1; k <= nrows["io"]; k++) {
            if (impl_of(rows["io", k]) != "compute") continue
            v = var_of(rows["io", k]); c = io_get("compute", v, m)
            if (c == "") continue
            mx = io_max(iob, c)
            s = io_get("sync", v, m); u = io_get("uring", v, m); t = io_get("threads", v, m)
            if (s == "" || io_min(u, t) == "") continue # missing: see io_missing
            bb = io_min(u, t); n++
            if (worst_b == "" || bb / mx > worst_b) { worst_b = bb / mx; wb = m " " substr(v, 2) }
            if (t != "" && (worst_t == "" || t / mx > worst_t)) { worst_t = t / mx; wt = m " " substr(v, 2) }
            if ((u != "" && u + 0 > s + 0) || (t != "" && t + 0 > s + 0)) {
                nslow++; slower = slower " " m "/" substr(v, 2) sprintf("(%s)", (u != "" && u + 0 > s + 0) ? ((t + 0 > s + 0) ? "both" : "io_uring") : "threads")
            }
        }
        fp = io_get("fio-psync", "io-only", m); fu = io_get("fio-io_uring", "io-only", m)
        pb = io_min(io_get("uring", "io-only", m), io_get("threads", "io-only", m)); fb = io_min(fp, fu)
        if (pb != "" && fb != "" && (worst_f == "" || pb / fb > worst_f)) { worst_f = pb / fb; wf = m }
    }
    miss = io_missing(); fmiss = io_fio_missing()
    note = miss == "" ? "" : "; not measured:" miss
    target("io overlap, better backend: total <= 1.10 x max(io-only, compute-only) in every mode and ratio",
           (n ? sprintf("worst %.2fx (%s)", worst_b, wb) : "-") note, (miss != "" || !n) ? "" : worst_b <= 1.10)
    target("io overlap, thread backend: <= 1.15 x max(io-only, compute-only)",
           (worst_t == "" ? "-" : sprintf("worst %.2fx (%s)", worst_t, wt)) note,
           (miss != "" || worst_t == "") ? "" : worst_t <= 1.15)
    target("io: prefetch never slower than read-then-compute",
           (nslow ? sprintf("slower in %d of %d cases:%s", nslow, n, slower) : sprintf("never, in %d cases", n)) note,
           nslow ? 0 : (miss != "" || !n) ? "" : 1)
    target("io-only: parx's best backend within 10% of fio's best engine (time)",
           (worst_f == "" ? "-" : sprintf("worst %.2fx of fio's time (%s)", worst_f, wf)) \
           (fmiss == "" ? "" : "; fio not measured:" fmiss),
           (fmiss != "" || worst_f == "") ? "" : worst_f <= 1.10)
}

# ---- the job runner on the examples' workloads (bench_ex_*) ------------------
# RES runner BACKEND - CASE WORKERS secs SECONDS; BACKEND sequential|threads|
# fork|spawn|auto (12, 13), read-then-compute (10), gpu (09). A backend may
# appear at several worker counts in one case (the scaling sweep): RUN_T keeps
# its fastest, RUN_S every one.
$1 == "RES" && $2 == "runner" && NF >= 8 {
    if (!($5 in rc_seen)) { rc_seen[$5] = 1; rcases[++nrcases] = $5 }
    if (!(($5, $3) in RUN_T) || $8 + 0 < RUN_T[$5, $3] + 0) { RUN_T[$5, $3] = $8; RUN_W[$5, $3] = $6 }
    RUN_S[$5, $3, $6] = $8
    if ($3 == "threads" && $6 + 0 > RUN_MAXW[$5] + 0) RUN_MAXW[$5] = $6
}
function rt(c, be) { return ((c, be) in RUN_T) ? RUN_T[c, be] : "" }
# The fastest fixed backend of case c (everything but auto); sets RBEST_BE.
function rbest(c,   i, be, x, best) {
    split("sequential threads fork spawn read-then-compute gpu", RBK, " ")
    best = ""; RBEST_BE = ""
    for (i = 1; i in RBK; i++) {
        be = RBK[i]; x = rt(c, be)
        if (x != "" && (best == "" || x + 0 < best + 0)) { best = x; RBEST_BE = be }
    }
    return best
}
# seconds with a unit that keeps three figures (the tiny cases take microseconds)
function hs(x) {
    x += 0
    return x < 1e-3 ? sprintf("%.1f us", x * 1e6) : x < 1 ? sprintf("%.2f ms", x * 1e3) : sprintf("%.3f s", x)
}
function rcell(c, be,   x) { x = rt(c, be); return x == "" ? "-" : sprintf("%s (%s)", hs(x), RUN_W[c, be]) }
function table_runner(   j, c, s, b, a) {
    if (!nrcases) return
    print "### Job runner: the examples' workloads"
    print ""
    print "Each example with `--bench`, at its default size: `mc_K<K>` is"
    print "`examples/12_monte_carlo_noise.c` (K noise samples whose solves vary tenfold),"
    print "`sweep27` and `scaling64` `examples/13_param_sweep.c` (a 3x3x3 sweep; 64 runs"
    print "on 1, 2, ... workers), `prefetch_reduce` `examples/10_prefetch_reduce.c` and"
    print "`gpu_kde` `examples/09_gpu_kde.c` (their own loops, no parx_run: no auto). Seconds"
    print "(workers); a backend timed at several worker counts shows its fastest."
    print ""
    print "| workload | sequential | threads | fork | spawn | other | auto | best fixed | auto / best fixed | auto / sequential |"
    print "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"
    for (j = 1; j <= nrcases; j++) {
        c = rcases[j]; s = rt(c, "sequential"); b = rbest(c); a = rt(c, "auto")
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c, rcell(c, "sequential"),
            rcell(c, "threads"), rcell(c, "fork"), rcell(c, "spawn"),
            rt(c, "gpu") != "" ? "gpu " rcell(c, "gpu") : (rt(c, "read-then-compute") != "" ? "read-then-compute " rcell(c, "read-then-compute") : "-"),
            rcell(c, "auto"), RBEST_BE == "" ? "-" : RBEST_BE,
            ratio(a, b, "%.3f"), ratio(a, s, "%.3f")
    }
    print ""
}
function targets_runner(   j, c, s, b, a, w, t, e) {
    for (j = 1; j <= nrcases; j++) {
        c = rcases[j]; s = rt(c, "sequential"); b = rbest(c); a = rt(c, "auto")
        if (a == "" || b == "") continue
        # The tiny cases are the guard against the users' slowdowns: auto
        # never much slower than sequential. The examples are the workloads
        # the 10% target is about.
        if (RBEST_BE == "sequential" || c ~ /^tiny_/)
            target("auto on " c ": at most 5% slower than sequential" \
                   (RBEST_BE == "sequential" ? " (sequential is best)" : ""),
                   sprintf("%s vs %s = %.3fx", hs(a), hs(s), a / s), a / s <= 1.05)
        if (RBEST_BE != "sequential")
            target("auto on " c ": within 10% of the best fixed backend" \
                   (c ~ /^tiny_/ ? " (not a target: tiny jobs, for the record)" : ""),
                   sprintf("%s vs %s (%s) = %.3fx", hs(a), hs(b), RBEST_BE, a / b),
                   c ~ /^tiny_/ ? "n/a" : a / b <= 1.10)
    }
    for (j = 1; j <= nrcases; j++) {
        c = rcases[j]
        if (c != "scaling64") continue
        s = rt(c, "sequential"); w = RUN_MAXW[c]; t = ((c, "threads", w) in RUN_S) ? RUN_S[c, "threads", w] : ""
        e = (s == "" || t == "") ? "" : s / (w * t)
        target("worker scaling sweep (64 runs): efficiency >= 0.90 at the machine's " w " CPUs",
               e == "" ? "-" : sprintf("%.3f s / (%d x %.3f s) = %.3f", s, w, t, e), e == "" ? "" : e >= 0.90)
    }
}

# ---- the probe (bench_runner probe) -------------------------------------------
# RES probe parx FIGURE - CPUS ns VALUE, and RES probe break_even BACKEND n=N CPUS ns VALUE
$1 == "RES" && $2 == "probe" && NF >= 8 {
    nprobe++
    if ($3 == "parx") { PROBE_FIG[++npfig] = $4; PROBE_V[$4] = $8; PROBE_CPUS = $6 }
    else PROBE_BE[$4, $5] = $8
}
# ns with a unit a person reads at once
function hns(v) {
    if (v == "inf" || v == "INF") return "never"
    v += 0
    return v < 1e3 ? sprintf("%.0f ns", v) : v < 1e6 ? sprintf("%.1f us", v / 1e3) : sprintf("%.2f ms", v / 1e6)
}
function table_probe(   k, b) {
    if (!nprobe) return
    print "### Probe: this machine's overheads (`bench_runner probe`, `parx_probe_measure`)"
    print ""
    print "What `parx_run`'s automatic choice weighs, measured in one call (medians"
    print "inside); " PROBE_CPUS " CPUs. Break-even: the job time above which a backend,"
    print "starting its pool, beats running the jobs one after another (`parx_run_break_even`)."
    print ""
    print "| figure | value |"
    print "|---|---:|"
    for (k = 1; k <= npfig; k++) printf "| %s | %s |\n", PROBE_FIG[k], hns(PROBE_V[PROBE_FIG[k]])
    print ""
    print "| break-even job time | n = 10 | n = 100 | n = 1000 |"
    print "|---|---:|---:|---:|"
    split("threads fork spawn", PB, " ")
    for (b = 1; b in PB; b++)
        printf "| %s | %s | %s | %s |\n", PB[b], hns(PROBE_BE[PB[b], "n=10"]),
            hns(PROBE_BE[PB[b], "n=100"]), hns(PROBE_BE[PB[b], "n=1000"])
    print ""
}
function targets_probe(   t, f, s) {
    t = PROBE_BE["threads", "n=100"]
    target("probe: break-even job time on threads for 100 jobs <= 5 us", hns(t),
           t == "" ? "" : t + 0 <= 5000)
    f = PROBE_BE["fork", "n=100"]; s = PROBE_BE["spawn", "n=100"]
    target("probe: break-even job time on processes for 100 jobs <= 100 us [fork]", hns(f),
           f == "" ? "" : f + 0 <= 100000)
    target("probe: break-even job time on processes for 100 jobs <= 100 us [spawn]", hns(s),
           s == "" ? "" : s + 0 <= 100000)
}

END {
    table_fib(); table_uneven(); table_sum(); table_latency(); table_idle(); table_shm(); table_procs(); table_io(); table_runner(); table_probe(); targets()
}
