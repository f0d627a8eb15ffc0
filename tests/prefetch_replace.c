/* SPDX-License-Identifier: MIT */
/* tests/prefetch_replace.c -- a file replaced (a new file renamed over its
   path, as programs publish files) while the prefetcher opens it with
   .direct. The prefetcher opens such a file twice by its path, buffered and
   with O_DIRECT; a rename between the two opens gave it descriptors of two
   different files, and the chunks mixed them: the 4 KiB-aligned middles
   from the new file, the unaligned heads and tails from the old one,
   silently. No test can time a rename into that gap, so this unit
   implements parx itself with PARX__PF_OPEN pointing at an open that
   renames the new file over the path just before the O_DIRECT open. Every
   byte must come from one file: the one opened first.
   The same hook also removes the path there, or puts a symbolic link that
   loops, or a socket, in its place: the O_DIRECT open then fails (ENOENT,
   ELOOP, ENXIO), which says nothing of the file opened first, and that file
   must still be read in full (an ELOOP was taken for the file's error). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

static int open_replacing(const char *path, int flags, unsigned mode);
#define PARX__PF_OPEN open_replacing
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "io_common.h"

/* What the hook does to the path before the O_DIRECT open. */
typedef enum { RENAME_OVER, REMOVE, LOOP, SOCKET, NACTIONS } action;
static const char *const action_name[NACTIONS] = {"a file renamed over it", "removed",
                                                  "a symbolic link to itself", "a socket"};
static const int action_errno[NACTIONS] = {0, ENOENT, ELOOP, ENXIO};

static char old_path[1024], new_path[1024];
static action act;
static int replaced;  /* changes made by the hook */
static int direct_rc; /* what the last O_DIRECT open of old_path gave */

/* Put a Unix socket file at path, where nothing listens (what was there removed). */
static int socket_at(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return 0;
    memcpy(a.sun_path, path, strlen(path) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = s >= 0 && unlink(path) == 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s); /* the socket file stays */
    return ok;
}

static int change_path(void)
{
    switch (act) {
    case RENAME_OVER:
        return rename(new_path, old_path) == 0;
    case REMOVE:
        return unlink(old_path) == 0;
    case LOOP: { /* a link's target is taken from the link's own directory */
        const char *slash = strrchr(old_path, '/');
        return unlink(old_path) == 0 && symlink(slash ? slash + 1 : old_path, old_path) == 0;
    }
    case SOCKET:
        return socket_at(old_path);
    default:
        return 0;
    }
}

static int open_replacing(const char *path, int flags, unsigned mode)
{
    if ((flags & O_DIRECT) && strcmp(path, old_path) == 0 && change_path())
        replaced++;
    int fd = parx__io_open(path, flags, mode);
    if ((flags & O_DIRECT) && strcmp(path, old_path) == 0)
        direct_rc = fd < 0 ? fd : 0;
    return fd;
}

enum { CHUNK = 65536, OLD_SEED = 61, NEW_SEED = 62 };
static const uint64_t size = 5 * CHUNK + 1000;

static void test_replaced_between_opens(void)
{
    snprintf(old_path, sizeof old_path, "%s", io_path("old.dat"));
    snprintf(new_path, sizeof new_path, "%s", io_path("new.dat"));
    REQUIRE(io_make_file(old_path, size, OLD_SEED));
    int probe = open(old_path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (probe < 0) {
        unlink(old_path);
        PT_SKIP("this file system refuses O_DIRECT: %s", strerror(errno));
    }
    close(probe);
    parx_io_backend backends[2] = {PARX_IO_THREADS};
    int nbackends = 1;
#ifndef PARX_NO_URING
    if (io_uring_works())
        backends[nbackends++] = PARX_IO_URING;
#endif
    /* the whole file, and a range whose chunks start off the 4 KiB grid
       (a buffered head, an O_DIRECT middle, a buffered tail each) */
    const parx_io_range range[1] = {{100, size - 300, 0}};
    for (act = 0; act < NACTIONS; act++)
        for (int b = 0; b < nbackends; b++)
            for (int ranged = 0; ranged < 2; ranged++) {
                unlink(old_path); /* what the last pass left there */
                REQUIRE(io_make_file(old_path, size, OLD_SEED));
                REQUIRE(io_make_file(new_path, size, NEW_SEED));
                const char *paths[1] = {old_path};
                int before = replaced;
                parx_prefetch *pf =
                    parx_prefetch_open(&(parx_prefetch_desc){.paths = paths,
                                                             .npaths = 1,
                                                             .ranges = ranged ? range : NULL,
                                                             .nranges = ranged ? 1 : 0,
                                                             .chunk_size = CHUNK,
                                                             .depth = 3,
                                                             .direct = true,
                                                             .backend = backends[b]},
                                       NULL);
                REQUIRE(pf != NULL);
                uint32_t seed = OLD_SEED;
                io_result r = io_drain(pf, &seed, NULL);
                parx_prefetch_close(pf);
                uint64_t from = ranged ? 100 : 0, len = ranged ? size - 300 : size;
                CHECK_MSG(replaced == before + 1, "%s: the hook did not change the path",
                          action_name[act]);
                CHECK_MSG(direct_rc == -action_errno[act], "%s: the O_DIRECT open gave %d, not %d",
                          action_name[act], direct_rc, -action_errno[act]);
                CHECK_MSG(r.rc == 0 && r.bad == 0 && r.bytes == len &&
                              r.fnv == io_fnv_pattern(IO_FNV_INIT, OLD_SEED, from, len),
                          "%s, %s, %s: rc %d (%s), %d chunks not of the file opened first, %llu of "
                          "%llu bytes",
                          action_name[act], backends[b] == PARX_IO_URING ? "io_uring" : "threads",
                          ranged ? "a range" : "whole", r.rc, parx_strerror(r.rc), r.bad,
                          (unsigned long long)r.bytes, (unsigned long long)len);
            }
    unlink(old_path);
    unlink(new_path);
}

int main(void)
{
    io_dir("prefetch-replace");
    run_guarded("a path changed between the buffered and the O_DIRECT open (a file renamed over "
                "it, removed, a looping link, a socket): the file opened first, whole",
                test_replaced_between_opens);
    io_dir_remove();
    return pt_done_testing();
}
