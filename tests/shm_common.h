/* SPDX-License-Identifier: MIT */
/* tests/shm_common.h -- what the shared-memory arena tests (shm.c,
   shm_stress.c, shm_kill.c, shm_leaks.c) have in common:

   run_guarded(name, fn)  one TAP point, like pt_run, that also fails when the
                          test leaves behind a descriptor, a child process
                          (running or a zombie), or a parx-* entry in /dev/shm
                          that no other live process holds, or goes on holding
                          nor removes within a grace time; it also fails when
                          the test closed a descriptor it did not open;
   shm_holders(name)      which live processes hold /dev/shm/<name> open or
                          mapped (a concurrent test's arena is not a leak);
   blk_fill / blk_check   a pattern derived from a 32-bit seed alone, so any
                          process that knows (offset, seed) can check a block;
   rnd                    a small xorshift generator per process;
   expect_child(pid, ...) wait for a child and check how it ended.

   Each including file defines _GNU_SOURCE before any include. */
#ifndef PARX_TEST_SHM_COMMON_H
#define PARX_TEST_SHM_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h> /* shm_unlink */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parx_shm.h"
#include "parx_test.h"

/* ===== small generator ==================================================== */

typedef struct rnd { uint64_t s; } rnd;

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9u;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBu;
    x ^= x >> 31;
    return x;
}

static inline rnd rnd_seed(uint64_t seed)
{
    rnd r = {mix64(seed + 0x9E3779B97F4A7C15u) | 1};
    return r;
}

static inline uint64_t rnd_next(rnd *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s * 0x2545F4914F6CDD1Du;
}

/* a number in [0, n) (n > 0) */
static inline uint64_t rnd_below(rnd *r, uint64_t n)
{
    return (rnd_next(r) >> 11) % n;
}

/* ===== block patterns ===================================================== */

/* A block of `size` bytes gets the pattern of `seed`: byte j of the block is
   a function of (seed, j). Blocks up to 4 KiB are written whole; larger ones
   at their first and last 256 bytes and one 8-byte word every 256 bytes (at
   least one per page, so two large blocks that share a page are caught). */
static inline uint64_t blk_word(uint32_t seed, size_t word)
{
    return mix64(((uint64_t)seed << 32) ^ (uint64_t)word ^ 0x5DEECE66Du);
}

static inline void blk__word_at(unsigned char *p, size_t size, size_t w, uint32_t seed, int set,
                                int *bad)
{
    uint64_t v = blk_word(seed, w);
    size_t at = w * 8;
    size_t n = size - at < 8 ? size - at : 8;
    if (set) {
        memcpy(p + at, &v, n);
    } else if (memcmp(p + at, &v, n) != 0) {
        *bad = 1;
    }
}

static inline int blk__walk(void *ptr, size_t size, uint32_t seed, int set)
{
    unsigned char *p = (unsigned char *)ptr;
    size_t words = (size + 7) / 8;
    int bad = 0;
    if (size <= 4096) {
        for (size_t w = 0; w < words; w++)
            blk__word_at(p, size, w, seed, set, &bad);
        return !bad;
    }
    for (size_t w = 0; w < 32; w++)
        blk__word_at(p, size, w, seed, set, &bad);
    for (size_t w = 32; w + 32 < words; w += 32)
        blk__word_at(p, size, w, seed, set, &bad);
    for (size_t w = words - 32; w < words; w++)
        blk__word_at(p, size, w, seed, set, &bad);
    return !bad;
}

static inline void blk_fill(void *p, size_t size, uint32_t seed)
{
    (void)blk__walk(p, size, seed, 1);
}

/* 1 when the block still holds seed's pattern */
static inline int blk_check(void *p, size_t size, uint32_t seed)
{
    return blk__walk(p, size, seed, 0);
}

/* ===== children =========================================================== */

/* fork after flushing stdout, so a child never writes the parent's pending
   output a second time. */
static inline pid_t xfork(void)
{
    fflush(stdout);
    fflush(stderr);
    return fork();
}

/* Diagnostics from a child: a `# ` line, written at once (TAP readers
   accept diagnostics anywhere). */
#define CHILD_DIAG(...) pt_diag(__VA_ARGS__)

/* Wait for child `pid` (EINTR retried): its wait status, or -1 when
   waitpid fails (errno says why). */
static inline int wait_status(pid_t pid)
{
    int st = 0;
    pid_t r;
    do {
        r = waitpid(pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    return r == pid ? st : -1;
}

/* Wait for child `pid` and check it ended as expected: want_sig 0 means a
   normal exit with status want_code; otherwise death by signal want_sig.
   Returns 1 when it did. */
static inline int expect_child_at(const char *file, int line, pid_t pid, int want_code,
                                  int want_sig)
{
    int st = wait_status(pid);
    if (st == -1) {
        pt__fail(file, line, "waitpid(%d) failed: %s", (int)pid, strerror(errno));
        return 0;
    }
    if (want_sig == 0) {
        if (WIFEXITED(st) && WEXITSTATUS(st) == want_code)
            return 1;
    } else if (WIFSIGNALED(st) && WTERMSIG(st) == want_sig) {
        return 1;
    }
    if (WIFEXITED(st))
        pt__fail(file, line, "child %d exited with %d, expected %s %d", (int)pid,
                 WEXITSTATUS(st), want_sig ? "signal" : "exit", want_sig ? want_sig : want_code);
    else if (WIFSIGNALED(st))
        pt__fail(file, line, "child %d died of signal %d (%s), expected %s %d", (int)pid,
                 WTERMSIG(st), strsignal(WTERMSIG(st)), want_sig ? "signal" : "exit",
                 want_sig ? want_sig : want_code);
    else
        pt__fail(file, line, "child %d: unexpected wait status 0x%x", (int)pid, st);
    return 0;
}
#define expect_child(pid, code, sig) expect_child_at(__FILE__, __LINE__, (pid), (code), (sig))

/* read/write exactly n bytes (pipes between parent and child); 1 on success */
static inline int xread(int fd, void *buf, size_t n)
{
    unsigned char *p = (unsigned char *)buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

static inline int xwrite(int fd, const void *buf, size_t n)
{
    const unsigned char *p = (const unsigned char *)buf;
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

/* ===== /dev/shm =========================================================== */

#define SHM_DIR "/dev/shm"
#define SHM_MAX_ENTRIES 4096

typedef struct shm_list {
    int n;
    char (*name)[256];
} shm_list;

static inline int shm__is_parx(const char *name)
{
    return strncmp(name, "parx-", 5) == 0;
}

/* the parx-* entries of /dev/shm now (n = -1 if it cannot be read) */
static inline shm_list shm_list_now(void)
{
    shm_list l = {0, (char (*)[256])calloc(SHM_MAX_ENTRIES, 256)};
    DIR *d = opendir(SHM_DIR);
    if (!d || !l.name) {
        if (d)
            closedir(d);
        l.n = -1;
        return l;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL && l.n < SHM_MAX_ENTRIES) {
        if (shm__is_parx(e->d_name)) {
            snprintf(l.name[l.n], 256, "%s", e->d_name);
            l.n++;
        }
    }
    closedir(d);
    return l;
}

static inline void shm_list_free(shm_list *l)
{
    free(l->name);
    l->name = NULL;
    l->n = 0;
}

static inline int shm_list_has(const shm_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->name[i], name) == 0)
            return 1;
    return 0;
}

/* whether "/dev/shm/<name without the slash>" exists now; name may start with '/' */
static inline int shm_exists(const char *name)
{
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, SHM_DIR "/%s", name[0] == '/' ? name + 1 : name);
    return stat(path, &st) == 0;
}

/* Which live processes hold /dev/shm/<name> open (an fd) or mapped: counts
   into *self (this process) and *others. */
static inline void shm_holders(const char *name, int *self, int *others)
{
    char want[300];
    snprintf(want, sizeof want, SHM_DIR "/%s", name[0] == '/' ? name + 1 : name);
    size_t wlen = strlen(want);
    *self = 0;
    *others = 0;
    pid_t me = getpid();
    DIR *proc = opendir("/proc");
    if (!proc)
        return;
    struct dirent *pe;
    while ((pe = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(pe->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        int held = 0;
        char path[300], link[512];
        snprintf(path, sizeof path, "/proc/%ld/fd", pid);
        DIR *fds = opendir(path);
        if (fds) {
            struct dirent *fe;
            while (!held && (fe = readdir(fds)) != NULL) {
                if (fe->d_name[0] == '.')
                    continue;
                snprintf(path, sizeof path, "/proc/%ld/fd/%s", pid, fe->d_name);
                ssize_t n = readlink(path, link, sizeof link - 1);
                if (n > 0) {
                    link[n] = '\0';
                    if (strcmp(link, want) == 0)
                        held = 1;
                }
            }
            closedir(fds);
        }
        if (!held) {
            snprintf(path, sizeof path, "/proc/%ld/maps", pid);
            FILE *f = fopen(path, "re");
            if (f) {
                char line[1024];
                while (!held && fgets(line, sizeof line, f)) {
                    char *s = strstr(line, want);
                    if (s && (s[wlen] == '\n' || s[wlen] == '\0' || s[wlen] == ' '))
                        held = 1;
                }
                fclose(f);
            }
        }
        if (held) {
            if (pid == me)
                (*self)++;
            else
                (*others)++;
        }
    }
    closedir(proc);
}

/* ===== descriptors ======================================================== */

#define FD_MAX_LIST 1024

typedef struct fd_list {
    int n;
    int fd[FD_MAX_LIST];
} fd_list;

static inline void fd_list_now(fd_list *l)
{
    l->n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        l->n = -1;
        return;
    }
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && l->n < FD_MAX_LIST) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd != self)
            l->fd[l->n++] = fd;
    }
    closedir(d);
}

static inline int fd_list_has(const fd_list *l, int fd)
{
    for (int i = 0; i < l->n; i++)
        if (l->fd[i] == fd)
            return 1;
    return 0;
}

static inline void fd_describe(int fd, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, buf, size - 1);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
}

/* ===== the guard around each test ========================================= */

static void (*guard__fn)(void);
static fd_list guard__fds_before, guard__fds_after;
/* Static, not on guard__body's stack: a test's child whose main thread
   leaves by pthread_exit still holds it (valgrind would call it lost). */
static shm_list guard__shm_before;

/* Reap whatever children a test left: a running one is killed. Returns how
   many there were. */
static inline int guard__reap_children(void)
{
    int left = 0;
    for (;;) {
        int st;
        pid_t r = waitpid(-1, &st, WNOHANG);
        if (r > 0) {
            left++;
            pt_diag("a child (pid %d) was left as a zombie", (int)r);
            continue;
        }
        if (r < 0)
            break; /* ECHILD: none left */
        /* r == 0: one still runs; find it through /proc and kill it */
        DIR *proc = opendir("/proc");
        pid_t me = getpid();
        struct dirent *pe;
        while (proc && (pe = readdir(proc)) != NULL) {
            char path[300];
            snprintf(path, sizeof path, "/proc/%s/stat", pe->d_name);
            int ppid = 0;
            if (pt_proc_state(path, &ppid) != 0 && ppid == me) {
                pid_t c = (pid_t)atoi(pe->d_name);
                pt_diag("a child (pid %d) was left running; killing it", (int)c);
                kill(c, SIGKILL);
                waitpid(c, &st, 0);
                left++;
            }
        }
        if (proc)
            closedir(proc);
        if (waitpid(-1, &st, WNOHANG) == 0)
            break; /* could not find it; give up rather than spin */
    }
    return left;
}

/* A new name that no live process holds at the end of a test: a leak of
   the test's, or another test's name in a moment when no process holds it,
   as the tests run side by side (tests/shm beside procs_stress, under
   valgrind, many times slower, failed so). A leak stays; another test's
   name is removed, or held again, within moments. Waits up to 2 s (times
   time_scale()) for either: 0 if it came, 1 if the name is still there and
   no other process holds it. */
static inline int shm_left_unheld(const char *name)
{
    for (unsigned i = 0; i < 200 * time_scale(); i++) {
        int self = 0, others = 0;
        if (!shm_exists(name))
            return 0;
        shm_holders(name, &self, &others);
        if (others > 0)
            return 0;
        usleep(10000);
    }
    return 1;
}

static inline void guard__body(void)
{
    fd_list_now(&guard__fds_before);
    guard__shm_before = shm_list_now();
    shm_list *shm_before = &guard__shm_before;
    guard__fn();
    int kids = guard__reap_children();
    CHECK_MSG(kids == 0, "the test left %d child process(es) behind", kids);
    fd_list_now(&guard__fds_after);
    if (guard__fds_before.n >= 0 && guard__fds_after.n >= 0) {
        for (int i = 0; i < guard__fds_after.n; i++) {
            int fd = guard__fds_after.fd[i];
            if (!fd_list_has(&guard__fds_before, fd)) {
                char what[256];
                fd_describe(fd, what, sizeof what);
                CHECK_MSG(0, "descriptor %d (%s) leaked", fd, what);
                close(fd); /* so the next test starts clean */
            }
        }
        for (int i = 0; i < guard__fds_before.n; i++)
            CHECK_MSG(fd_list_has(&guard__fds_after, guard__fds_before.fd[i]),
                      "descriptor %d, open before the test, was closed by it",
                      guard__fds_before.fd[i]);
    }
    shm_list shm_after = shm_list_now();
    if (shm_before->n >= 0 && shm_after.n >= 0) {
        for (int i = 0; i < shm_after.n; i++) {
            const char *name = shm_after.name[i];
            if (shm_list_has(shm_before, name))
                continue;
            int self = 0, others = 0;
            shm_holders(name, &self, &others);
            if (!shm_exists(name))
                continue; /* someone else's, removed meanwhile */
            if (self == 0 && others == 0 && !shm_left_unheld(name))
                continue; /* someone else's: removed, or held again, in the grace time */
            if (others > 0 && self == 0) {
                pt_diag("/dev/shm/%s appeared during the test but another live process holds it "
                        "(a test running beside this one?); not counted as a leak",
                        name);
                continue;
            }
            CHECK_MSG(0, "/dev/shm/%s was left behind (held by this process: %s)", name,
                      self ? "yes" : "no");
            char path[300];
            snprintf(path, sizeof path, "/%s", name);
            shm_unlink(path); /* so the next test starts clean */
        }
    }
    shm_list_free(shm_before);
    shm_list_free(&shm_after);
}

/* One TAP point: fn under the guard. */
static inline int run_guarded(const char *name, void (*fn)(void))
{
    guard__fn = fn;
    return pt_run(name, guard__body);
}

/* ===== handles a forked child inherits ===================================== */

/* A forked child may just _exit with the handles it inherited (parx_shm.h:
   "close the handle the child inherited (or just exit)"). Under valgrind the
   handle then counts as "definitely lost" once its pointer is gone from the
   child's registers, and the leak changes the child's exit status. Keeping
   every handle the parent creates reachable from here makes it "still
   reachable" instead, which is what it is. */
static parx_arena *volatile keep__ring[64]; /* volatile: stores the compiler keeps */
static unsigned keep__next;

static inline parx_arena *keep(parx_arena *a)
{
    keep__ring[keep__next++ % 64] = a;
    return a;
}

/* ===== misc =============================================================== */

/* A name of our own for a named arena: "/parx-test-<pid>-<tag>-<n>", so the
   leak check (parx-*) covers it too. */
static inline const char *test_name(const char *tag)
{
    static char buf[8][128];
    static int next, serial;
    char *b = buf[next];
    next = (next + 1) % 8;
    snprintf(b, 128, "/parx-test-%d-%s-%d", (int)getpid(), tag, serial++);
    return b;
}

#endif /* PARX_TEST_SHM_COMMON_H */
