/* tests/prefetch.c -- parx_prefetch: every byte of files whose sizes are not
   multiples of the chunk or of 4 KiB, in every mode (buffered, O_DIRECT,
   buffers in an arena) on both backends; lists of files, byte ranges, bad
   inputs, a missing file and a directory, every buffer held, O_DIRECT on
   tmpfs (refused before Linux 6.6, accepted since), the backend's
   reason; a stale copy of a chunk released, every buffer held at the end,
   ranges up to UINT64_MAX, out of memory in open, reads cancelled by a
   thread's exit, a FIFO in a list, a range of a FIFO, a procfs file (size
   0, not empty), ranges of files with no size past 2^63 - 1 (the largest
   file offset), an O_DIRECT open that runs out of descriptors, an error
   sentence with no memory for it, a range of a device whose reads wait
   (/dev/kmsg). Each test
   runs under the guard of shm_common.h: no descriptor, child or /dev/shm name may be
   left behind. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "io_common.h"
#include "parx_shm.h"

enum { MODE_BUFFERED, MODE_DIRECT, MODE_ARENA, MODE_ARENA_DIRECT, NMODES };
static const char *mode_name[NMODES] = {"buffered", "O_DIRECT", "arena", "arena+O_DIRECT"};

static bool have_uring;

static parx_io_backend backends[3];
static int nbackends;

static const char *backend_name(parx_io_backend b)
{
    return b == PARX_IO_URING ? "io_uring" : b == PARX_IO_THREADS ? "threads" : "auto";
}

/* Read `path` whole with the given settings; check every byte. */
static void check_file(const char *path, uint64_t size, uint32_t seed, parx_io_backend backend,
                       int mode, size_t chunk, int depth, parx_arena *arena)
{
    const char *paths[1] = {path};
    int err = 1;
    parx_prefetch *pf = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = paths,
                              .npaths = 1,
                              .chunk_size = chunk,
                              .depth = depth,
                              .direct = mode == MODE_DIRECT || mode == MODE_ARENA_DIRECT,
                              .backend = backend,
                              .arena = mode >= MODE_ARENA ? arena : NULL},
        &err);
    if (!CHECK_MSG(pf != NULL, "open failed: %s", parx_strerror(err)))
        return;
    CHECK_EQ(err, 0);
    if (backend != PARX_IO_AUTO)
        CHECK_EQ(parx_prefetch_backend(pf, NULL), backend);
    uint64_t next_off[1] = {0};
    io_result r = io_drain(pf, &seed, next_off);
    CHECK_MSG(r.rc == 0 && r.bad == 0 && r.bytes == size && next_off[0] == size &&
                  r.fnv == io_fnv_pattern(IO_FNV_INIT, seed, 0, size),
              "%s %s size %llu chunk %zu depth %d: rc %d (%s), %d bad chunks, %llu bytes",
              backend_name(backend), mode_name[mode], (unsigned long long)size, chunk, depth, r.rc,
              parx_strerror(r.rc), r.bad, (unsigned long long)r.bytes);
    uint64_t want_chunks = size == 0 ? 0
                                     : (size - 1) / (mode == MODE_BUFFERED || mode == MODE_ARENA
                                                         ? chunk
                                                         : (chunk + 4095) / 4096 * 4096) +
                                           1;
    CHECK_EQ_U(r.chunks, want_chunks);
    CHECK_EQ(parx_prefetch_next(pf, &(parx_chunk){0}), 0); /* the end stays the end */
    parx_prefetch_close(pf);
}

static void test_sizes(void)
{
    static const uint64_t sizes[] = {
        0, 1, 4095, 4096, 4097, 65535, 65536, 65537, 3 * 65536 + 12345, 1000003};
    parx_arena *arena = parx_arena_create(&(parx_arena_desc){.size = 64 << 20}, NULL);
    REQUIRE(arena != NULL);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        const char *path = io_path("sizes.dat");
        REQUIRE(io_make_file(path, sizes[i], (uint32_t)i + 1));
        for (int b = 0; b < nbackends; b++)
            for (int m = 0; m < NMODES; m++)
                check_file(path, sizes[i], (uint32_t)i + 1, backends[b], m, 65536, 4, arena);
        unlink(path);
    }
    parx_arena_close(arena);
}

/* Odd chunk sizes (not multiples of 4 KiB; rounded up with O_DIRECT), and
   depths from 1 to 16. */
static void test_chunks_and_depths(void)
{
    const char *path = io_path("chunks.dat");
    const uint64_t size = 777777;
    REQUIRE(io_make_file(path, size, 99));
    static const size_t chunks[] = {7, 1000, 4096, 10000, 131072, 1 << 20, 4 << 20};
    static const int depths[] = {1, 2, 3, 16};
    for (int b = 0; b < nbackends; b++)
        for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++)
            for (size_t d = 0; d < sizeof depths / sizeof *depths; d++) {
                if (chunks[c] == 7 && depths[d] != 3)
                    continue; /* 111111 seven-byte chunks: once is enough */
                check_file(path, size, 99, backends[b], MODE_BUFFERED, chunks[c], depths[d], NULL);
                check_file(path, size, 99, backends[b], MODE_DIRECT, chunks[c], depths[d], NULL);
            }
    unlink(path);
}

/* A list of files, some empty, read in order. */
static void test_file_list(void)
{
    static const uint64_t sizes[] = {70000, 0, 1, 0, 200000, 4096, 0};
    enum { N = sizeof sizes / sizeof *sizes };
    const char *paths[N];
    uint32_t seeds[N];
    char names[N][1024];
    uint64_t total = 0, fnv = IO_FNV_INIT;
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "%s", io_path("list"));
        snprintf(names[i] + strlen(names[i]), 16, "%d.dat", i);
        paths[i] = names[i];
        seeds[i] = 1000 + (uint32_t)i;
        REQUIRE(io_make_file(paths[i], sizes[i], seeds[i]));
        total += sizes[i];
        fnv = io_fnv_pattern(fnv, seeds[i], 0, sizes[i]);
    }
    for (int b = 0; b < nbackends; b++)
        for (int direct = 0; direct < 2; direct++) {
            parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                         .npaths = N,
                                                                         .chunk_size = 32768,
                                                                         .depth = 3,
                                                                         .direct = direct,
                                                                         .backend = backends[b]},
                                                   NULL);
            REQUIRE(pf != NULL);
            uint64_t next_off[N] = {0};
            io_result r = io_drain(pf, seeds, next_off);
            CHECK_MSG(r.rc == 0 && r.bad == 0 && r.bytes == total && r.fnv == fnv,
                      "%s direct=%d: rc %d, %d bad, %llu of %llu bytes", backend_name(backends[b]),
                      direct, r.rc, r.bad, (unsigned long long)r.bytes, (unsigned long long)total);
            for (int i = 0; i < N; i++)
                CHECK_EQ_U(next_off[i], sizes[i]);
            parx_prefetch_close(pf);
        }
    for (int i = 0; i < N; i++)
        unlink(paths[i]);
}

/* Byte ranges: unaligned, out of order, across two files, one empty, one
   past the end (skipped), one running over the end (cut). */
static void test_ranges(void)
{
    const char *paths[2] = {io_path("r0.dat"), io_path("r1.dat")};
    const uint64_t sizes[2] = {300001, 50000};
    uint32_t seeds[2] = {7, 8};
    REQUIRE(io_make_file(paths[0], sizes[0], seeds[0]));
    REQUIRE(io_make_file(paths[1], sizes[1], seeds[1]));
    const parx_io_range ranges[] = {
        {200000, 100001, 0}, /* the tail of file 0, exactly to its end */
        {1, 4095, 0},        {4096, 8192, 0}, {12345, 0, 0}, /* empty */
        {100, 49900, 1},     {0, 100, 1},     {7, 70000, 0},
        {60000, 5000, 1}, /* past the end: nothing */
        {49000, 5000, 1}, /* cut at 50000 */
        {123457, 1, 0},
    };
    enum { NR = sizeof ranges / sizeof *ranges };
    uint64_t total = 0, fnv = IO_FNV_INIT;
    for (int i = 0; i < NR; i++) {
        uint64_t end = ranges[i].offset + ranges[i].length, sz = sizes[ranges[i].file];
        if (end > sz)
            end = sz;
        if (end > ranges[i].offset) {
            total += end - ranges[i].offset;
            fnv = io_fnv_pattern(fnv, seeds[ranges[i].file], ranges[i].offset,
                                 end - ranges[i].offset);
        }
    }
    for (int b = 0; b < nbackends; b++)
        for (int direct = 0; direct < 2; direct++) {
            parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                         .npaths = 2,
                                                                         .ranges = ranges,
                                                                         .nranges = NR,
                                                                         .chunk_size = 16384,
                                                                         .depth = 4,
                                                                         .direct = direct,
                                                                         .backend = backends[b]},
                                                   NULL);
            REQUIRE(pf != NULL);
            io_result r = io_drain(pf, seeds, NULL);
            CHECK_MSG(r.rc == 0 && r.bad == 0 && r.bytes == total && r.fnv == fnv,
                      "%s direct=%d: rc %d, %d bad, %llu of %llu bytes", backend_name(backends[b]),
                      direct, r.rc, r.bad, (unsigned long long)r.bytes, (unsigned long long)total);
            parx_prefetch_close(pf);
        }
    unlink(paths[0]);
    unlink(paths[1]);
}

static void test_bad_inputs(void)
{
    const char *one[1] = {"x"};
    const char *null_path[1] = {NULL};
    const parx_io_range bad_range[1] = {{0, 1, 1}};
    const parx_io_range to_2_64[1] = {{UINT64_MAX - 10, 11, 0}}; /* ends at 2^64 */
    const parx_prefetch_desc bad[] = {
        {.paths = NULL, .npaths = 1},
        {.paths = one, .npaths = 0},
        {.paths = one, .npaths = (size_t)UINT32_MAX + 1}, /* parx_chunk.file is 32 bits */
        {.paths = null_path, .npaths = 1},
        {.paths = one, .npaths = 1, .depth = -1},
        {.paths = one, .npaths = 1, .depth = 100000},
        {.paths = one, .npaths = 1, .threads = -1},
        {.paths = one, .npaths = 1, .threads = 1000},
        {.paths = one, .npaths = 1, .chunk_size = (size_t)1 << 31},
        {.paths = one, .npaths = 1, .ranges = bad_range, .nranges = 1},
        {.paths = one, .npaths = 1, .ranges = to_2_64, .nranges = 1},
        {.paths = one, .npaths = 1, .ranges = NULL, .nranges = 1},
        {.paths = one, .npaths = 1, .backend = (parx_io_backend)7},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int err = 0;
        errno = 0;
        CHECK(parx_prefetch_open(&bad[i], &err) == NULL);
        CHECK_MSG(err == -EINVAL && errno == EINVAL, "desc %zu: err %d", i, err);
    }
    CHECK(parx_prefetch_open(NULL, NULL) == NULL);
    parx_chunk c;
    CHECK_EQ(parx_prefetch_next(NULL, &c), -EINVAL);
    parx_prefetch_release(NULL, &c);
    parx_prefetch_close(NULL);
    CHECK(parx_prefetch_error(NULL) == NULL);
    const char *why = NULL;
    CHECK_EQ(parx_prefetch_backend(NULL, &why), PARX_IO_AUTO);
    CHECK(why != NULL);

    const char *paths[1] = {io_path("bad.dat")};
    REQUIRE(io_make_file(paths[0], 10, 1));
    parx_prefetch *pf =
        parx_prefetch_open(&(parx_prefetch_desc){.paths = paths, .npaths = 1}, NULL);
    REQUIRE(pf != NULL);
    CHECK_EQ(parx_prefetch_next(pf, NULL), -EINVAL);
    CHECK(parx_prefetch_error(pf) == NULL);
    c.parx__slot = 12345; /* a chunk never handed out is ignored */
    parx_prefetch_release(pf, &c);
    CHECK_EQ(parx_prefetch_next(pf, &c), 1);
    CHECK_EQ_U(c.size, 10);
    CHECK_EQ_U(c.arena_offset, UINT64_MAX);
    parx_chunk copy = c;
    parx_prefetch_release(pf, &c);
    parx_prefetch_release(pf, &copy); /* released twice: ignored */
    CHECK_EQ(parx_prefetch_next(pf, &c), 0);
    parx_prefetch_close(pf);
    unlink(paths[0]);
}

/* One path listed 2^20 times, 4 KiB long: copied once per entry, more
   bytes than a 32-bit address space holds. -ENOMEM (before: the count of
   bytes wrapped, and the copy ran past the block it had allocated). */
static void test_paths_past_address_space(void)
{
    size_t n = (size_t)1 << 20;
    static char path[4096];
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    const char **paths = (const char **)malloc(n * sizeof *paths);
    REQUIRE(paths);
    for (size_t i = 0; i < n; i++) paths[i] = path;
    int err = 0;
    parx_prefetch *pf = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = paths, .npaths = n, .backend = PARX_IO_THREADS}, &err);
    CHECK(pf == NULL);
    CHECK_EQ(err, -ENOMEM);
    parx_prefetch_close(pf);
    free(paths);
}

/* A missing file in a list: the files before it are delivered whole, then
   -ENOENT, with the path named; the error stays, for next(pf, NULL) too. A
   directory: -EISDIR. */
static void test_missing_and_directory(void)
{
    const char *good = io_path("good.dat");
    REQUIRE(io_make_file(good, 100000, 5));
    char missing[1024];
    snprintf(missing, sizeof missing, "%s", io_path("no-such-file.dat"));
    const char *paths[3] = {good, missing, good};
    uint32_t seeds[3] = {5, 5, 5};
    for (int b = 0; b < nbackends; b++) {
        parx_prefetch *pf = parx_prefetch_open(
            &(parx_prefetch_desc){
                .paths = paths, .npaths = 3, .chunk_size = 8192, .backend = backends[b]},
            NULL);
        REQUIRE(pf != NULL);
        io_result r = io_drain(pf, seeds, NULL);
        CHECK_EQ(r.rc, -ENOENT);
        CHECK_EQ(r.bad, 0);
        CHECK_EQ_U(r.bytes, 100000);
        const char *msg = parx_prefetch_error(pf);
        CHECK_MSG(msg && strstr(msg, missing) && strstr(msg, "cannot open"),
                  "the message names the file: %s", msg ? msg : "(null)");
        parx_chunk c;
        CHECK_EQ(parx_prefetch_next(pf, &c), -ENOENT);
        /* c NULL too: the error stays, and so does its sentence (it was
           -EINVAL with the file's sentence still given) */
        CHECK_EQ(parx_prefetch_next(pf, NULL), -ENOENT);
        CHECK(parx_prefetch_error(pf) == msg);
        parx_prefetch_close(pf);

        const char *dir[1] = {io__dir};
        pf = parx_prefetch_open(
            &(parx_prefetch_desc){.paths = dir, .npaths = 1, .backend = backends[b]}, NULL);
        REQUIRE(pf != NULL);
        CHECK_EQ(parx_prefetch_next(pf, &c), -EISDIR);
        msg = parx_prefetch_error(pf);
        CHECK(msg && strstr(msg, io__dir));
        parx_prefetch_close(pf);
    }
    unlink(good);
}

/* The caller may hold several chunks; holding all of them gives -EBUSY,
   and held chunks are never overwritten by reading ahead. */
static void test_hold_chunks(void)
{
    const char *path = io_path("hold.dat");
    const uint64_t size = 40 * 4096 + 17;
    REQUIRE(io_make_file(path, size, 3));
    const char *paths[1] = {path};
    for (int b = 0; b < nbackends; b++) {
        parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                     .npaths = 1,
                                                                     .chunk_size = 4096,
                                                                     .depth = 3,
                                                                     .backend = backends[b]},
                                               NULL);
        REQUIRE(pf != NULL);
        parx_chunk held[3];
        CHECK_EQ(parx_prefetch_next(pf, &held[0]), 1);
        CHECK_EQ(parx_prefetch_next(pf, &held[1]), 1);
        CHECK_EQ(parx_prefetch_next(pf, &held[2]), 1);
        parx_chunk extra;
        CHECK_EQ(parx_prefetch_next(pf, &extra), -EBUSY);
        CHECK(parx_prefetch_error(pf) == NULL);
        /* a window of two held chunks slides over the file */
        uint64_t bytes = held[0].size + held[1].size + held[2].size;
        int bad = 0;
        parx_prefetch_release(pf, &held[0]);
        for (;;) {
            if (!io_matches(held[1].data, held[1].size, 3, held[1].offset))
                bad++;
            parx_prefetch_release(pf, &held[1]);
            held[1] = held[2];
            int rc = parx_prefetch_next(pf, &held[2]);
            if (rc != 1) {
                CHECK_EQ(rc, 0);
                break;
            }
            bytes += held[2].size;
        }
        CHECK(io_matches(held[1].data, held[1].size, 3, held[1].offset));
        parx_prefetch_release(pf, &held[1]);
        CHECK_EQ(bad, 0);
        CHECK_EQ_U(bytes, size);
        parx_prefetch_close(pf); /* also with chunks never released: */
        pf = parx_prefetch_open(
            &(parx_prefetch_desc){
                .paths = paths, .npaths = 1, .chunk_size = 4096, .backend = backends[b]},
            NULL);
        REQUIRE(pf != NULL);
        CHECK_EQ(parx_prefetch_next(pf, &extra), 1);
        parx_prefetch_close(pf);
    }
    unlink(path);
}

/* The backend and the reason for it. */
static void test_backend(void)
{
    const char *path = io_path("why.dat");
    REQUIRE(io_make_file(path, 5000, 1));
    const char *paths[1] = {path};
    const char *why = NULL;
    parx_prefetch *pf = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = paths, .npaths = 1, .backend = PARX_IO_THREADS}, NULL);
    REQUIRE(pf != NULL);
    CHECK_EQ(parx_prefetch_backend(pf, &why), PARX_IO_THREADS);
    CHECK_STR_EQ(why, "threads: asked for");
    parx_prefetch_close(pf);

    pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths, .npaths = 1}, NULL);
    REQUIRE(pf != NULL);
    parx_io_backend b = parx_prefetch_backend(pf, &why);
    pt_diag("PARX_IO_AUTO here: %s", why);
    CHECK_EQ(b, have_uring ? PARX_IO_URING : PARX_IO_THREADS);
    if (have_uring)
        CHECK(strstr(why, "io_uring: the kernel allows it") == why);
    parx_prefetch_close(pf);

    int err = 0;
    pf = parx_prefetch_open(
        &(parx_prefetch_desc){.paths = paths, .npaths = 1, .backend = PARX_IO_URING}, &err);
#ifdef PARX_NO_URING
    CHECK(pf == NULL);
    CHECK_EQ(err, -EOPNOTSUPP);
#else
    if (have_uring) {
        REQUIRE(pf != NULL);
        CHECK_EQ(parx_prefetch_backend(pf, &why), PARX_IO_URING);
        CHECK(strstr(why, "io_uring: asked for") == why);
        /* registered buffers: 4 x 1 MiB fits the default 8 MiB RLIMIT_MEMLOCK */
        struct rlimit lim;
        if (getrlimit(RLIMIT_MEMLOCK, &lim) == 0 &&
            (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= (4u << 20)))
            CHECK_MSG(strstr(why, "buffers registered") != NULL, "%s", why);
        parx_prefetch_close(pf);
        pf = parx_prefetch_open(
            &(parx_prefetch_desc){
                .paths = paths, .npaths = 1, .backend = PARX_IO_URING, .no_register = true},
            NULL);
        REQUIRE(pf != NULL);
        parx_prefetch_backend(pf, &why);
        CHECK(strstr(why, "buffers not registered") != NULL);
        parx_prefetch_close(pf);
    } else {
        CHECK(pf == NULL && err < 0);
    }
#endif
    unlink(path);
}

/* A limit on locked memory lower than the buffers: io_uring reads without
   registering them, in a child so the limit stays there. */
static void test_memlock(void)
{
    if (!have_uring) {
        PT_SKIP("io_uring is not available here");
    }
    const char *path = io_path("memlock.dat");
    REQUIRE(io_make_file(path, 3000000, 11));
    pid_t pid = xfork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        struct rlimit lim = {65536, 65536};
        int ok = setrlimit(RLIMIT_MEMLOCK, &lim) == 0;
        const char *paths[1] = {path};
        parx_prefetch *pf =
            parx_prefetch_open(&(parx_prefetch_desc){.paths = paths, .npaths = 1}, NULL);
        const char *why = "";
        ok = ok && pf && parx_prefetch_backend(pf, &why) == PARX_IO_URING &&
             strstr(why, "buffers not registered");
        uint32_t seed = 11;
        io_result r = pf ? io_drain(pf, &seed, NULL) : (io_result){0};
        ok = ok && r.rc == 0 && r.bad == 0 && r.bytes == 3000000;
        if (!ok)
            CHILD_DIAG("memlock child: %s, rc %d, bytes %llu", why, r.rc,
                       (unsigned long long)r.bytes);
        parx_prefetch_close(pf);
        /* small buffers that fit under the limit are registered: 4 x 16 KiB
           under 64 KiB (a region under 2 MiB is counted as it is, not as a
           huge page) */
        pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                      .npaths = 1,
                                                      .chunk_size = 16384,
                                                      .depth = 4,
                                                      .backend = PARX_IO_URING},
                                NULL);
        why = "";
        int small_ok = pf && parx_prefetch_backend(pf, &why) == PARX_IO_URING &&
                       strstr(why, "buffers registered") != NULL;
        seed = 11;
        r = pf ? io_drain(pf, &seed, NULL) : (io_result){0};
        small_ok = small_ok && r.rc == 0 && r.bad == 0 && r.bytes == 3000000;
        if (!small_ok)
            CHILD_DIAG("memlock child, 4 x 16 KiB: %s, rc %d", why, r.rc);
        parx_prefetch_close(pf);
        _exit(ok && small_ok ? 0 : 1);
    }
    expect_child(pid, 0, 0);
    unlink(path);
}

/* Buffers in an arena: the chunk's arena offset finds the same bytes, also
   in a forked process (a worker reads them with no copy). */
static void test_arena(void)
{
    parx_arena *arena = keep(parx_arena_create(&(parx_arena_desc){.size = 16 << 20}, NULL));
    REQUIRE(arena != NULL);
    const char *path = io_path("arena.dat");
    REQUIRE(io_make_file(path, 123456, 21));
    const char *paths[1] = {path};
    for (int b = 0; b < nbackends; b++) {
        parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                     .npaths = 1,
                                                                     .chunk_size = 50000,
                                                                     .arena = arena,
                                                                     .backend = backends[b]},
                                               NULL);
        REQUIRE(pf != NULL);
        parx_chunk c;
        int n = 0;
        while (parx_prefetch_next(pf, &c) == 1) {
            CHECK(c.arena_offset != UINT64_MAX);
            CHECK(parx_arena_ptr(arena, c.arena_offset) == c.data);
            if (n++ == 1) {
                pid_t pid = xfork();
                REQUIRE(pid >= 0);
                if (pid == 0) {
                    const unsigned char *p =
                        (const unsigned char *)parx_arena_ptr(arena, c.arena_offset);
                    _exit(p && io_matches(p, c.size, 21, c.offset) ? 0 : 1);
                }
                expect_child(pid, 0, 0);
            }
            parx_prefetch_release(pf, &c);
        }
        CHECK_EQ(n, 3);
        parx_prefetch_close(pf);
    }
    /* an arena too small for the buffers */
    parx_arena *tiny = parx_arena_create(&(parx_arena_desc){.size = 1 << 20}, NULL);
    REQUIRE(tiny != NULL);
    int err = 0;
    CHECK(parx_prefetch_open(
              &(parx_prefetch_desc){
                  .paths = paths, .npaths = 1, .depth = 8, .chunk_size = 1 << 20, .arena = tiny},
              &err) == NULL);
    CHECK_EQ(err, -ENOMEM);
    parx_arena_close(tiny);
    parx_arena_close(arena);
    unlink(path);
}

/* O_DIRECT on tmpfs: refused at open before Linux 6.6, accepted since.
   Either way the same bytes come back (refused: read buffered, and said
   so through the log hook). */
static int tmpfs_refusals;
static void on_log(parx_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == PARX_LOG_INFO && strstr(msg, "O_DIRECT refused"))
        tmpfs_refusals++;
}

static void test_direct_on_tmpfs(void)
{
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/io-test-%d.dat", (int)getpid());
    if (!io_make_file(path, 300001, 61)) {
        PT_SKIP("cannot write to /dev/shm");
    }
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    int refused = fd < 0;
    if (fd >= 0)
        close(fd);
    pt_diag("tmpfs %s O_DIRECT here", refused ? "refuses" : "accepts");
    const char *paths[1] = {path};
    uint32_t seed = 61;
    parx_set_log(on_log, NULL);
    for (int b = 0; b < nbackends; b++) {
        tmpfs_refusals = 0;
        parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                     .npaths = 1,
                                                                     .chunk_size = 65536,
                                                                     .direct = true,
                                                                     .backend = backends[b]},
                                               NULL);
        REQUIRE(pf != NULL);
        uint64_t off[1] = {0};
        io_result r = io_drain(pf, &seed, off);
        CHECK(r.rc == 0 && r.bad == 0 && r.bytes == 300001);
        CHECK_EQ(tmpfs_refusals, refused);
        parx_prefetch_close(pf);
    }
    parx_set_log(NULL, NULL);
    unlink(path);
}

/* Read pf to its end after chunks 0 .. index - 1 were taken (io_drain
   starts at index 0): every chunk in order, with the pattern of `seed`. */
static io_result drain_rest(parx_prefetch *pf, uint32_t seed, uint64_t index)
{
    io_result r = {0, 0, 0, IO_FNV_INIT, 0};
    parx_chunk c;
    while ((r.rc = parx_prefetch_next(pf, &c)) == 1) {
        if (c.index != index + r.chunks || c.size == 0 ||
            !io_matches((const unsigned char *)c.data, c.size, seed, c.offset))
            r.bad++;
        r.bytes += c.size;
        r.chunks++;
        parx_prefetch_release(pf, &c);
    }
    return r;
}

/* A stale copy of a released chunk is ignored even when its buffer now
   holds a later chunk (same slot, same data pointer): with .depth 1 the
   next chunk is still held, so next() says -EBUSY and its bytes stay. */
static void test_stale_release(void)
{
    const char *path = io_path("stale.dat");
    REQUIRE(io_make_file(path, 8 * 4096, 41));
    const char *paths[1] = {path};
    for (int b = 0; b < nbackends; b++) {
        parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                     .npaths = 1,
                                                                     .chunk_size = 4096,
                                                                     .depth = 1,
                                                                     .backend = backends[b]},
                                               NULL);
        REQUIRE(pf != NULL);
        parx_chunk c0, copy, c1, c2;
        REQUIRE(parx_prefetch_next(pf, &c0) == 1);
        copy = c0;
        parx_prefetch_release(pf, &c0);
        REQUIRE(parx_prefetch_next(pf, &c1) == 1);
        CHECK_EQ_U(c1.index, 1);
        CHECK(c1.data == copy.data); /* one buffer: the same slot */
        parx_prefetch_release(pf, &copy); /* stale: must be ignored */
        CHECK_MSG(parx_prefetch_next(pf, &c2) == -EBUSY,
                  "%s: the stale copy freed the held chunk", backend_name(backends[b]));
        CHECK(io_matches(c1.data, c1.size, 41, c1.offset) && c1.offset == 4096);
        parx_prefetch_release(pf, &c1);
        io_result r = drain_rest(pf, 41, 2);
        CHECK(r.rc == 0 && r.bad == 0 && r.bytes == 6 * 4096);
        parx_prefetch_close(pf);
    }
    unlink(path);
}

/* Holding every buffer at the end of the stream is the end (0), not
   -EBUSY: every chunk was delivered. Also with empty files after the last
   chunk, and with holds that end exactly at depth. */
static void test_end_all_held(void)
{
    const char *path = io_path("allheld.dat");
    const char *empty = io_path("allheld-empty.dat");
    REQUIRE(io_make_file(path, 8 * 4096, 42));
    REQUIRE(io_make_file(empty, 0, 43));
    const char *paths[3] = {path, empty, empty};
    for (int b = 0; b < nbackends; b++)
        for (int npaths = 1; npaths <= 3; npaths += 2) {
            parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                         .npaths = (size_t)npaths,
                                                                         .chunk_size = 4096,
                                                                         .depth = 8,
                                                                         .backend = backends[b]},
                                                   NULL);
            REQUIRE(pf != NULL);
            parx_chunk c[9];
            int n = 0, rc;
            while (n < 9 && (rc = parx_prefetch_next(pf, &c[n])) == 1)
                n++;
            CHECK_EQ(n, 8);
            CHECK_MSG(rc == 0, "%s, %d files: every buffer held at the end gives %d (%s)",
                      backend_name(backends[b]), npaths, rc, parx_strerror(rc));
            CHECK_EQ(parx_prefetch_next(pf, &c[8]), 0); /* the end stays the end */
            for (int i = 0; i < n; i++) {
                CHECK(io_matches(c[i].data, c[i].size, 42, c[i].offset));
                parx_prefetch_release(pf, &c[i]);
            }
            CHECK_EQ(parx_prefetch_next(pf, &c[0]), 0);
            parx_prefetch_close(pf);
        }
    /* one chunk more than buffers: -EBUSY, then the last chunk, then the end */
    REQUIRE(io_make_file(path, 9 * 4096, 42));
    for (int b = 0; b < nbackends; b++) {
        parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                     .npaths = 1,
                                                                     .chunk_size = 4096,
                                                                     .depth = 8,
                                                                     .backend = backends[b]},
                                               NULL);
        REQUIRE(pf != NULL);
        parx_chunk c[9];
        for (int i = 0; i < 8; i++)
            CHECK_EQ(parx_prefetch_next(pf, &c[i]), 1);
        CHECK_EQ(parx_prefetch_next(pf, &c[8]), -EBUSY);
        parx_prefetch_release(pf, &c[0]);
        CHECK_EQ(parx_prefetch_next(pf, &c[8]), 1);
        CHECK(c[8].offset == 8 * 4096 && io_matches(c[8].data, c[8].size, 42, c[8].offset));
        CHECK_EQ(parx_prefetch_next(pf, &c[0]), 0);
        parx_prefetch_close(pf);
    }
    unlink(path);
    unlink(empty);
}

/* Ranges that run far past the end of their file (up to UINT64_MAX) are cut
   at the end of the file, not read chunk by empty chunk to their declared
   end (which would never finish): in a child, under alarm(). ranges given
   with nranges 0 read nothing (not every file whole). */
static void test_ranges_past_eof(void)
{
    const char *paths[2] = {io_path("pastend0.dat"), io_path("pastend1.dat")};
    REQUIRE(io_make_file(paths[0], 5 * 4096 + 100, 44));
    REQUIRE(io_make_file(paths[1], 3000, 45));
    const parx_io_range ranges[] = {
        {0, UINT64_MAX, 0},
        {4096 + 7, UINT64_MAX - 4096 - 7, 0},
        {1000, (uint64_t)1 << 50, 1},
        {1ull << 40, 1ull << 40, 1}, /* starts past the end: nothing */
    };
    uint64_t total = (5 * 4096 + 100) + (4 * 4096 + 100 - 7) + 2000;
    uint64_t fnv = io_fnv_pattern(IO_FNV_INIT, 44, 0, 5 * 4096 + 100);
    fnv = io_fnv_pattern(fnv, 44, 4096 + 7, 4 * 4096 + 100 - 7);
    fnv = io_fnv_pattern(fnv, 45, 1000, 2000);
    uint32_t seeds[2] = {44, 45};
    for (int b = 0; b < nbackends; b++)
        for (int direct = 0; direct < 2; direct++) {
            pid_t pid = xfork();
            REQUIRE(pid >= 0);
            if (pid == 0) {
                alarm(60); /* before the fix: 2^64 / 4096 empty reads */
                parx_prefetch *pf =
                    parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                             .npaths = 2,
                                                             .ranges = ranges,
                                                             .nranges = 4,
                                                             .chunk_size = 4096,
                                                             .depth = 3,
                                                             .direct = direct,
                                                             .backend = backends[b]},
                                       NULL);
                io_result r = pf ? io_drain(pf, seeds, NULL) : (io_result){-1, 0, 0, 0, 0};
                int ok = r.rc == 0 && r.bad == 0 && r.bytes == total && r.fnv == fnv;
                if (!ok)
                    CHILD_DIAG("%s direct %d: rc %d, %d bad, %llu of %llu bytes",
                               backend_name(backends[b]), direct, r.rc, r.bad,
                               (unsigned long long)r.bytes, (unsigned long long)total);
                parx_prefetch_close(pf);
                _exit(ok ? 0 : 1);
            }
            expect_child(pid, 0, 0);
        }
    /* ranges, but none of them */
    for (int b = 0; b < nbackends; b++) {
        parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                     .npaths = 2,
                                                                     .ranges = ranges,
                                                                     .nranges = 0,
                                                                     .backend = backends[b]},
                                               NULL);
        REQUIRE(pf != NULL);
        parx_chunk c;
        CHECK_EQ(parx_prefetch_next(pf, &c), 0);
        parx_prefetch_close(pf);
    }
    unlink(paths[0]);
    unlink(paths[1]);
}

/* A program started with its standard streams closed (a daemon): the
   prefetcher's descriptors -- its files, buffered and O_DIRECT, and its
   ring -- take none of 0, 1 and 2, so a printf (which fails, as it should)
   cannot land on one; the bytes come as on any day. In a child per
   backend, which can close its streams. */
static void test_closed_stdio(void)
{
    const char *path = io_path("stdio.dat");
    REQUIRE(io_make_file(path, 300001, 17));
    for (int b = 0; b < nbackends; b++) {
        for (int direct = 0; direct < 2; direct++) {
            pid_t pid = xfork();
            REQUIRE(pid >= 0);
            if (pid == 0) {
                for (int fd = 0; fd < 3; fd++) /* stdin, stdout, stderr */
                    close(fd);
                const char *paths[1] = {path};
                parx_prefetch *pf = parx_prefetch_open(
                    &(parx_prefetch_desc){.paths = paths, .npaths = 1, .chunk_size = 65536,
                                          .direct = direct != 0, .backend = backends[b]},
                    NULL);
                if (!pf)
                    _exit(20);
                parx_chunk c;
                if (parx_prefetch_next(pf, &c) != 1) /* every file of it open now */
                    _exit(21);
                int held = 0;
                for (int fd = 0; fd < 3; fd++)
                    if (fcntl(fd, F_GETFD) != -1)
                        held |= 1 << fd;
                if (held)
                    _exit(30 + held); /* the prefetcher holds 0, 1 or 2 */
                uint64_t bytes = 0;
                int rc = 1, bad = 0;
                for (; rc == 1; rc = parx_prefetch_next(pf, &c)) {
                    bad += c.offset != bytes ||
                           !io_matches((const unsigned char *)c.data, c.size, 17, c.offset);
                    bytes += c.size;
                    parx_prefetch_release(pf, &c);
                }
                parx_prefetch_close(pf);
                if (rc != 0 || bad || bytes != 300001)
                    _exit(rc < 0 ? 23 : bad ? 24 : 25);
                _exit(0);
            }
            if (!expect_child(pid, 0, 0))
                pt_diag("%s, direct=%d", backend_name(backends[b]), direct);
        }
    }
    unlink(path);
}

/* Out of memory in parx_prefetch_open, after the file table was allocated:
   the failure path must close nothing it did not open (it closed
   descriptor 0, twice). In a child whose address space is capped just
   above what it uses, so that copying a large range list fails. Not under
   a sanitizer or valgrind, whose allocators do not return NULL there. */
static void test_open_enomem_keeps_fd0(void)
{
    const char *blind = io_rlimit_as_blind();
    if (blind) PT_SKIP("%s", blind);
    enum { NR = 4 << 20 }; /* 64 MiB of ranges: the copy cannot fit */
    pid_t pid = xfork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int ok = 1;
        if (fcntl(0, F_GETFD) < 0) { /* make sure descriptor 0 is open */
            int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            ok = fd == 0;
        }
        parx_io_range *ranges = (parx_io_range *)calloc(NR, sizeof *ranges);
        ok = ok && ranges != NULL;
        const char *paths[1] = {"no-such-file"};
        /* room for the small allocations, none for a 64 MiB one */
        ok = ok && io_cap_address_space(16u << 20);
        int err = 0;
        parx_prefetch *pf = ok ? parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                          .npaths = 1,
                                                                          .ranges = ranges,
                                                                          .nranges = NR,
                                                                          .backend =
                                                                              PARX_IO_THREADS},
                                                    &err)
                               : NULL;
        int fd0 = fcntl(0, F_GETFD);
        if (!ok || pf || err != -ENOMEM || fd0 < 0)
            CHILD_DIAG("setup %d, open %p, err %d (%s), descriptor 0 %s", ok, (void *)pf, err,
                       parx_strerror(err), fd0 < 0 ? "closed" : "open");
        _exit(ok && !pf && err == -ENOMEM && fd0 >= 0 ? 0 : 1);
    }
    expect_child(pid, 0, 0);
}

/* With .direct a file is opened twice, buffered and O_DIRECT. When the
   second open fails for want of descriptors (EMFILE, ENFILE) that is an
   error of the file's open, at its place, naming it: it was taken for "the
   file system refuses O_DIRECT" and the file was read buffered, silently.
   Only a refusal (EINVAL) falls back. In a child, whose descriptor limit
   leaves room for the buffered open alone. */
static void test_direct_emfile(void)
{
    const char *path = io_path("emfile.dat");
    REQUIRE(io_make_file(path, 3 * 4096 + 5, 49));
    const char *paths[1] = {path};
    for (int b = 0; b < nbackends; b++) {
        pid_t pid = xfork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                         .npaths = 1,
                                                                         .chunk_size = 4096,
                                                                         .direct = true,
                                                                         .backend = backends[b]},
                                                   NULL);
            /* the lowest free descriptor is the last one the limit allows */
            int k = pf ? fcntl(0, F_DUPFD_CLOEXEC, 0) : -1;
            if (k >= 0)
                close(k);
            struct rlimit lim;
            bool ok = k >= 0 && getrlimit(RLIMIT_NOFILE, &lim) == 0;
            lim.rlim_cur = (rlim_t)k + 1;
            ok = ok && setrlimit(RLIMIT_NOFILE, &lim) == 0;
            parx_chunk c;
            int rc = ok ? parx_prefetch_next(pf, &c) : -12345;
            const char *msg = ok ? parx_prefetch_error(pf) : NULL;
            bool named = msg && strstr(msg, path) && strstr(msg, "cannot open");
            if (!ok || rc != -EMFILE || !named)
                CHILD_DIAG("%s: setup %d, next %d (%s), message %s", backend_name(backends[b]), ok,
                           rc, parx_strerror(rc), msg ? msg : "(null)");
            parx_prefetch_close(pf);
            _exit(ok && rc == -EMFILE && named ? 0 : 1);
        }
        expect_child(pid, 0, 0);
    }
    unlink(path);
}

/* parx_prefetch_error gives a sentence whenever next() returned an error,
   even when there is no memory for one naming the whole path: it gave
   NULL, which a caller printing it with %s passes to printf. In a child
   whose address space is capped after open: a missing file whose 32 MiB
   path (-ENAMETOOLONG) needs a 32 MiB message. */
static void test_error_without_memory(void)
{
    const char *blind = io_rlimit_as_blind();
    if (blind)
        PT_SKIP("%s", blind);
    enum { LEN = 32 << 20 };
    for (int b = 0; b < nbackends; b++) {
        pid_t pid = xfork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            char *path = (char *)malloc(LEN + 1);
            if (path) {
                memset(path, 'n', LEN);
                path[LEN] = 0;
            }
            const char *paths[1] = {path};
            parx_prefetch *pf = path ? parx_prefetch_open(
                                           &(parx_prefetch_desc){
                                               .paths = paths, .npaths = 1, .backend = backends[b]},
                                           NULL)
                                     : NULL;
            /* room for small allocations, none for a 32 MiB one */
            bool ok = pf && io_cap_address_space(4u << 20);
            parx_chunk c;
            int rc = ok ? parx_prefetch_next(pf, &c) : -12345;
            const char *msg = ok ? parx_prefetch_error(pf) : NULL;
            bool good = msg && strstr(msg, "cannot open") && strstr(msg, "nnnnnnnn") &&
                        strstr(msg, parx_strerror(-ENAMETOOLONG));
            if (!ok || rc != -ENAMETOOLONG || !good)
                CHILD_DIAG("%s: setup %d, next %d (%s), message %.100s", backend_name(backends[b]),
                           ok, rc, parx_strerror(rc), msg ? msg : "(null)");
            parx_prefetch_close(pf);
            _exit(ok && rc == -ENAMETOOLONG && good ? 0 : 1);
        }
        expect_child(pid, 0, 0);
    }
}

#ifndef PARX_NO_URING
/* io_uring: reads submitted by a thread that then exits are cancelled by
   the kernel (-ECANCELED); the next caller, on another thread, must read
   them again and get every byte. */
static parx_prefetch *exit_pf;
static uint64_t exit_bytes;
static int exit_rc;
static void *next_once_and_exit(void *arg)
{
    (void)arg;
    parx_chunk c;
    exit_rc = parx_prefetch_next(exit_pf, &c);
    if (exit_rc == 1) {
        exit_bytes += c.size;
        if (!io_matches(c.data, c.size, 46, c.offset))
            exit_rc = -1000;
        parx_prefetch_release(exit_pf, &c); /* submits reads from this thread */
    }
    return NULL;
}
#endif

static void test_thread_exit(void)
{
#ifdef PARX_NO_URING
    PT_SKIP("built with PARX_NO_URING");
#else
    if (!have_uring) {
        PT_SKIP("io_uring is not available here");
    }
    const uint64_t size = 16 << 20;
    const char *path = io_path("exit.dat");
    REQUIRE(io_make_file(path, size, 46));
    const char *paths[1] = {path};
    int failures = 0;
    for (int it = 0; it < 20; it++)
        for (int direct = 0; direct < 2; direct++) {
            exit_pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                               .npaths = 1,
                                                               .chunk_size = 64 << 10,
                                                               .depth = 32,
                                                               .direct = direct,
                                                               .backend = PARX_IO_URING},
                                         NULL);
            REQUIRE(exit_pf != NULL);
            exit_bytes = 0;
            exit_rc = 0;
            pthread_t t;
            REQUIRE(pthread_create(&t, NULL, next_once_and_exit, NULL) == 0);
            pthread_join(t, NULL);
            CHECK_EQ(exit_rc, 1);
            io_result r = drain_rest(exit_pf, 46, exit_rc == 1 ? 1 : 0);
            if (r.rc != 0 || r.bad != 0 || exit_bytes + r.bytes != size) {
                if (failures++ < 3)
                    pt_diag("iteration %d direct %d: rc %d (%s: %s), %d bad, %llu of %llu bytes",
                            it, direct, r.rc, parx_strerror(r.rc),
                            parx_prefetch_error(exit_pf) ? parx_prefetch_error(exit_pf) : "-",
                            r.bad, (unsigned long long)(exit_bytes + r.bytes),
                            (unsigned long long)size);
            }
            parx_prefetch_close(exit_pf);
        }
    CHECK_EQ(failures, 0);
    unlink(path);
#endif
}

/* A FIFO in a list does not block the open (it did, forever: opening a
   FIFO for reading waits for a writer). It cannot be read at offsets, so
   read whole it is -ESPIPE at its place in the list, naming it, after every
   byte of the file before it (it yielded nothing before, silently, and the
   next file was read as if the FIFO were empty). In a child, under
   alarm(). */
static void test_fifo_in_list(void)
{
    const char *fifo = io_path("list.fifo");
    const char *file = io_path("before-fifo.dat");
    unlink(fifo);
    if (mkfifo(fifo, 0600) != 0) {
        PT_SKIP("mkfifo: %s", strerror(errno));
    }
    REQUIRE(io_make_file(file, 10000, 47));
    const char *paths[3] = {file, fifo, file};
    uint32_t seeds[3] = {47, 47, 47};
    for (int b = 0; b < nbackends; b++) {
        pid_t pid = xfork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            alarm(30);
            parx_prefetch *pf = parx_prefetch_open(
                &(parx_prefetch_desc){.paths = paths, .npaths = 3, .backend = backends[b]}, NULL);
            io_result r = pf ? io_drain(pf, seeds, NULL) : (io_result){-1, 0, 0, 0, 0};
            const char *msg = pf ? parx_prefetch_error(pf) : NULL;
            int ok = r.rc == -ESPIPE && r.bad == 0 && r.bytes == 10000 && msg &&
                     strstr(msg, fifo) != NULL;
            if (!ok)
                CHILD_DIAG("%s: rc %d (%s), %llu bytes, message %s", backend_name(backends[b]),
                           r.rc, parx_strerror(r.rc), (unsigned long long)r.bytes,
                           msg ? msg : "(null)");
            parx_prefetch_close(pf);
            _exit(ok ? 0 : 1);
        }
        expect_child(pid, 0, 0);
    }
    unlink(fifo);
    unlink(file);
}

/* A regular file whose size reads 0 but whose reads return bytes (procfs;
   sysfs is the same) is read until a read returns 0, whole and by range,
   on every backend; it yielded nothing before. /proc/self/auxv (a few
   hundred bytes) stays the same for the life of the process, so read() says
   what the prefetcher must bring; 64-byte chunks make several of them. */
static void test_zero_size_procfs(void)
{
    const char *path = "/proc/self/auxv";
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size != 0)
        PT_SKIP("%s: no procfs here, or it gives a size", path);
    for (int b = 0; b < nbackends; b++)
        for (int ranged = 0; ranged < 2; ranged++) {
            const char *paths[2] = {path, io_path("after-proc.dat")};
            REQUIRE(io_make_file(paths[1], 5000, 49));
            const parx_io_range ranges[2] = {{40, UINT64_MAX - 40, 0}, {0, UINT64_MAX, 1}};
            parx_prefetch *pf = parx_prefetch_open(
                &(parx_prefetch_desc){.paths = paths,
                                      .npaths = 2,
                                      .ranges = ranged ? ranges : NULL,
                                      .nranges = ranged ? 2 : 0,
                                      .chunk_size = 64,
                                      .depth = 3,
                                      .backend = backends[b]},
                NULL);
            REQUIRE(pf != NULL);
            static char want[1 << 16]; /* what the file holds, by read() */
            size_t nwant = 0;
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            REQUIRE(fd >= 0);
            for (ssize_t n; (n = read(fd, want + nwant, sizeof want - nwant)) > 0;)
                nwant += (size_t)n;
            close(fd);
            REQUIRE(nwant > 3 * 64 && nwant < sizeof want);
            size_t from = ranged ? 40 : 0, got = 0, after = 0;
            int bad = 0, rc;
            parx_chunk c;
            while ((rc = parx_prefetch_next(pf, &c)) == 1) {
                if (c.file == 0) {
                    if (c.offset != from + got || from + got + c.size > nwant ||
                        memcmp(c.data, want + from + got, c.size) != 0)
                        bad++;
                    got += c.size;
                } else {
                    if (c.offset != after || !io_matches(c.data, c.size, 49, c.offset))
                        bad++;
                    after += c.size;
                }
                parx_prefetch_release(pf, &c);
            }
            CHECK_MSG(rc == 0 && bad == 0 && got == nwant - from && after == 5000,
                      "%s, %s: rc %d (%s), %d bad chunks, %zu of %zu bytes, then %zu of 5000",
                      backend_name(backends[b]), ranged ? "from offset 40" : "whole", rc,
                      parx_strerror(rc), bad, got, nwant - from, after);
            parx_prefetch_close(pf);
            unlink(paths[1]);
        }
}

/* No file holds a byte at or past 2^63 - 1, the largest file offset (off_t):
   a range of a file whose size is unknown (procfs, a character device) is
   cut there as a range of a regular file is cut at its end. It was read:
   pread and io_uring refuse such an offset, and the stream ended in -EINVAL
   at a range that asked for nothing any file can hold. */
static void test_ranges_past_max_offset(void)
{
    const char *proc = "/proc/self/auxv";
    struct stat st;
    if (stat(proc, &st) != 0 || st.st_size != 0 || stat("/dev/zero", &st) != 0 ||
        !S_ISCHR(st.st_mode))
        PT_SKIP("no procfs or no /dev/zero here");
    const char *paths[3] = {proc, "/dev/zero", io_path("after-max.dat")};
    REQUIRE(io_make_file(paths[2], 5000, 47));
    const uint64_t max = (uint64_t)INT64_MAX;
    const parx_io_range ranges[] = {
        {max + 1, 100, 0},          /* procfs, wholly past the largest offset: nothing */
        {max, UINT64_MAX - max, 0}, /* from the largest offset to 2^64 - 1: nothing */
        {max - 10, 1000, 1},        /* /dev/zero: its last 10 possible bytes */
        {UINT64_MAX - 5, 5, 1},     /* nothing */
        {0, 5000, 2},               /* and the list goes on */
    };
    for (int b = 0; b < nbackends; b++)
        for (int direct = 0; direct < 2; direct++) {
            parx_prefetch *pf = parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                                         .npaths = 3,
                                                                         .ranges = ranges,
                                                                         .nranges = 5,
                                                                         .chunk_size = 4096,
                                                                         .depth = 3,
                                                                         .direct = direct,
                                                                         .backend = backends[b]},
                                                   NULL);
            REQUIRE(pf != NULL);
            parx_chunk c;
            int rc, bad = 0;
            uint64_t zeros = 0, after = 0;
            while ((rc = parx_prefetch_next(pf, &c)) == 1) {
                const unsigned char *p = (const unsigned char *)c.data;
                if (c.file == 1) {
                    for (size_t i = 0; i < c.size; i++)
                        bad += p[i] != 0;
                    bad += c.offset + c.size > max;
                    zeros += c.size;
                } else if (c.file == 2) {
                    bad += c.offset != after || !io_matches(p, c.size, 47, c.offset);
                    after += c.size;
                } else {
                    bad++;
                }
                parx_prefetch_release(pf, &c);
            }
            const char *msg = parx_prefetch_error(pf);
            CHECK_MSG(rc == 0 && bad == 0 && zeros == 10 && after == 5000,
                      "%s direct %d: rc %d (%s), %d bad, %llu of 10 zeros, %llu of 5000 bytes",
                      backend_name(backends[b]), direct, rc, msg ? msg : parx_strerror(rc), bad,
                      (unsigned long long)zeros, (unsigned long long)after);
            parx_prefetch_close(pf);
        }
    unlink(paths[2]);
}

/* A range of a FIFO is -ESPIPE on every backend (pread's answer), at its
   place in the list, naming the FIFO: io_uring read the FIFO's stream
   instead -- the bytes a writer had put in it, as if they were at the
   range's offset, or, with no writer, a wait that next() and close()
   never came back from. In a child, under alarm(). */
static void test_fifo_range(void)
{
    const char *fifo = io_path("range.fifo");
    const char *file = io_path("before-fifo.dat");
    unlink(fifo);
    if (mkfifo(fifo, 0600) != 0) {
        PT_SKIP("mkfifo: %s", strerror(errno));
    }
    REQUIRE(io_make_file(file, 10000, 48));
    const char *paths[2] = {file, fifo};
    const parx_io_range ranges[2] = {{0, 10000, 0}, {1000, 4096, 1}};
    for (int b = 0; b < nbackends; b++)
        for (int writer = 0; writer < 2; writer++) {
            pid_t pid = xfork();
            REQUIRE(pid >= 0);
            if (pid == 0) {
                alarm(30);
                int rfd = -1, wfd = -1;
                if (writer) { /* both ends held here, some bytes in the pipe */
                    rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
                    wfd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                    if (wfd < 0 || write(wfd, "stream bytes", 12) != 12)
                        _exit(2);
                }
                parx_prefetch *pf =
                    parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                             .npaths = 2,
                                                             .ranges = ranges,
                                                             .nranges = 2,
                                                             .chunk_size = 4096,
                                                             .backend = backends[b]},
                                       NULL);
                uint32_t seeds[2] = {48, 48};
                io_result r = pf ? io_drain(pf, seeds, NULL) : (io_result){-1, 0, 0, 0, 0};
                const char *msg = pf ? parx_prefetch_error(pf) : NULL;
                int ok = r.rc == -ESPIPE && r.bad == 0 && r.bytes == 10000 && msg &&
                         strstr(msg, fifo) != NULL;
                if (!ok)
                    CHILD_DIAG("%s, writer %d: rc %d (%s), %d bad, %llu bytes, message %s",
                               backend_name(backends[b]), writer, r.rc, parx_strerror(r.rc), r.bad,
                               (unsigned long long)r.bytes, msg ? msg : "(null)");
                parx_prefetch_close(pf);
                if (wfd >= 0)
                    close(wfd);
                if (rfd >= 0)
                    close(rfd);
                _exit(ok ? 0 : 1);
            }
            expect_child(pid, 0, 0);
        }
    unlink(fifo);
    unlink(file);
}

/* A range of a character device whose reads wait for data that may never
   come -- /dev/kmsg, whose end (lseek's SEEK_END, where parx measures a
   device) has nothing to read until the kernel logs more -- is -EAGAIN at
   its place, naming it, after every chunk before it, on every backend
   and with .direct: next() waited for good, and close() too (a reader
   thread stuck in pread, or an io_uring read that never completes). In
   a child, under alarm(). */
static void test_blocking_device_range(void)
{
    const char *dev = "/dev/kmsg";
    int probe = open(dev, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (probe < 0)
        PT_SKIP("%s: %s", dev, strerror(errno));
    close(probe);
    const char *file = io_path("before-kmsg.dat");
    REQUIRE(io_make_file(file, 10000, 50));
    const char *paths[2] = {file, dev};
    const parx_io_range ranges[2] = {{0, 10000, 0}, {0, 4096, 1}};
    for (int b = 0; b < nbackends; b++)
        for (int direct = 0; direct < 2; direct++) {
            pid_t pid = xfork();
            REQUIRE(pid >= 0);
            if (pid == 0) {
                alarm(10); /* a hang ends the child: the test fails, it does not hang */
                parx_prefetch *pf =
                    parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                             .npaths = 2,
                                                             .ranges = ranges,
                                                             .nranges = 2,
                                                             .chunk_size = 4096,
                                                             .direct = direct,
                                                             .backend = backends[b]},
                                       NULL);
                uint32_t seeds[2] = {50, 50};
                io_result r = pf ? io_drain(pf, seeds, NULL) : (io_result){-1, 0, 0, 0, 0};
                const char *msg = pf ? parx_prefetch_error(pf) : NULL;
                int ok = r.rc == -EAGAIN && r.bad == 0 && r.bytes == 10000 && msg &&
                         strstr(msg, dev) != NULL;
                if (!ok)
                    CHILD_DIAG("%s, direct %d: rc %d (%s), %d bad, %llu bytes, message %s",
                               backend_name(backends[b]), direct, r.rc, parx_strerror(r.rc), r.bad,
                               (unsigned long long)r.bytes, msg ? msg : "(null)");
                parx_prefetch_close(pf);
                _exit(ok ? 0 : 1);
            }
            expect_child(pid, 0, 0);
        }
    unlink(file);
}

/* Drop a file from the page cache (written back first). Returns how many
   of its pages are still cached afterwards (mincore), or -1; *npages_out
   gets how many pages it has. */
static long drop_cache(const char *path, uint64_t size, long *npages_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    long page = sysconf(_SC_PAGESIZE), cached = -1;
    size_t npages = (size_t)((size + (uint64_t)page - 1) / (uint64_t)page);
    *npages_out = (long)npages;
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    unsigned char *vec = (unsigned char *)malloc(npages);
    if (m != MAP_FAILED && vec && mincore(m, (size_t)size, vec) == 0) {
        cached = 0;
        for (size_t i = 0; i < npages; i++)
            cached += vec[i] & 1;
    }
    free(vec);
    if (m != MAP_FAILED)
        munmap(m, (size_t)size);
    close(fd);
    return cached;
}

/* Entries of a /proc folder (. and .. aside): this process's threads or
   descriptors. */
static int proc_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - (strcmp(dir, "/proc/self/fd") == 0); /* opendir's own */
}

/* The thread backend with 3 readers, where only one thread can be started
   (room in the address space for one 32 MiB stack): -EAGAIN, and the
   reader that did start is stopped and joined, its files closed. In a
   child, whose address space is capped for good. */
static void test_reader_threads_refused(void)
{
    const char *blind = io_rlimit_as_blind();
    if (blind) PT_SKIP("%s", blind);
    const char *path = io_path("threads-refused.dat");
    REQUIRE(io_make_file(path, 100000, 9));
    pid_t pid = xfork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(30);
        pthread_attr_t attr;
        int ok = pthread_attr_init(&attr) == 0 &&
                 pthread_attr_setstacksize(&attr, 32u << 20) == 0 &&
                 pthread_setattr_default_np(&attr) == 0;
        int fds = proc_entries("/proc/self/fd");
        ok = ok && io_cap_address_space(48u << 20);
        const char *paths[1] = {path};
        int err = 0;
        parx_prefetch *pf =
            ok ? parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                          .npaths = 1,
                                                          .chunk_size = 4096,
                                                          .depth = 2,
                                                          .threads = 3,
                                                          .backend = PARX_IO_THREADS},
                                    &err)
               : NULL;
        int threads = proc_entries("/proc/self/task");
        int fds_after = proc_entries("/proc/self/fd");
        int good = ok && !pf && err == -EAGAIN && threads == 1 && fds_after == fds;
        if (!good)
            CHILD_DIAG("setup %d, open %p, err %d (%s), threads %d (want 1), fds %d -> %d", ok,
                       (void *)pf, err, parx_strerror(err), threads, fds, fds_after);
        _exit(good ? 0 : 1);
    }
    expect_child(pid, 0, 0);
    unlink(path);
}

/* A file that is not in the page cache, read with chunks that are not
   multiples of a page: with the thread backend the consumer, waiting for
   the next chunk, tries to read the one after it with RWF_NOWAIT, which
   stops (whole or part way) where the cache ends; the chunk goes back to a
   reader, which finishes it. Every backend gives the same bytes, in order. */
static void test_cold_file(void)
{
    const uint64_t size = 24u << 20;
    const char *path = io_path("cold.dat");
    REQUIRE(io_make_file(path, size, 53));
    const char *paths[1] = {path};
    uint32_t seeds[1] = {53};
    for (int b = 0; b < nbackends; b++) {
        for (int rep = 0; rep < 3; rep++) {
            long npages = 0, cached = drop_cache(path, size, &npages);
            if (cached < 0 || cached > npages / 2) {
                PT_SKIP("this file system keeps the file cached (%ld pages): no cold reads",
                        cached);
            }
            parx_prefetch *pf = parx_prefetch_open(
                &(parx_prefetch_desc){.paths = paths,
                                      .npaths = 1,
                                      .chunk_size = 100000,
                                      .depth = 6,
                                      .backend = backends[b]},
                NULL);
            REQUIRE(pf != NULL);
            uint64_t expect = 0;
            io_result r = io_drain(pf, seeds, &expect);
            parx_prefetch_close(pf);
            CHECK_MSG(r.rc == 0 && r.bad == 0 && r.bytes == size,
                      "%s: rc %d, %d bad, %llu bytes", backend_name(backends[b]), r.rc, r.bad,
                      (unsigned long long)r.bytes);
        }
    }
    unlink(path);
}

int main(void)
{
    io_dir("prefetch");
#ifndef PARX_NO_URING
    have_uring = io_uring_works();
#endif
    backends[nbackends++] = PARX_IO_THREADS;
    backends[nbackends++] = PARX_IO_AUTO;
    if (have_uring)
        backends[nbackends++] = PARX_IO_URING;
    pt_diag("io_uring %s",
            have_uring ? "available: both backends are tested" : "not available here");
    run_guarded("bad inputs give -EINVAL", test_bad_inputs);
    if (sizeof(size_t) == 4)
        run_guarded("paths adding up past the address space: -ENOMEM",
                    test_paths_past_address_space);
    else
        pt_skip("paths adding up past the address space: -ENOMEM", "a 64-bit build");
    run_guarded("every byte, sizes not multiples of the chunk or 4 KiB, every mode and backend",
                test_sizes);
    run_guarded("odd chunk sizes and depths 1..16", test_chunks_and_depths);
    run_guarded("a list of files, some empty, in order", test_file_list);
    run_guarded("byte ranges: unaligned, out of order, empty, past the end", test_ranges);
    run_guarded("a missing file and a directory: an error naming the path",
                test_missing_and_directory);
    run_guarded("held chunks stay intact; all held gives -EBUSY", test_hold_chunks);
    run_guarded("the backend and why", test_backend);
    run_guarded("RLIMIT_MEMLOCK below the buffers: not registered, same bytes; small ones are",
                test_memlock);
    run_guarded("buffers in an arena, read by a forked process", test_arena);
    run_guarded("O_DIRECT on tmpfs: the same bytes, accepted or refused", test_direct_on_tmpfs);
    run_guarded("a stale copy of a released chunk does not free a later chunk in its buffer",
                test_stale_release);
    run_guarded("every buffer held at the end of the stream: 0, not -EBUSY", test_end_all_held);
    run_guarded("ranges up to UINT64_MAX are cut at the end of the file; nranges 0 reads nothing",
                test_ranges_past_eof);
    run_guarded("out of memory in open: descriptor 0 is not closed", test_open_enomem_keeps_fd0);
    run_guarded("O_DIRECT open out of descriptors (EMFILE): an error naming the file, not buffered",
                test_direct_emfile);
    run_guarded("parx_prefetch_error with no memory for the sentence: a sentence, not NULL",
                test_error_without_memory);
    run_guarded("io_uring: reads cancelled by the exit of the submitting thread are read again",
                test_thread_exit);
    run_guarded("a FIFO in a list does not block; whole, it is -ESPIPE naming it",
                test_fifo_in_list);
    run_guarded("a procfs file (size 0) is read until a read returns 0", test_zero_size_procfs);
    run_guarded("a range of a FIFO: -ESPIPE on every backend, not its stream, not a hang",
                test_fifo_range);
    run_guarded("ranges past the largest file offset (2^63 - 1) are cut there, not -EINVAL",
                test_ranges_past_max_offset);
    run_guarded("a range of a device that would wait (/dev/kmsg): -EAGAIN naming it, not a hang",
                test_blocking_device_range);
    run_guarded("a file not in the page cache: the same bytes on every backend", test_cold_file);
    run_guarded("reader threads that cannot all start: -EAGAIN, the started one stopped",
                test_reader_threads_refused);
    run_guarded("standard streams closed: the prefetcher's files and ring are none of 0, 1, 2",
                test_closed_stdio);
    io_dir_remove();
    return pt_done_testing();
}
