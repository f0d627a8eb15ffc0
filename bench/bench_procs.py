#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/bench_procs.py -- the Python peers of bench_procs.c (the process pool).

    python3 bench/bench_procs.py start     exec=ppe|pool method=fork|spawn|forkserver workers=2 rss=10 reps=9
    python3 bench/bench_procs.py roundtrip exec=ppe|pool method=... workers=1 iters=2000 reps=5 gap_us=0
    python3 bench/bench_procs.py map       exec=ppe|pool method=... workers=2 n=1e5 chunksize=0 reps=3
    python3 bench/bench_procs.py handoff   exec=ppe|pool method=... mib=1,100 reps=5

exec=ppe is concurrent.futures.ProcessPoolExecutor, exec=pool is
multiprocessing.Pool, each with the multiprocessing context of `method`.
Only the standard library. Times from time.perf_counter.

start      rss: MiB this process is made to hold first (bytes filled, so
           resident and dirty; rss_mib reports VmRSS then). One repetition:
           the executor constructed (create_us), one trivial task submitted
           and its result received (first_us, from before the constructor),
           then `workers` tasks at once, each waiting on a multiprocessing
           Barrier of `workers` parties (given to every worker through the
           initializer), so that all of them must be running tasks at the
           same time (allup_us, from before the constructor): the same
           three points as bench_procs.c. Shutdown is not timed. The first
           repetition is an untimed warm-up, reported as cold_us (its allup
           time): for forkserver it includes starting the fork server, which
           later pools of this process reuse.
roundtrip  submit one trivial task and wait for its result, `iters` times:
           back to back (gap_us=0), or after sleeping gap_us before each.
           us: mean per round trip of a repetition (best, median of reps);
           us_p50 / us_p99 over every single round trip (gap only).
map        map of n tiny tasks (x + 1) over range(n), results checked.
           chunksize=0: multiprocessing.Pool's own default for map,
           ceil(n / (4 * workers)), given to both executors (the executor's
           default is 1); chunksize=1: one task per item. jobs_per_s from
           the best repetition.
handoff    passing an argument of `mib` MiB to one worker (workers=1), whose
           task reads its first byte and returns it:
           pickle: the bytes object as the task's argument (pickled, sent
           through a pipe, unpickled): us = submit to result.
           shm: the data already in a multiprocessing.shared_memory segment
           (created and filled before timing); the argument is its name, the
           task attaches (SharedMemory(name)), reads the byte and closes:
           us = submit to result; copy_ms: creating the segment and copying
           the data in (shm.buf[:] = data), what the C side's copy_first_ms
           is to the arena.

Output: RES lines as bench/bench.h describes them (bench "procs", impl
"py-ppe" or "py-pool", variant the start method, threads = workers).
Run under `if __name__ == "__main__"`: spawn and forkserver import this file
again in every worker.
"""
import concurrent.futures as cf
import gc
import math
import multiprocessing as mp
import os
import statistics
import sys
import time
from multiprocessing import resource_tracker, shared_memory


def arg(name, default):
    """The value of name=... on the command line, or default."""
    for a in sys.argv[2:]:
        if a.startswith(name + "="):
            v = a.split("=", 1)[1]
            return v if isinstance(default, str) else type(default)(float(v))
    return default


def emit(impl, variant, case, procs, metric, value):
    print("RES\tprocs\t%s\t%s\t%s\t%d\t%s\t%.6g" % (impl, variant, case, procs, metric, value),
          flush=True)


def emit_reps(impl, variant, case, procs, metric, values, scale):
    emit(impl, variant, case, procs, metric, min(values) * scale)
    emit(impl, variant, case, procs, metric + "_med", statistics.median(values) * scale)


# ---- tasks (module level, so spawn and forkserver workers find them) -------

_barrier = None


def _init(barrier):
    global _barrier
    _barrier = barrier


def nothing(x=None):
    return x


def tiny(x):
    return x + 1


def wait_barrier(_):
    _barrier.wait(timeout=60)
    return os.getpid()


def touch(data):
    return data[0]


def touch_shm(name):
    shm = shared_memory.SharedMemory(name=name)
    b = shm.buf[0]
    shm.close()
    return b


# ---- one interface over both executors -------------------------------------

class Exec:
    """ProcessPoolExecutor or multiprocessing.Pool, as submit/result/map/close."""

    def __init__(self, kind, method, workers, barrier=None):
        self.kind = kind
        ctx = mp.get_context(method)
        init, initargs = (_init, (barrier,)) if barrier is not None else (None, ())
        if kind == "ppe":
            self.ex = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                             initializer=init, initargs=initargs)
        else:
            self.ex = ctx.Pool(processes=workers, initializer=init, initargs=initargs)

    def submit(self, fn, *args):
        if self.kind == "ppe":
            return self.ex.submit(fn, *args)
        return self.ex.apply_async(fn, args)

    def result(self, f):
        return f.result() if self.kind == "ppe" else f.get()

    def call(self, fn, *args):
        return self.result(self.submit(fn, *args))

    def map(self, fn, it, chunksize):
        return list(self.ex.map(fn, it, chunksize=chunksize))

    def close(self):
        if self.kind == "ppe":
            self.ex.shutdown(wait=True)
        else:
            self.ex.close()
            self.ex.join()


def impl_name(kind):
    return "py-" + kind


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def setup():
    kind = arg("exec", "ppe")
    method = arg("method", "fork")
    if kind not in ("ppe", "pool"):
        sys.exit("exec=ppe or exec=pool, not %r" % kind)
    if method not in mp.get_all_start_methods():
        sys.exit("start method %r is not available here" % method)
    return kind, method


# ---- the benchmarks ---------------------------------------------------------

def run_start():
    kind, method = setup()
    workers = arg("workers", 2)
    rss = arg("rss", 10)
    reps = arg("reps", 9)
    have = rss_mib()
    ballast = b"\x01" * int((rss - have) * 1048576) if rss > have + 1 else b""
    rss_now = rss_mib()
    case = "rss%dg" % (rss // 1024) if rss % 1024 == 0 else "rss%dm" % rss
    ctx = mp.get_context(method)
    created, first, allup = [], [], []
    cold = None
    for rep in range(reps + 1):
        barrier = ctx.Barrier(workers)  # not timed: part of the test, not of the pool
        t0 = time.perf_counter()
        ex = Exec(kind, method, workers, barrier)
        t1 = time.perf_counter()
        ex.call(nothing, 1)
        t2 = time.perf_counter()
        futs = [ex.submit(wait_barrier, i) for i in range(workers)]
        pids = {ex.result(f) for f in futs}
        t3 = time.perf_counter()
        ex.close()
        if len(pids) != workers:
            sys.exit("start: %d distinct workers, not %d" % (len(pids), workers))
        if rep == 0:
            cold = t3 - t0
            continue
        created.append(t1 - t0)
        first.append(t2 - t0)
        allup.append(t3 - t0)
    impl = impl_name(kind)
    emit_reps(impl, method, case, workers, "create_us", created, 1e6)
    emit_reps(impl, method, case, workers, "first_us", first, 1e6)
    emit_reps(impl, method, case, workers, "allup_us", allup, 1e6)
    emit(impl, method, case, workers, "cold_us", cold * 1e6)
    emit(impl, method, case, workers, "reps", len(allup))
    emit(impl, method, case, workers, "rss_mib", rss_now)
    del ballast


def quantile(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]


def run_roundtrip():
    kind, method = setup()
    workers = arg("workers", 1)
    iters = arg("iters", 2000)
    reps = arg("reps", 5)
    gap = arg("gap_us", 0) * 1e-6
    ex = Exec(kind, method, workers)
    for _ in range(200):  # warm-up: every worker up and running
        ex.call(nothing, 1)
    means, each = [], []
    for _ in range(reps):
        if gap:
            total = 0.0
            for _ in range(iters):
                time.sleep(gap)
                t0 = time.perf_counter()
                ex.call(nothing, 1)
                t = time.perf_counter() - t0
                total += t
                each.append(t)
        else:
            t0 = time.perf_counter()
            for _ in range(iters):
                ex.call(nothing, 1)
            total = time.perf_counter() - t0
        means.append(total / iters)
    ex.close()
    impl, case = impl_name(kind), "sleep" if gap else "hot"
    emit_reps(impl, method, case, workers, "us", means, 1e6)
    emit(impl, method, case, workers, "reps", reps)
    emit(impl, method, case, workers, "iters", iters)
    if gap:
        emit(impl, method, case, workers, "gap_us", gap * 1e6)
        emit(impl, method, case, workers, "us_p50", quantile(each, 0.5) * 1e6)
        emit(impl, method, case, workers, "us_p99", quantile(each, 0.99) * 1e6)


def size_name(n):
    e = round(math.log10(n)) if n > 0 else 0
    return "1e%d" % e if 10 ** e == n else str(n)


def run_map():
    kind, method = setup()
    workers = arg("workers", 2)
    n = arg("n", 100000)
    cs = arg("chunksize", 0)
    reps = arg("reps", 3)
    chunk = cs if cs > 0 else max(1, -(-n // (4 * workers)))
    ex = Exec(kind, method, workers)
    ex.map(tiny, range(4 * workers), 1)  # warm-up: workers up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = ex.map(tiny, range(n), chunk)
        times.append(time.perf_counter() - t0)
        if out[-1] != n or len(out) != n:
            sys.exit("map: wrong results")
    ex.close()
    impl = impl_name(kind)
    case = "map%s%s" % (size_name(n), "-c1" if chunk == 1 else "")
    emit_reps(impl, method, case, workers, "secs", times, 1.0)
    emit(impl, method, case, workers, "jobs_per_s", n / min(times))
    emit(impl, method, case, workers, "jobs_per_s_med", n / statistics.median(times))
    emit(impl, method, case, workers, "chunksize", chunk)
    emit(impl, method, case, workers, "reps", reps)


def run_handoff():
    kind, method = setup()
    sizes = [int(s) for s in arg("mib", "1,100").split(",")]
    reps = arg("reps", 5)
    # The tracker before the workers: they then report to the same one
    # (see bench_shm.py), and no one warns about segments the parent unlinked.
    resource_tracker.ensure_running()
    ex = Exec(kind, method, 1)
    ex.call(nothing, 1)
    impl = impl_name(kind)
    for mib in sizes:
        data = bytes(range(256)) * (mib << 12)  # mib MiB, filled
        case = "arg%dm" % mib
        pick, shm_t, copy = [], [], []
        for rep in range(reps + 1):
            t0 = time.perf_counter()
            if ex.call(touch, data) != data[0]:
                sys.exit("handoff: wrong byte")
            t1 = time.perf_counter()
            shm = shared_memory.SharedMemory(create=True, size=len(data))
            shm.buf[:len(data)] = data
            t2 = time.perf_counter()
            if ex.call(touch_shm, shm.name) != data[0]:
                sys.exit("handoff: wrong byte (shm)")
            t3 = time.perf_counter()
            shm.close()
            shm.unlink()
            if rep == 0:
                continue  # warm-up
            pick.append(t1 - t0)
            copy.append(t2 - t1)
            shm_t.append(t3 - t2)
        emit_reps(impl, method + ":pickle", case, 1, "us", pick, 1e6)
        emit_reps(impl, method + ":shm", case, 1, "us", shm_t, 1e6)
        emit_reps(impl, method + ":shm", case, 1, "copy_ms", copy, 1e3)
        emit(impl, method + ":pickle", case, 1, "reps", reps)
        emit(impl, method + ":shm", case, 1, "reps", reps)
    ex.close()


def stop_helpers():
    """Stop multiprocessing's helper processes and wait for them: the fork
    server (forkserver method; its workers are its children) and the resource
    tracker (semaphores, segments). Otherwise they outlive this program
    unwaited-for, and bench/run counts their CPU time as other processes'
    (calling the run disturbed). Once every executor and its semaphores are
    gone, or the tracker would unlink them first and warn about "leaks".
    _stop is private; where a Python lacks it, they exit on their own."""
    gc.collect()
    from multiprocessing import forkserver
    for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
        stop = getattr(helper, "_stop", None)
        if stop:
            stop()


def main():
    benches = {"start": run_start, "roundtrip": run_roundtrip, "map": run_map,
               "handoff": run_handoff}
    if len(sys.argv) < 2 or sys.argv[1] not in benches:
        sys.exit("usage: %s start|roundtrip|map|handoff key=value..." % sys.argv[0])
    benches[sys.argv[1]]()
    stop_helpers()


if __name__ == "__main__":
    main()
