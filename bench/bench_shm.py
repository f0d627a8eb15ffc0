#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/bench_shm.py -- the Python peer of bench_shm.c's `create` benchmark.

    python3 bench/bench_shm.py create mib=1024 reps=20

Python's multiprocessing.shared_memory, as a Python program shares memory
between processes: one repetition is

    SharedMemory(create=True, size=1 GiB)   in this process, timed here
    SharedMemory(name=...)                   in another process, timed there

The other process is forked once before timing starts (interpreter start is
not counted) and gets each name over a multiprocessing Pipe, untimed; it
closes its handle before it replies. close() and unlink() happen outside the
timed region. Times come from time.perf_counter around the calls alone.
The first repetition is an untimed warm-up, reported on its own as first_us
(a cold start). multiprocessing's resource tracker, the process that unlinks
segments a program leaves behind, is started before the fork, as a program
that shares memory with its workers would have it: both processes then report
to one tracker (a tracker started later, in the parent, would leave the
forked process to start its own, which then warns about "leaked" segments
that the parent had unlinked long before).

Output: RES lines as bench/bench.h describes them (create_us, attach_us,
total_us: the best over the repetitions; *_med: medians; first_us).
"""
import multiprocessing as mp
import statistics
import sys
import time
from multiprocessing import resource_tracker, shared_memory


def arg(name, default):
    """The value of name=... on the command line, or default."""
    for a in sys.argv[2:]:
        if a.startswith(name + "="):
            return type(default)(float(a.split("=", 1)[1]))
    return default


def emit(impl, variant, case, procs, metric, value):
    print("RES\tshm\t%s\t%s\t%s\t%d\t%s\t%.6g" % (impl, variant, case, procs, metric, value),
          flush=True)


def attacher(conn):
    """The other process: attach to each name received, time it, close, reply."""
    while True:
        name = conn.recv()
        if name is None:
            return
        t0 = time.perf_counter()
        shm = shared_memory.SharedMemory(name=name)
        t1 = time.perf_counter()
        shm.close()
        conn.send(t1 - t0)


def run_create():
    mib = arg("mib", 1024)
    reps = arg("reps", 20)
    size = mib << 20
    case = "create%dg" % (mib // 1024) if mib % 1024 == 0 else "create%dm" % mib

    # fork, like the C program's helper: no interpreter start, no re-import.
    ctx = mp.get_context("fork")
    resource_tracker.ensure_running()
    conn, child_conn = ctx.Pipe()
    helper = ctx.Process(target=attacher, args=(child_conn,))
    helper.start()

    create, attach, total = [], [], []
    first = None
    for rep in range(reps + 1):
        t0 = time.perf_counter()
        shm = shared_memory.SharedMemory(create=True, size=size)
        t1 = time.perf_counter()
        conn.send(shm.name)
        ta = conn.recv()
        shm.close()
        shm.unlink()
        tc = t1 - t0
        if rep == 0:
            first = tc + ta  # the warm-up: a cold start
            continue
        create.append(tc)
        attach.append(ta)
        total.append(tc + ta)

    conn.send(None)
    helper.join()
    if helper.exitcode != 0:
        sys.exit("bench_shm.py: the attaching process failed")
    # Stop the resource tracker and wait for it, so that its CPU time counts
    # as this program's (bench/run charges unwaited-for processes to "other
    # processes" and would call the run disturbed). _stop is private; where a
    # Python lacks it, the tracker just exits on its own after this program.
    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop:
        stop()

    variant = "shared_memory"
    emit("python", variant, case, 1, "total_us", min(total) * 1e6)
    emit("python", variant, case, 1, "total_us_med", statistics.median(total) * 1e6)
    emit("python", variant, case, 1, "reps", len(total))
    emit("python", variant, case, 1, "create_us", min(create) * 1e6)
    emit("python", variant, case, 1, "create_us_med", statistics.median(create) * 1e6)
    emit("python", variant, case, 1, "attach_us", min(attach) * 1e6)
    emit("python", variant, case, 1, "attach_us_med", statistics.median(attach) * 1e6)
    emit("python", variant, case, 1, "first_us", first * 1e6)


def main():
    if len(sys.argv) < 2 or sys.argv[1] != "create":
        sys.exit("usage: %s create [mib=1024] [reps=20]" % sys.argv[0])
    run_create()


if __name__ == "__main__":
    main()
