/* SPDX-License-Identifier: MIT */
/* tests/procs_ring.c -- the process pool's job ring with stale entries.

   A worker claims a job by CAS on the job's state, then moves head past the
   entry it read (parx__procs_claim). Two things leave an entry behind in
   the ring: a worker that dies between the two CASes, and a worker held up
   between reading a job's state and its CAS while that slot's job finishes
   and the slot is queued again (the CAS then succeeds on the new job, whose
   own entry stays in the ring, naming a job already claimed). When head
   reaches such an entry and its slot is queued again, the entry is taken
   for that job, and the job's own entry is left behind in turn: stale
   entries pile up while slots are busy, and the ring (twice as many entries
   as slots) fills with a queued job at head. The producer then waited,
   spinning on sched_yield with the pool's lock held, for a worker to move
   head: forever when the producer was the monitor putting a crashed job
   back (it replaces dead workers only after that), and for as long as the
   workers were stopped or busy when it was a submit.

   The interleavings are made certain by playing the workers' parts here,
   step by step, on the shared ring (the real workers are stopped first and
   never resumed), with the very operations of parx__procs_claim and
   parx__procs_worker; the pool's own code does the rest. So this unit
   implements parx itself, to reach the pool's insides. Each case runs in a
   child under alarm(): before the fix, all three hung. Fork mode only: the
   ring and the monitor are the same in both modes.

   The same way, a fourth case plays a worker that a timeout's kill reaches
   after it has finished the job that overran and claimed the next job of
   the same slot (which was charged with the timeout). */
#define _GNU_SOURCE
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "procs_common.h"

typedef struct counted {
    _Atomic int runs; /* times the job function ran */
    int value;        /* what it returns */
} counted;

static int job_counted(void *p)
{
    counted *c = (counted *)p;
    atomic_fetch_add(&c->runs, 1);
    return c->value;
}

/* Child side: say what failed and exit 1. */
#define CHILD_REQUIRE(cond, ...)                                                                   \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            CHILD_DIAG(__VA_ARGS__);                                                               \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

/* Worker w's parx__procs_claim, in two halves: up to its CAS on the job
   (what it read), then the rest, as if it had been held up in between. */
typedef struct half_claim {
    uint32_t w;
    uint64_t h;
    uint32_t x, s;
} half_claim;

static int claim_begin(parx_procs *pp, uint32_t w, half_claim *c)
{
    parx__pctl *ctl = pp->ctl;
    c->w = w;
    c->h = atomic_load_explicit(&ctl->head, memory_order_acquire);
    uint64_t t = atomic_load_explicit(&ctl->tail, memory_order_acquire);
    if (c->h >= t)
        return 0;
    c->x = atomic_load_explicit(&pp->ring[c->h & ctl->ring_mask], memory_order_relaxed);
    c->s = atomic_load_explicit(&pp->jobs[c->x].state, memory_order_relaxed);
    return PARX__J_PHASE(c->s) == PARX__J_QUEUED;
}

/* Returns the slot claimed, or -1; *head_moved: whether its head CAS worked. */
static int64_t claim_end(parx_procs *pp, half_claim *c, bool *head_moved)
{
    parx__pjob *j = &pp->jobs[c->x];
    uint32_t s = c->s;
    bool mine = false;
    while (!mine && PARX__J_PHASE(s) == PARX__J_QUEUED) {
        uint32_t run = (s & PARX__J_WAITER) | PARX__J_RUNNING | (c->w << 16);
        mine = atomic_compare_exchange_weak_explicit(&j->state, &s, run, memory_order_acquire,
                                                     memory_order_relaxed);
    }
    uint64_t h = c->h;
    *head_moved = atomic_compare_exchange_strong_explicit(&pp->ctl->head, &h, h + 1,
                                                          memory_order_release,
                                                          memory_order_relaxed);
    return mine ? (int64_t)c->x : -1;
}

/* What parx__procs_worker does with a job it claimed: run it, mark it DONE. */
static void run_as(parx_procs *pp, uint32_t w, uint32_t x)
{
    parx__pjob *j = &pp->jobs[x];
    parx__pworker *me = &pp->workers[w];
    atomic_store_explicit(&me->start_ns, parx__now_ns(), memory_order_relaxed);
    atomic_store_explicit(&me->current, x + 1, memory_order_release);
    j->status = job_counted(pp->base + j->arg_off);
    j->run_ns = 1;
    parx__procs_finish(pp->ctl, j);
    atomic_store_explicit(&me->current, 0, memory_order_relaxed);
}

/* A whole claim by worker w, and its job run: the slot, or -1. */
static int64_t claim_and_run(parx_procs *pp, uint32_t w)
{
    int64_t x = parx__procs_claim(pp->ctl, pp->jobs, pp->ring, w);
    if (x >= 0)
        run_as(pp, w, (uint32_t)x);
    return x;
}

static parx_procs *ring_pool(int workers, int max_jobs, int retries, int *pids)
{
    parx_procs_desc d = {.workers = workers, .max_jobs = (uint32_t)max_jobs, .retries = retries,
                         .start = PARX_START_FORK, .arena_bytes = 4u << 20};
    parx_procs *pp = parx_procs_create(&d);
    int err = pp ? 0 : -errno;
    CHILD_REQUIRE(pp, "parx_procs_create: %s", parx_strerror(err));
    CHILD_REQUIRE(parx_procs_pids(pp, pids, workers) == workers, "parx_procs_pids");
    for (int w = 0; w < workers; w++)
        CHILD_REQUIRE(stop_worker(pids[w]), "worker %d (pid %d) did not stop", w, pids[w]);
    return pp;
}

static uint32_t slot_of(parx_procs *pp, parx_ticket t)
{
    uint32_t x;
    uint64_t gen;
    parx__procs_ticket_parse(pp, t, &x, &gen);
    return x;
}

/* n counted jobs in pp's arena, none run yet, job i returning base + i. */
static counted *counted_jobs(parx_procs *pp, int n, int base)
{
    counted *c = (counted *)parx_arena_alloc(parx_procs_arena(pp), (size_t)n * sizeof *c, 0);
    CHILD_REQUIRE(c, "arena");
    for (int i = 0; i < n; i++) {
        atomic_init(&c[i].runs, 0);
        c[i].value = base + i;
    }
    return c;
}

/* One slot (a ring of two entries), two workers, one retry. Worker 0 reads
   the job at head, is held up; worker 1 runs that job; the slot is queued
   again, and worker 0's CAS takes the new job through the old entry: the
   new job's entry is left behind. Twice, so both entries are stale when
   worker 0, holding the second job, is SIGKILLed (worker 1 stopped). The
   monitor puts the job back: the ring is full, its head names the queued
   job; the monitor spun there, lock held, before it asked for a
   replacement, so nothing could ever move head (worker 1 then killed too).
   Now: the job runs again on worker 0's replacement, once, with 2 attempts. */
static void case_requeue_full(void)
{
    int pids[2];
    parx_procs *pp = ring_pool(2, 1, 1, pids);
    counted *c = counted_jobs(pp, 5, 100);
    parx_ticket t[5];
    parx_job_result r;
    half_claim hc;
    bool moved;

    for (int round = 0; round < 2; round++) {
        int a = 2 * round, b = a + 1; /* jobs A, B (round 0); C, D (round 1) */
        CHILD_REQUIRE(parx_procs_submit(pp, job_counted, &c[a], &t[a]) == 0, "submit %d", a);
        CHILD_REQUIRE(claim_begin(pp, 0, &hc), "round %d: nothing queued at head", round);
        CHILD_REQUIRE(claim_and_run(pp, 1) == (int64_t)slot_of(pp, t[a]), "worker 1's claim");
        CHILD_REQUIRE(parx_procs_wait(pp, t[a], &r) == 0 && r.status == c[a].value, "wait %d", a);
        CHILD_REQUIRE(parx_procs_submit(pp, job_counted, &c[b], &t[b]) == 0, "submit %d", b);
        CHILD_REQUIRE(claim_end(pp, &hc, &moved) == (int64_t)slot_of(pp, t[b]) && !moved,
                      "round %d: worker 0 did not take job %d through the old entry", round, b);
        if (round == 0) { /* B runs; D is still running when worker 0 dies */
            run_as(pp, 0, slot_of(pp, t[b]));
            CHILD_REQUIRE(parx_procs_wait(pp, t[b], &r) == 0 && r.status == c[b].value, "wait B");
        }
    }
    uint64_t in_ring = atomic_load(&pp->ctl->tail) - atomic_load(&pp->ctl->head);
    CHILD_REQUIRE(in_ring == 2, "%llu entries in the ring, expected 2 (full)",
                  (unsigned long long)in_ring);

    /* worker 0 dies holding D; until the monitor has put D back (or it ran) */
    _Atomic uint32_t *st = &pp->jobs[slot_of(pp, t[3])].state;
    CHILD_REQUIRE(kill(pids[0], SIGKILL) == 0, "kill worker 0");
    int ph = PARX__J_RUNNING;
    for (int i = 0;
         i < polls(10000) && (ph = (int)PARX__J_PHASE(atomic_load(st))) == PARX__J_RUNNING; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL); /* polling, with a deadline */
    CHILD_REQUIRE(ph != PARX__J_RUNNING, "the monitor did not take worker 0's death");
    CHILD_REQUIRE(kill(pids[1], SIGKILL) == 0, "kill worker 1");

    CHILD_REQUIRE(parx_procs_wait(pp, t[3], &r) == 0, "wait D");
    CHILD_REQUIRE(r.status == c[3].value && r.attempts == 2 && atomic_load(&c[3].runs) == 1,
                  "D: status %d, attempts %d, runs %d", r.status, r.attempts,
                  atomic_load(&c[3].runs));
    for (int i = 0; i < 4; i++)
        CHILD_REQUIRE(atomic_load(&c[i].runs) == 1, "job %d ran %d times", i,
                      atomic_load(&c[i].runs));
    /* and the pool goes on: both workers replaced */
    parx_procs_info info = wait_started(pp, 4);
    CHILD_REQUIRE(info.started == 4 && info.crashed == 1 && info.retried == 1,
                  "started %llu crashed %llu retried %llu", (unsigned long long)info.started,
                  (unsigned long long)info.crashed, (unsigned long long)info.retried);
    CHILD_REQUIRE(parx_procs_submit(pp, job_counted, &c[4], &t[4]) == 0, "submit E");
    CHILD_REQUIRE(parx_procs_wait(pp, t[4], &r) == 0 && r.status == c[4].value, "wait E");
    parx_procs_destroy(pp);
    _exit(0);
}

/* Two slots (four entries), four workers. Job F waits at head while three
   workers, each held up since it read an older job of the other slot at
   head, take that slot's next three jobs through the old entry: three
   stale entries behind F, and the ring is full. The next submit spun,
   lock held, until a worker moved head past F, which no stopped worker
   did. Now: it returns; once the workers are replaced, F and the new job
   G each run once. */
static void case_submit_full(void)
{
    int pids[4];
    parx_procs *pp = ring_pool(4, 2, 0, pids);
    enum { Y1, F, Y2, Y3, Y4, G, N };
    counted *c = counted_jobs(pp, N, 200);
    parx_ticket t[N];
    parx_job_result r;
    half_claim held[3]; /* workers 0, 2, 3 */
    const uint32_t held_w[3] = {0, 2, 3};
    bool moved;

    CHILD_REQUIRE(parx_procs_submit(pp, job_counted, &c[Y1], &t[Y1]) == 0, "submit Y1");
    for (int k = 0; k < 3; k++)
        CHILD_REQUIRE(claim_begin(pp, held_w[k], &held[k]), "nothing queued at head");
    CHILD_REQUIRE(claim_and_run(pp, 1) == (int64_t)slot_of(pp, t[Y1]), "worker 1's claim");
    /* F takes the other slot: Y1's is DONE until waited for */
    CHILD_REQUIRE(parx_procs_submit(pp, job_counted, &c[F], &t[F]) == 0, "submit F");
    CHILD_REQUIRE(slot_of(pp, t[F]) != slot_of(pp, t[Y1]), "F in Y1's slot");
    CHILD_REQUIRE(parx_procs_wait(pp, t[Y1], &r) == 0 && r.status == c[Y1].value, "wait Y1");
    for (int k = 0; k < 3; k++) {
        int y = Y2 + k;
        CHILD_REQUIRE(parx_procs_submit(pp, job_counted, &c[y], &t[y]) == 0, "submit %d", y);
        CHILD_REQUIRE(slot_of(pp, t[y]) == slot_of(pp, t[Y1]), "job %d not in Y1's slot", y);
        CHILD_REQUIRE(claim_end(pp, &held[k], &moved) == (int64_t)slot_of(pp, t[y]) && !moved,
                      "worker %u did not take job %d through the old entry", held_w[k], y);
        run_as(pp, held_w[k], slot_of(pp, t[y]));
        CHILD_REQUIRE(parx_procs_wait(pp, t[y], &r) == 0 && r.status == c[y].value, "wait %d", y);
    }
    uint64_t h = atomic_load(&pp->ctl->head), tl = atomic_load(&pp->ctl->tail);
    CHILD_REQUIRE(tl - h == 4 &&
                      atomic_load(&pp->ring[h & pp->ctl->ring_mask]) == slot_of(pp, t[F]),
                  "ring: %llu entries, head names slot %u", (unsigned long long)(tl - h),
                  atomic_load(&pp->ring[h & pp->ctl->ring_mask]));

    CHILD_REQUIRE(parx_procs_submit(pp, job_counted, &c[G], &t[G]) == 0, "submit G");
    for (int w = 0; w < 4; w++)
        CHILD_REQUIRE(kill(pids[w], SIGKILL) == 0, "kill worker %d", w);
    CHILD_REQUIRE(parx_procs_wait(pp, t[F], &r) == 0 && r.status == c[F].value, "wait F: %d",
                  r.status);
    CHILD_REQUIRE(parx_procs_wait(pp, t[G], &r) == 0 && r.status == c[G].value, "wait G: %d",
                  r.status);
    for (int i = 0; i < N; i++)
        CHILD_REQUIRE(atomic_load(&c[i].runs) == 1, "job %d ran %d times", i,
                      atomic_load(&c[i].runs));
    parx_procs_info info = wait_started(pp, 8);
    CHILD_REQUIRE(info.started == 8 && info.crashed == 0, "started %llu crashed %llu",
                  (unsigned long long)info.started, (unsigned long long)info.crashed);
    parx_procs_destroy(pp);
    _exit(0);
}

/* Two slots, four workers. Three workers, held up since each read job Y1
   at head, take the slot's next three jobs through the old entries: three
   stale entries of that slot, then its job G fills the ring, and all four
   entries name G, queued. A submit to the other slot spun, lock held, for
   a worker to claim G. Now: it returns; G and F each run once. */
static void case_submit_superseded(void)
{
    int pids[4];
    parx_procs *pp = ring_pool(4, 2, 0, pids);
    enum { Y1, Y2, Y3, Y4, G, F, N };
    counted *c = counted_jobs(pp, N, 300);
    parx_ticket t[N];
    parx_job_result r;
    half_claim held[3]; /* workers 0, 2, 3 */
    const uint32_t held_w[3] = {0, 2, 3};
    bool moved;

    CHILD_REQUIRE(parx_procs_submit(pp, job_counted, &c[Y1], &t[Y1]) == 0, "submit Y1");
    for (int k = 0; k < 3; k++)
        CHILD_REQUIRE(claim_begin(pp, held_w[k], &held[k]), "nothing queued at head");
    CHILD_REQUIRE(claim_and_run(pp, 1) == (int64_t)slot_of(pp, t[Y1]), "worker 1's claim");
    CHILD_REQUIRE(parx_procs_wait(pp, t[Y1], &r) == 0 && r.status == c[Y1].value, "wait Y1");
    for (int k = 0; k < 3; k++) {
        int y = Y2 + k;
        CHILD_REQUIRE(parx_procs_submit(pp, job_counted, &c[y], &t[y]) == 0, "submit %d", y);
        CHILD_REQUIRE(slot_of(pp, t[y]) == slot_of(pp, t[Y1]), "job %d not in Y1's slot", y);
        CHILD_REQUIRE(claim_end(pp, &held[k], &moved) == (int64_t)slot_of(pp, t[y]) && !moved,
                      "worker %u did not take job %d through the old entry", held_w[k], y);
        run_as(pp, held_w[k], slot_of(pp, t[y]));
        CHILD_REQUIRE(parx_procs_wait(pp, t[y], &r) == 0 && r.status == c[y].value, "wait %d", y);
    }
    CHILD_REQUIRE(parx_procs_submit(pp, job_counted, &c[G], &t[G]) == 0, "submit G");
    uint64_t h = atomic_load(&pp->ctl->head), tl = atomic_load(&pp->ctl->tail);
    CHILD_REQUIRE(tl - h == 4 && slot_of(pp, t[G]) == slot_of(pp, t[Y1]), "ring: %llu entries",
                  (unsigned long long)(tl - h));
    for (uint64_t p = h; p < tl; p++)
        CHILD_REQUIRE(atomic_load(&pp->ring[p & pp->ctl->ring_mask]) == slot_of(pp, t[G]),
                      "an entry not naming G's slot");

    CHILD_REQUIRE(parx_procs_submit(pp, job_counted, &c[F], &t[F]) == 0, "submit F");
    for (int w = 0; w < 4; w++)
        CHILD_REQUIRE(kill(pids[w], SIGKILL) == 0, "kill worker %d", w);
    CHILD_REQUIRE(parx_procs_wait(pp, t[G], &r) == 0 && r.status == c[G].value, "wait G: %d",
                  r.status);
    CHILD_REQUIRE(parx_procs_wait(pp, t[F], &r) == 0 && r.status == c[F].value, "wait F: %d",
                  r.status);
    for (int i = 0; i < N; i++)
        CHILD_REQUIRE(atomic_load(&c[i].runs) == 1, "job %d ran %d times", i,
                      atomic_load(&c[i].runs));
    parx_procs_info info = wait_started(pp, 8);
    CHILD_REQUIRE(info.started == 8 && info.crashed == 0, "started %llu crashed %llu",
                  (unsigned long long)info.started, (unsigned long long)info.crashed);
    parx_procs_destroy(pp);
    _exit(0);
}

/* One worker, a timeout, no retries. The worker runs job A past the
   timeout; the monitor asks for a kill, and the server, finding the worker
   still on A (slot and start time), sends it. The worker's death is settled
   only later: meanwhile A finishes and is collected, job B is queued in
   A's slot and the worker claims it, and dies there, before it marks B as
   its current job (start_ns is still A's). B did not overrun: it runs
   again on the replacement, uncharged, and returns its value. Before, its
   slot and the stale start time matched the kill's, and B was reported
   -ETIMEDOUT without having run. The monitor is held off by the pool's
   lock, taken here, and the timeout is found overdue under it, so the
   monitor's own checks cannot come first. */
static void case_kill_after_next_claim(void)
{
    const uint64_t timeout = 10000000000ull; /* 10 s: only the start time set below overruns */
    parx_procs_desc d = {.workers = 1, .max_jobs = 1, .job_timeout_ns = timeout,
                         .start = PARX_START_FORK, .arena_bytes = 4u << 20};
    int err = 0, pid;
    parx_procs *pp = parx_procs_create(&d);
    err = pp ? 0 : -errno;
    CHILD_REQUIRE(pp, "parx_procs_create: %s", parx_strerror(err));
    CHILD_REQUIRE(parx_procs_pids(pp, &pid, 1) == 1, "parx_procs_pids");
    CHILD_REQUIRE(stop_worker(pid), "worker (pid %d) did not stop", pid);
    counted *c = counted_jobs(pp, 2, 100);
    parx_ticket ta;
    CHILD_REQUIRE(parx_procs_submit(pp, job_counted, &c[0], &ta) == 0, "submit A");
    uint32_t x = slot_of(pp, ta);
    CHILD_REQUIRE(parx__procs_claim(pp->ctl, pp->jobs, pp->ring, 0) == (int64_t)x, "claim A");
    parx__pworker *me = &pp->workers[0];

    pthread_mutex_lock(&pp->lock);
    uint64_t now = parx__now_ns();
    CHILD_REQUIRE(now > 2 * timeout, "a clock this young cannot make a start overdue");
    atomic_store_explicit(&me->start_ns, now - 2 * timeout, memory_order_relaxed);
    atomic_store_explicit(&me->current, x + 1, memory_order_release);
    parx__procs_check_timeouts_locked(pp);
    CHILD_REQUIRE(pp->kill_why[0] == PARX__KILL_TIMEOUT && !(pp->pending[0] & PARX__P_KILL),
                  "no kill sent for the overdue job");
    CHILD_REQUIRE(wait_pids_dead(&pid, 1) == 0, "the server did not kill the worker");
    /* A finishes (run here, as the worker would) and is collected */
    parx__pjob *j = &pp->jobs[x];
    j->status = job_counted(pp->base + j->arg_off);
    j->run_ns = 1;
    parx__procs_finish(pp->ctl, j);
    atomic_store_explicit(&me->current, 0, memory_order_relaxed);
    parx_job_result r;
    CHILD_REQUIRE(parx__procs_collect_locked(pp, x, &r) == c[0].value, "A: %d", r.status);
    /* B in the same slot, claimed by the same worker, which dies right there */
    uint32_t id;
    CHILD_REQUIRE(parx__procs_fn_id(pp, job_counted, &id) == 0, "fn id");
    uint32_t y = parx__procs_enqueue_locked(pp, id, parx_arena_offset(pp->arena, &c[1]), NULL);
    CHILD_REQUIRE(y == x, "B went to slot %u, not A's %u", y, x);
    parx_ticket tb = parx__procs_ticket(pp, y);
    CHILD_REQUIRE(parx__procs_claim(pp->ctl, pp->jobs, pp->ring, 0) == (int64_t)y, "claim B");
    pthread_mutex_unlock(&pp->lock);

    CHILD_REQUIRE(parx_procs_wait(pp, tb, &r) == 0, "wait B");
    CHILD_REQUIRE(r.status == c[1].value && r.attempts == 1,
                  "B: status %d (%s), attempts %d; it never overran", r.status,
                  parx_strerror(r.status), r.attempts);
    CHILD_REQUIRE(atomic_load(&c[1].runs) == 1, "B ran %d times", atomic_load(&c[1].runs));
    parx_procs_info info;
    parx_procs_stats(pp, &info);
    CHILD_REQUIRE(info.timed_out == 0, "timed_out %llu", (unsigned long long)info.timed_out);
    parx_procs_destroy(pp);
    _exit(0);
}

static void test_requeue_full(void) { in_child(case_requeue_full); }
static void test_kill_after_next_claim(void) { in_child(case_kill_after_next_claim); }
static void test_submit_full(void) { in_child(case_submit_full); }
static void test_submit_superseded(void) { in_child(case_submit_superseded); }

int main(void)
{
    pt_plan(4);
    run_guarded("a crashed job put back on a ring full of stale entries: no hang, runs again",
                test_requeue_full);
    run_guarded("a submit to a ring full of stale entries behind a queued job: all run once",
                test_submit_full);
    run_guarded("a submit behind a ring full of entries that all name one queued job: returns",
                test_submit_superseded);
    run_guarded("a timeout's kill that lands after the worker claimed the next job of the "
                "slot: that job runs again, uncharged",
                test_kill_after_next_claim);
    return pt_done_testing();
}
