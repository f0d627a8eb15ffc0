/* SPDX-License-Identifier: MIT */
/* tests/writer_serial.c -- the writer on io_uring keeps one write at a time
   in flight to a character device, as to a pipe: some devices take lseek
   and ignore the offset (each write to /dev/kmsg is the next record, to a
   printer the next bytes), so writes at different offsets never wait for
   one another, and io_uring's workers ran them side by side: the records
   reached the kernel log reversed (found in review). A regular file is not
   held to one. This unit implements parx itself, its
   writer's submissions going through submit_hook (the PARX__WR_SUBMIT
   hook), which counts the writes in flight at each submission. (Under
   PARX_IO_AUTO a character device is written by the thread backend; this
   is PARX_IO_URING asked for.) */
#define _GNU_SOURCE
#ifndef PARX_NO_URING
struct io_uring;
static int submit_hook(struct io_uring *ring);
#define PARX__WR_SUBMIT submit_hook
#endif
#define PARX_IMPLEMENTATION
#include "io_common.h"

#include <stddef.h>

#ifdef PARX_NO_URING
int main(void) { pt_skip_all("built without io_uring (PARX_NO_URING)"); }
#else
static int most_in_flight; /* the most writes live at a submission */

static int submit_hook(struct io_uring *ring)
{
    parx_writer *w = (parx_writer *)(void *)((char *)ring - offsetof(parx_writer, ring));
    int live = 0;
    for (int i = 0; i < w->d.depth; i++)
        live += w->ops[i].live;
    if (live > most_in_flight) most_in_flight = live;
    return io_uring_submit(ring);
}

/* 32 writes of 4 KiB through an io_uring writer of depth 8: the most in
   flight at once, or -1 if the writer could not be had on io_uring. */
static int in_flight_writing(const char *path)
{
    int err = 0;
    parx_writer *w = parx_writer_open(
        &(parx_writer_desc){.path = path, .depth = 8, .backend = PARX_IO_URING}, &err);
    if (!w) return -1;
    static unsigned char buf[4096];
    most_in_flight = 0;
    for (int i = 0; i < 32; i++)
        CHECK_EQ(parx_writer_write(w, buf, sizeof buf), 0);
    CHECK_EQ(parx_writer_close(w), 0);
    return most_in_flight;
}

static void test_char_device_serial(void)
{
    int n = in_flight_writing("/dev/null");
    if (n < 0) PT_SKIP("no io_uring writer here");
    CHECK_MSG(n == 1, "%d writes in flight at once to a character device", n);
}

/* A regular file is not held to one write at a time (how many are in
   flight then is the kernel's timing: under valgrind each completes before
   the next is queued), nor a device other than a character one. */
static void test_regular_file_not_serial(void)
{
    const char *paths[2] = {io_path("serial.dat"), "/dev/null"};
    for (int i = 0; i < 2; i++) {
        int err = 0;
        parx_writer *w = parx_writer_open(
            &(parx_writer_desc){.path = paths[i], .backend = PARX_IO_URING}, &err);
        if (!w) PT_SKIP("no io_uring writer here");
        CHECK_MSG(w->serial == (i == 1), "%s: serial %d", paths[i], (int)w->serial);
        CHECK_EQ(parx_writer_close(w), 0);
    }
    unlink(paths[0]);
}

static void test_auto_char_device_threads(void)
{
    int err = 0;
    parx_writer *w = parx_writer_open(&(parx_writer_desc){.path = "/dev/null"}, &err);
    REQUIRE(w != NULL);
    const char *why = NULL;
    CHECK_EQ(parx_writer_backend(w, &why), PARX_IO_THREADS);
    CHECK_MSG(why && strstr(why, "character device"), "why: %s", why ? why : "(none)");
    CHECK_EQ(parx_writer_close(w), 0);
}

int main(void)
{
    io_dir("wserial");
    run_guarded("io_uring: one write at a time in flight to a character device",
                test_char_device_serial);
    run_guarded("io_uring: a regular file is not held to one write at a time",
                test_regular_file_not_serial);
    run_guarded("PARX_IO_AUTO writes a character device with the thread backend",
                test_auto_char_device_threads);
    io_dir_remove();
    return pt_done_testing();
}
#endif
