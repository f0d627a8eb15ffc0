/* SPDX-License-Identifier: MIT */
/* tests/io_fork.c -- a prefetcher, a writer and a thread pool in a child
   of fork() of the process that made them (see >>prefetch, fork()), with
   real fork()s, on each backend (io_uring where it works here, threads):
     - the child's parx_prefetch_next says -EPERM, its release of a chunk
       the parent holds does nothing, its close frees only its copy; the
       parent reads on, every chunk's bytes in order, the held one intact
       (also with a child that only closes);
     - with .arena, every buffer held: the child's close frees none of the
       parent's blocks (the parent's next allocations in the arena do not
       overlap them, and their bytes stay);
     - the child's write, write_at, flush and close say -EPERM, and no .done
       runs in the child; the parent's close gives 0, the file holds its
       bytes alone, and .done ran once per write in the parent; on a pipe
       too, write_at says -EPERM in the child (-ESPIPE in the parent);
     - parx_run on THREADS with a .pool of the parent's: sequential in the
       child, with fallback (the reason says why), every job done.
   Found in review: the child took the parent's io_uring completions (the
   parent's next read, or its close, hung), freed the parent's arena
   blocks, or hung itself in close or flush (thread backend).
   A hang must end as a failure: each test runs in an opener process of its
   own (forked from this one, which starts no thread), under an alarm; the
   opener forks the child, which has an alarm of its own, and waits for it
   with a bounded loop. This process waits for the opener the same way, and
   is the subreaper of both, so run_guarded (shm_common.h) finds any child
   left behind; the opener checks its own descriptors before and after. */
#ifndef _GNU_SOURCE /* a build may define it for every file */
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "parx.h"
#include "parx_test.h"

#ifdef PARX_NO_PREFETCH
int main(void)
{
    pt_skip_all("built without the prefetcher and writer (PARX_NO_PREFETCH)");
}
#else
#include "io_common.h"
#include "parx_shm.h"

/* Deadlines in seconds, times time_scale() (PARX_TEST_TIME_SCALE). What the
   child does is a few calls; what an opener does, a few MiB of I/O. */
#define CHILD_ALARM_S  5  /* the child's alarm */
#define CHILD_WAIT_S   10 /* the opener's wait for it, after which it is killed */
#define OPENER_ALARM_S 20 /* the opener's alarm */
#define OPENER_WAIT_S  30 /* this process's wait for the opener */

#define CHUNK     ((size_t)256 << 10)
#define DEPTH     4
#define FILE_SIZE ((uint64_t)13 * CHUNK + 12345) /* 14 chunks, the last short */
#define SEED      77u

#define WR_BUFS  8 /* writes queued before the fork */
#define WR_AFTER 2 /* and after it */
#define WR_SIZE  ((size_t)1 << 20)

/* Shared with every process of the test (MAP_SHARED): the .done calls made
   in a child, why an opener skipped, and what an opener was doing (said
   when it hangs or dies). */
typedef struct shared_page {
    atomic_int child_done; /* .done calls made in a fork() child */
    char skip[200];        /* an opener's reason to skip (exit status 77) */
    char step[120];        /* what the opener is doing */
} shared_page;
static shared_page *shared;

#define STEP(...) snprintf(shared->step, sizeof shared->step, __VA_ARGS__)

static parx_io_backend cur_backend;
static const char *data_path;
static uint64_t data_fnv; /* the checksum of the whole file */

/* Objects the parent made, reachable from here in a child that exits
   holding them (valgrind: "still reachable", not lost). */
static void *volatile kept[16];

static void *keep_ptr(void *p)
{
    for (int i = 0; i < 16; i++) {
        if (!kept[i]) {
            kept[i] = p;
            break;
        }
    }
    return p;
}

static void unkeep_ptr(void *p)
{
    for (int i = 0; i < 16; i++)
        if (kept[i] == p)
            kept[i] = NULL;
}

static const char *backend_name(parx_io_backend b)
{
    return b == PARX_IO_URING ? "io_uring" : "threads";
}

/* ===== processes ========================================================== */

/* Wait up to `secs` seconds for child pid to end, without reaping it; at
   the deadline kill it (SIGKILL). Then reap it. Returns its wait status;
   *killed says whether the deadline passed. */
static int wait_bounded(pid_t pid, unsigned secs, bool *killed)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    *killed = false;
    for (;;) {
        siginfo_t si;
        si.si_pid = 0;
        int r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if (r < 0 && errno != EINTR)
            break; /* not our child: wait_status says so */
        if (r == 0 && si.si_pid == pid)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((unsigned)(now.tv_sec - t0.tv_sec) >= secs) {
            *killed = true;
            kill(pid, SIGKILL);
            break;
        }
        nanosleep(&(struct timespec){0, 2000000}, NULL); /* a deadline, not a handshake */
    }
    return wait_status(pid);
}

/* Say how a process ended if not with exit status 0; 1 when it did. */
static int ended_well(const char *who, int st, bool killed, unsigned alarm_s)
{
    if (st == -1)
        return CHECK_MSG(0, "%s: waitpid failed: %s", who, strerror(errno));
    if (killed)
        return CHECK_MSG(0, "%s hung: still running %u s after it started (killed)", who, alarm_s);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
        return CHECK_MSG(0, "%s hung: its %u s alarm went off", who, alarm_s);
    if (WIFSIGNALED(st))
        return CHECK_MSG(0, "%s died of signal %d (%s)", who, WTERMSIG(st),
                         strsignal(WTERMSIG(st)));
    return CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s exited with %d", who,
                     WEXITSTATUS(st));
}

/* The child's side: an alarm, and its own count of failed checks (its
   CHECKs print where they failed). */
static void child_begin(void)
{
    alarm(CHILD_ALARM_S * time_scale());
    atomic_store(&pt__cur_failed, 0);
}

static _Noreturn void child_end(void)
{
    fflush(stdout);
    _exit(atomic_load(&pt__cur_failed) ? 1 : 0);
}

/* The opener's wait for its child. */
static void expect_child_ok(pid_t pid)
{
    bool killed;
    int st = wait_bounded(pid, CHILD_WAIT_S * time_scale(), &killed);
    ended_well("the fork() child", st, killed, CHILD_ALARM_S * time_scale());
}

static void check_fds(const fd_list *before, const fd_list *after)
{
    if (before->n < 0 || after->n < 0)
        return;
    for (int i = 0; i < after->n; i++) {
        if (!fd_list_has(before, after->fd[i])) {
            char what[256];
            fd_describe(after->fd[i], what, sizeof what);
            CHECK_MSG(0, "the opener left descriptor %d (%s) open", after->fd[i], what);
        }
    }
    for (int i = 0; i < before->n; i++)
        CHECK_MSG(fd_list_has(after, before->fd[i]),
                  "descriptor %d, open before the test, was closed by it", before->fd[i]);
}

/* Run `opener_fn` in an opener process of its own (one TAP point, under
   run_guarded here): its checks print where they fail, and its exit
   status says whether any did (77: skipped, shared->skip says why). */
static void (*opener_fn)(void);

static void in_opener(void)
{
    shared->skip[0] = '\0';
    STEP("starting");
    pid_t pid = xfork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(OPENER_ALARM_S * time_scale());
        atomic_store(&pt__cur_failed, 0);
        static fd_list before, after;
        fd_list_now(&before);
        opener_fn();
        STEP("checking for children and descriptors left");
        int kids = guard__reap_children();
        CHECK_MSG(kids == 0, "the opener left %d child process(es) behind", kids);
        fd_list_now(&after);
        check_fds(&before, &after);
        /* exit, not _exit: the opener closed all it made, and LeakSanitizer
           (which runs at exit) checks that it freed it too */
        exit(atomic_load(&pt__cur_failed) ? 1 : shared->skip[0] ? 77 : 0);
    }
    bool killed;
    int st = wait_bounded(pid, OPENER_WAIT_S * time_scale(), &killed);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 77)
        PT_SKIP("%s", shared->skip);
    if (!ended_well("the opener", st, killed, OPENER_ALARM_S * time_scale()))
        pt_diag("the opener was %s", shared->step);
}

#define OPENER_SKIP(...)                                                                           \
    do {                                                                                           \
        snprintf(shared->skip, sizeof shared->skip, __VA_ARGS__);                                  \
        return;                                                                                    \
    } while (0)

/* ===== the prefetcher ===================================================== */

/* A stream read so far: where the next chunk must start, its index, the
   checksum of the bytes in delivery order, chunks that were wrong. */
typedef struct reader {
    uint64_t next_off, index, fnv;
    int bad;
} reader;

static const reader reader_start = {0, 0, IO_FNV_INIT, 0};

/* chunk c as the next of the stream: in order, the file's bytes */
static void reader_take(reader *r, const parx_chunk *c)
{
    int ok = c->data != NULL && c->size > 0 && c->file == 0 && c->index == r->index &&
             c->offset == r->next_off &&
             io_matches((const unsigned char *)c->data, c->size, SEED, c->offset);
    if (!ok && r->bad++ < 3)
        pt_diag("bad chunk %llu: index %llu, offset %llu (expected %llu), size %zu",
                (unsigned long long)r->index, (unsigned long long)c->index,
                (unsigned long long)c->offset, (unsigned long long)r->next_off, c->size);
    if (c->data)
        r->fnv = io_fnv(r->fnv, (const unsigned char *)c->data, c->size);
    r->next_off = c->offset + c->size;
    r->index++;
}

/* read pf on to its end: every byte of the file, in order */
static void reader_finish(parx_prefetch *pf, reader *r)
{
    STEP("reading on after the child (chunk %llu)", (unsigned long long)r->index);
    parx_chunk c;
    int rc;
    while ((rc = parx_prefetch_next(pf, &c)) == 1) {
        reader_take(r, &c);
        parx_prefetch_release(pf, &c);
    }
    CHECK_MSG(rc == 0 && r->bad == 0 && r->next_off == FILE_SIZE && r->fnv == data_fnv,
              "the parent's stream: rc %d (%s), %d bad chunks, %llu of %llu bytes, checksum %s", rc,
              parx_strerror(rc), r->bad, (unsigned long long)r->next_off,
              (unsigned long long)FILE_SIZE, r->fnv == data_fnv ? "right" : "wrong");
}

static parx_prefetch *open_prefetch(parx_arena *arena, int *err)
{
    const char *paths[1] = {data_path};
    *err = 0;
    parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                 .npaths = 1,
                                                                 .chunk_size = CHUNK,
                                                                 .depth = DEPTH,
                                                                 .backend = cur_backend,
                                                                 .arena = arena},
                                           err);
    if (pf)
        CHECK_EQ(parx_prefetch_backend(pf, NULL), cur_backend);
    return pf;
}

/* The parent holds chunk 0 (the other buffers being read) and forks; the
   child calls next (with_next) and releases the held chunk, then closes;
   or only closes. The parent's chunk 0 is intact, and it reads on. */
static void prefetch_child(bool with_next)
{
    int err;
    parx_prefetch *pf = open_prefetch(NULL, &err);
    if (!CHECK_MSG(pf != NULL, "parx_prefetch_open: %s", parx_strerror(err)))
        return;
    reader r = reader_start;
    parx_chunk held;
    int rc = parx_prefetch_next(pf, &held);
    if (!CHECK_EQ(rc, 1)) {
        parx_prefetch_close(pf);
        return;
    }
    reader_take(&r, &held);
    STEP("waiting for the child");
    pid_t pid = xfork();
    if (pid == 0) {
        child_begin();
        if (with_next) {
            parx_chunk c, copy = held;
            memset(&c, 0, sizeof c);
            CHECK_EQ(parx_prefetch_next(pf, &c), -EPERM);
            CHECK_EQ(parx_prefetch_next(pf, &c), -EPERM); /* and again */
            CHECK(c.data == NULL);
            parx_prefetch_release(pf, &held);
            CHECK_MSG(held.data == copy.data && held.size == copy.size &&
                          held.offset == copy.offset && held.index == copy.index &&
                          held.parx__slot == copy.parx__slot,
                      "release changed the chunk");
            CHECK_EQ(parx_prefetch_next(pf, &c), -EPERM);
        }
        parx_prefetch_close(pf);
        child_end();
    }
    CHECK(pid > 0);
    if (pid > 0)
        expect_child_ok(pid);
    CHECK_MSG(io_matches((const unsigned char *)held.data, held.size, SEED, held.offset),
              "the chunk the parent held across the fork changed");
    STEP("releasing the chunk it held across the fork");
    parx_prefetch_release(pf, &held);
    reader_finish(pf, &r);
    STEP("closing the prefetcher");
    parx_prefetch_close(pf);
}

static void test_prefetch_child_next(void)
{
    prefetch_child(true);
}

static void test_prefetch_child_close(void)
{
    prefetch_child(false);
}

/* With .arena: the parent holds every buffer (nothing in flight), forks,
   and the child closes. The parent then takes the arena's free space in
   64 KiB blocks: none may lie in a held buffer, and writing them all must
   leave the held chunks' bytes as they were. */
static void test_prefetch_arena(void)
{
    int err = 0;
    parx_arena *arena = keep(parx_arena_create(&(parx_arena_desc){.size = 16 << 20}, &err));
    if (!CHECK_MSG(arena != NULL, "parx_arena_create: %s", parx_strerror(err)))
        return;
    parx_prefetch *pf = open_prefetch(arena, &err);
    if (!pf && err == -EOPNOTSUPP) {
        parx_arena_close(arena);
        OPENER_SKIP(".arena is not supported in this build");
    }
    if (!CHECK_MSG(pf != NULL, "parx_prefetch_open: %s", parx_strerror(err))) {
        parx_arena_close(arena);
        return;
    }
    reader r = reader_start;
    parx_chunk held[DEPTH];
    int nheld = 0;
    for (; nheld < DEPTH; nheld++) {
        if (!CHECK_EQ(parx_prefetch_next(pf, &held[nheld]), 1))
            break;
        reader_take(&r, &held[nheld]);
    }
    parx_chunk more;
    if (nheld == DEPTH)
        CHECK_EQ(parx_prefetch_next(pf, &more), -EBUSY); /* all held */
    STEP("waiting for the child");
    pid_t pid = xfork();
    if (pid == 0) {
        child_begin();
        parx_prefetch_close(pf);
        child_end();
    }
    CHECK(pid > 0);
    if (pid > 0)
        expect_child_ok(pid);

    STEP("allocating in the arena after the child");
    enum { BLK = 64 << 10, MAXBLK = 16 << 4 };
    static void *blk[MAXBLK];
    int nblk = 0, overlaps = 0;
    while (nblk < MAXBLK) {
        unsigned char *p = (unsigned char *)parx_arena_alloc(arena, BLK, 0);
        if (!p)
            break;
        for (int i = 0; i < nheld; i++) {
            const unsigned char *d = (const unsigned char *)held[i].data;
            if (p < d + CHUNK && d < p + BLK && overlaps++ < 3)
                pt_diag("a new block at arena offset %llu overlaps held chunk %d (offset %llu)",
                        (unsigned long long)parx_arena_offset(arena, p), i,
                        (unsigned long long)held[i].arena_offset);
        }
        memset(p, 0xA5, BLK);
        blk[nblk++] = p;
    }
    CHECK_MSG(nblk > 0, "no block could be had in the arena");
    CHECK_MSG(overlaps == 0, "%d new blocks overlap chunks the parent holds", overlaps);
    for (int i = 0; i < nheld; i++)
        CHECK_MSG(
            io_matches((const unsigned char *)held[i].data, held[i].size, SEED, held[i].offset),
            "held chunk %d (offset %llu) changed", i, (unsigned long long)held[i].offset);
    for (int i = 0; i < nblk; i++)
        CHECK_EQ(parx_arena_free(arena, blk[i]), 0);
    STEP("releasing the chunks it held across the fork");
    for (int i = 0; i < nheld; i++)
        parx_prefetch_release(pf, &held[i]);
    reader_finish(pf, &r);
    STEP("closing the prefetcher");
    parx_prefetch_close(pf);
    parx_arena_close(arena);
}

/* ===== the writer ========================================================= */

typedef struct wr_state {
    pid_t opener;
    const unsigned char *bufs[WR_BUFS + WR_AFTER];
    atomic_int calls; /* .done calls in the parent */
    atomic_uint seen; /* bit i: bufs[i] was done */
    atomic_int bad;   /* a buffer done twice, or not ours, or an error */
} wr_state;

static void on_done(const void *buf, size_t size, int status, void *user)
{
    wr_state *s = (wr_state *)user;
    if (getpid() != s->opener) { /* the child's copy of the writer */
        atomic_fetch_add(&shared->child_done, 1);
        return;
    }
    atomic_fetch_add(&s->calls, 1);
    int i = 0;
    while (i < WR_BUFS + WR_AFTER && s->bufs[i] != buf)
        i++;
    if (i == WR_BUFS + WR_AFTER || size != WR_SIZE || status != 0 ||
        (atomic_fetch_or(&s->seen, 1u << i) & (1u << i)))
        atomic_fetch_add(&s->bad, 1);
}

/* The parent queues 8 writes of 1 MiB and forks; the child's write,
   write_at, flush and close are refused; the parent writes 2 more, and
   its flush and close give 0. */
/* Whether the writer's writes are all done, its thread waiting for work,
   when the child is forked (else 8 MiB are still being written). A child's
   close that took the parent's path then hung in the condition variable
   the parent's thread waits on. */
static bool wr_idle;

static void test_writer(void)
{
    char name[64];
    snprintf(name, sizeof name, "writer-%s.dat", backend_name(cur_backend));
    const char *path = io_path(name);
    static wr_state st;
    memset(&st, 0, sizeof st);
    st.opener = getpid();
    atomic_store(&shared->child_done, 0);
    int err = 0;
    parx_writer *w = parx_writer_open(
        &(parx_writer_desc){
            .path = path, .depth = 16, .backend = cur_backend, .done = on_done, .done_user = &st},
        &err);
    if (!w && cur_backend == PARX_IO_URING)
        OPENER_SKIP("no io_uring writer here: %s", parx_strerror(err));
    if (!CHECK_MSG(w != NULL, "parx_writer_open: %s", parx_strerror(err)))
        return;
    CHECK_EQ(parx_writer_backend(w, NULL), cur_backend);
    unsigned char *bufs[WR_BUFS + WR_AFTER];
    for (int i = 0; i < WR_BUFS + WR_AFTER; i++) {
        bufs[i] = (unsigned char *)keep_ptr(malloc(WR_SIZE));
        if (!bufs[i])
            pt_bail_out("no memory for the writer's buffers");
        io_fill(bufs[i], WR_SIZE, SEED + 1, (uint64_t)i * WR_SIZE);
        st.bufs[i] = bufs[i];
    }
    for (int i = 0; i < WR_BUFS; i++)
        CHECK_EQ(parx_writer_write(w, bufs[i], WR_SIZE), 0);
    if (wr_idle) {
        CHECK_EQ(parx_writer_flush(w), 0);
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL); /* its thread back asleep */
    }
    STEP("waiting for the child");
    pid_t pid = xfork();
    if (pid == 0) {
        child_begin();
        static unsigned char mine[4096];
        memset(mine, 0xC5, sizeof mine);
        CHECK_EQ(parx_writer_write(w, mine, sizeof mine), -EPERM);
        CHECK_EQ(parx_writer_write_at(w, mine, sizeof mine, 0), -EPERM);
        CHECK_EQ(parx_writer_flush(w), -EPERM);
        CHECK_EQ(parx_writer_close(w), -EPERM);
        CHECK_EQ(atomic_load(&shared->child_done), 0);
        child_end();
    }
    CHECK(pid > 0);
    if (pid > 0)
        expect_child_ok(pid);
    STEP("writing on after the child");
    for (int i = WR_BUFS; i < WR_BUFS + WR_AFTER; i++)
        CHECK_EQ(parx_writer_write(w, bufs[i], WR_SIZE), 0);
    STEP("flushing the writer after the child");
    CHECK_EQ(parx_writer_flush(w), 0);
    STEP("closing the writer after the child");
    CHECK_EQ(parx_writer_close(w), 0);
    CHECK_MSG(atomic_load(&shared->child_done) == 0, ".done ran %d times in the child",
              atomic_load(&shared->child_done));
    CHECK_EQ(atomic_load(&st.calls), WR_BUFS + WR_AFTER);
    CHECK_EQ_U(atomic_load(&st.seen), (1u << (WR_BUFS + WR_AFTER)) - 1);
    CHECK_EQ(atomic_load(&st.bad), 0);

    /* the file: the parent's bytes, no more */
    STEP("checking the file");
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (uint64_t)sb.st_size == (WR_BUFS + WR_AFTER) * WR_SIZE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (CHECK(fd >= 0)) {
        unsigned char *got = bufs[0]; /* ours again now */
        int wrong = 0;
        for (int i = 0; i < WR_BUFS + WR_AFTER; i++) {
            ssize_t n = pread(fd, got, WR_SIZE, (off_t)((uint64_t)i * WR_SIZE));
            if (n != (ssize_t)WR_SIZE || !io_matches(got, WR_SIZE, SEED + 1, (uint64_t)i * WR_SIZE))
                wrong++;
        }
        CHECK_MSG(wrong == 0, "%d MiB of the file are not the parent's bytes", wrong);
        close(fd);
    }
    for (int i = 0; i < WR_BUFS + WR_AFTER; i++) {
        unkeep_ptr(bufs[i]);
        free(bufs[i]);
    }
    unlink(path);
}

static void test_writer_idle(void)
{
    wr_idle = true;
    test_writer();
    wr_idle = false;
}

/* A writer on a stream (a pipe): in the child, write_at is refused for
   being in a child (-EPERM) as every write is, not for the stream
   (-ESPIPE, what it said before the fork check came first); the parent's
   bytes come through the pipe. */
static void test_writer_stream(void)
{
    int pfd[2];
    if (!CHECK(pipe2(pfd, O_CLOEXEC) == 0))
        return;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", pfd[1]);
    int err = 0;
    parx_writer *w = parx_writer_open(
        &(parx_writer_desc){.path = path, .append = true, .backend = cur_backend}, &err);
    if (!w && cur_backend == PARX_IO_URING) {
        close(pfd[0]);
        close(pfd[1]);
        OPENER_SKIP("no io_uring writer here: %s", parx_strerror(err));
    }
    if (!CHECK_MSG(w != NULL, "parx_writer_open: %s", parx_strerror(err))) {
        close(pfd[0]);
        close(pfd[1]);
        return;
    }
    static const char mine[] = "child";
    CHECK_EQ(parx_writer_write_at(w, mine, 5, 0), -ESPIPE); /* the parent's: a stream */
    pid_t pid = xfork();
    if (pid == 0) {
        child_begin();
        CHECK_EQ(parx_writer_write_at(w, mine, 5, 0), -EPERM);
        CHECK_EQ(parx_writer_write(w, mine, 5), -EPERM);
        child_end();
    }
    CHECK(pid > 0);
    if (pid > 0)
        expect_child_ok(pid);
    CHECK_EQ(parx_writer_write(w, "parent", 6), 0);
    CHECK_EQ(parx_writer_close(w), 0);
    close(pfd[1]);
    char got[16] = {0};
    CHECK_EQ(read(pfd[0], got, sizeof got), 6);
    CHECK(memcmp(got, "parent", 6) == 0);
    close(pfd[0]);
}

/* ===== parx_run with a forked .pool ======================================= */

enum { RUN_JOBS = 300 };

static int run_job(void *ctx, size_t i, parx_rng *rng, void *out)
{
    (void)ctx;
    uint64_t v = parx_rng_next(rng) ^ i;
    memcpy(out, &v, sizeof v);
    return i % 7 == 3 ? 5 : 0; /* a code of its own, for some */
}

/* parx_run on THREADS with pool p and `workers` (the caller counts): every
   job's result and code; the backend the report says. In the child the
   parent's pool cannot run anything: sequential, with fallback, with one
   worker too (the caller alone needs none of the pool's threads, but the
   pool is still the parent's). */
static void run_on(parx_pool *p, bool in_child, int workers)
{
    static uint64_t out[RUN_JOBS];
    static parx_job_result res[RUN_JOBS];
    memset(out, 0, sizeof out);
    memset(res, 0, sizeof res);
    parx_run_report rep;
    memset(&rep, 0, sizeof rep);
    int rc = parx_run(RUN_JOBS, run_job, NULL, res,
                      &(parx_run_desc){.exec = PARX_EXEC_THREADS,
                                       .workers = workers,
                                       .pool = p,
                                       .seed = 99,
                                       .out = out,
                                       .out_size = sizeof *out},
                      &rep);
    int want_failed = 0, wrong = 0;
    for (size_t i = 0; i < RUN_JOBS; i++) {
        parx_rng g = parx_rng_for(99, i);
        int code = i % 7 == 3 ? 5 : 0;
        want_failed += code != 0;
        if (out[i] != (parx_rng_next(&g) ^ i) || res[i].status != code)
            wrong++;
    }
    const char *who = in_child ? "child" : "parent";
    CHECK_MSG(rc == want_failed, "%s: parx_run returned %d, expected %d", who, rc, want_failed);
    CHECK_MSG(wrong == 0, "%s: %d jobs with a wrong result or code", who, wrong);
    if (in_child) {
        CHECK_MSG(rep.fallback && rep.exec == PARX_EXEC_SEQ && rep.workers == 1 &&
                      strstr(rep.reason, "parent of this fork() child") != NULL,
                  "child: report: exec %s, %d workers, fallback %d (%s)", parx_exec_name(rep.exec),
                  rep.workers, (int)rep.fallback, rep.reason);
    } else {
        CHECK_MSG(!rep.fallback && rep.exec == PARX_EXEC_THREADS && rep.workers == workers,
                  "parent: report: exec %s, %d workers, fallback %d (%s)", parx_exec_name(rep.exec),
                  rep.workers, (int)rep.fallback, rep.reason);
    }
}

static void test_run_forked_pool(void)
{
    STEP("creating the pool");
    parx_pool *p = (parx_pool *)keep_ptr(parx_pool_create(&(parx_pool_desc){.threads = 2}));
    if (!CHECK_MSG(p != NULL, "parx_pool_create: %s", strerror(errno)))
        return;
    STEP("running on the pool before the fork");
    run_on(p, false, 3); /* the pool's 2 and the caller */
    STEP("waiting for the child");
    pid_t pid = xfork();
    if (pid == 0) {
        child_begin();
        run_on(p, true, 3);
        run_on(p, true, 1);
        child_end();
    }
    CHECK(pid > 0);
    if (pid > 0)
        expect_child_ok(pid);
    STEP("running on the pool after the fork");
    run_on(p, false, 3); /* the parent's pool is as it was */
    STEP("destroying the pool");
    unkeep_ptr(p);
    parx_pool_destroy(p);
}

/* ===== main =============================================================== */

static void point(const char *name, void (*fn)(void))
{
    opener_fn = fn;
    run_guarded(name, in_opener);
}

int main(void)
{
    shared = (shared_page *)mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE,
                                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        pt_bail_out("no shared page");
    /* openers' children left behind when an opener dies come to us, and
       run_guarded finds them */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        pt_diag("PR_SET_CHILD_SUBREAPER refused (%s): a child an opener leaves when it dies "
                "is not found",
                strerror(errno));
    io_dir("iofork");
    data_path = io_path("data.bin");
    if (!io_make_file(data_path, FILE_SIZE, SEED))
        pt_bail_out("cannot write the test file");
    data_fnv = io_fnv_pattern(IO_FNV_INIT, SEED, 0, FILE_SIZE);

    bool have_uring = false;
#ifndef PARX_NO_URING
    have_uring = io_uring_works();
#endif
    static const parx_io_backend backends[2] = {PARX_IO_URING, PARX_IO_THREADS};
    static const struct {
        const char *what;
        void (*fn)(void);
    } tests[] = {
        {"a fork() child's next (-EPERM), release and close: the parent reads every chunk",
         test_prefetch_child_next},
        {"a fork() child's close alone: the parent reads every chunk", test_prefetch_child_close},
        {".arena, every buffer held: a child's close frees none of them", test_prefetch_arena},
        {"writer: a child's write, write_at, flush, close -EPERM, no .done; the parent's file",
         test_writer},
        {"writer, idle at the fork: the same", test_writer_idle},
        {"writer on a pipe: a child's write_at -EPERM too, not -ESPIPE", test_writer_stream},
    };
    for (int b = 0; b < 2; b++) {
        for (size_t t = 0; t < sizeof tests / sizeof tests[0]; t++) {
            char name[200];
            snprintf(name, sizeof name, "%s: %s", backend_name(backends[b]), tests[t].what);
            if (backends[b] == PARX_IO_URING && !have_uring) {
#ifdef PARX_NO_URING
                pt_skip(name, "built without io_uring (PARX_NO_URING)");
#else
                pt_skip(name, "io_uring does not work here (kernel, seccomp or limits)");
#endif
                continue;
            }
            cur_backend = backends[b];
            point(name, tests[t].fn);
        }
    }
    point("parx_run THREADS with .pool the parent's: sequential in a fork() child, fallback",
          test_run_forked_pool);
    unlink(data_path);
    io_dir_remove();
    munmap(shared, sizeof *shared);
    return pt_done_testing();
}
#endif
