/* SPDX-License-Identifier: MIT */
/* tests/uring_probe.c -- io_uring's opcode probe failing. The prefetcher
   and the writer ask the kernel which operations its io_uring can do; a
   kernel before 5.6 has no probe (EINVAL), and then the ring cannot read or
   write files (-EOPNOTSUPP with PARX_IO_URING, the thread backend with
   PARX_IO_AUTO). The probe was liburing's io_uring_get_probe_ring, whose
   NULL also meant "out of memory", which was then reported as that kernel
   (-EOPNOTSUPP, and a wrong reason for AUTO's fallback). This unit
   implements parx itself with PARX__URING_REGISTER_PROBE pointing at a
   registration that fails as the test says. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#ifndef PARX_NO_URING
#include <liburing.h>
static int probe_fails_with; /* 0: the real probe */
static int inject_register_probe(struct io_uring *ring, struct io_uring_probe *p, unsigned nr)
{
    return probe_fails_with ? probe_fails_with : io_uring_register_probe(ring, p, nr);
}
#define PARX__URING_REGISTER_PROBE inject_register_probe
#endif
#define PARX_IMPLEMENTATION
#include "parx.h"
#include "io_common.h"

#ifndef PARX_NO_URING
/* What the prefetcher (or the writer) of this kind makes of a probe that
   fails with `fails`: with PARX_IO_URING the error `want_err`; with
   PARX_IO_AUTO the thread backend, its reason naming `want_why`. */
static void probe_case(int writer, int fails, int want_err, const char *want_why)
{
    const char *what = writer ? "writer" : "prefetcher";
    const char *path = io_path(writer ? "probe-out.dat" : "probe-in.dat");
    if (!writer)
        REQUIRE(io_make_file(path, 100000, 5));
    probe_fails_with = fails;
    for (int autob = 0; autob < 2; autob++) {
        parx_io_backend want = autob ? PARX_IO_AUTO : PARX_IO_URING;
        int err = 0;
        char why[256] = "(none)"; /* copied: the handle's own string goes with it */
        const char *said = NULL;
        parx_io_backend got = PARX_IO_AUTO;
        bool h; /* opened */
        if (writer) {
            parx_writer *w = parx_writer_open(
                &(parx_writer_desc){.path = path, .backend = want}, &err);
            if (w) {
                got = parx_writer_backend(w, &said);
                snprintf(why, sizeof why, "%s", said ? said : "(none)");
            }
            int rc = w ? parx_writer_close(w) : 0;
            CHECK_MSG(rc == 0, "%s close: %d", what, rc);
            h = w != NULL;
        } else {
            const char *paths[1] = {path};
            parx_prefetch *pf = parx_prefetch_open(
                &(parx_prefetch_desc){.paths = paths, .npaths = 1, .backend = want}, &err);
            if (pf) {
                got = parx_prefetch_backend(pf, &said);
                snprintf(why, sizeof why, "%s", said ? said : "(none)");
                uint32_t seed = 5;
                io_result r = io_drain(pf, &seed, NULL);
                CHECK_MSG(r.rc == 0 && r.bad == 0 && r.bytes == 100000,
                          "%s: rc %d, %d bad chunks, %llu bytes", what, r.rc, r.bad,
                          (unsigned long long)r.bytes);
            }
            parx_prefetch_close(pf);
            h = pf != NULL;
        }
        if (!autob) {
            CHECK_MSG(!h && err == want_err,
                      "%s, PARX_IO_URING, probe %d: %s, err %d (%s); want %d (%s)", what, fails,
                      h ? "opened" : "refused", err, parx_strerror(err), want_err,
                      parx_strerror(want_err));
        } else {
            CHECK_MSG(h && got == PARX_IO_THREADS && strstr(why, want_why),
                      "%s, PARX_IO_AUTO, probe %d: %s, backend %d, why \"%s\"; want threads "
                      "and \"%s\"",
                      what, fails, h ? "opened" : parx_strerror(err), (int)got, why, want_why);
        }
    }
    probe_fails_with = 0;
    unlink(path);
}

/* Whether this kernel lets a ring read files, asked through liburing
   alone: a ring set up, liburing's own probe finding IORING_OP_READ, and a
   NOP submitted and completed (as parx checks that io_uring_enter works). */
static bool liburing_can_read(void)
{
    struct io_uring ring;
    if (io_uring_queue_init(4, &ring, 0) < 0)
        return false;
    struct io_uring_probe *p = io_uring_get_probe_ring(&ring);
    bool ok = p && io_uring_opcode_supported(p, IORING_OP_READ);
    if (p)
        io_uring_free_probe(p);
    struct io_uring_sqe *sqe = ok ? io_uring_get_sqe(&ring) : NULL;
    struct io_uring_cqe *cqe = NULL;
    if (sqe) {
        io_uring_prep_nop(sqe);
        ok = io_uring_submit_and_wait(&ring, 1) == 1 && io_uring_peek_cqe(&ring, &cqe) == 0 &&
             cqe->res == 0;
    }
    io_uring_queue_exit(&ring);
    return ok;
}

/* The real probe (parx's own, not the hook's failures): where liburing
   says the kernel's rings read files, parx's PARX_IO_URING opens. A probe
   that broke would otherwise only make the io_uring tests skip. */
static void test_real_probe(void)
{
    bool kernel = liburing_can_read();
    bool parx = io_uring_works();
    if (!kernel && !parx)
        PT_SKIP("no io_uring that reads here (kernel, seccomp or limits)");
    CHECK_MSG(kernel == parx, "liburing: rings %s read files; parx's PARX_IO_URING %s",
              kernel ? "can" : "cannot", parx ? "opens" : "is refused");
}

static void test_probe(void)
{
    if (!io_uring_works())
        PT_SKIP("no io_uring here (kernel, seccomp or limits)");
    for (int writer = 0; writer < 2; writer++) {
        /* out of memory: said as such, not as a kernel that cannot read */
        probe_case(writer, -ENOMEM, -ENOMEM, "probe failed: out of memory");
        /* a kernel without probes (before 5.6): cannot read or write files */
        probe_case(writer, -EINVAL, -EOPNOTSUPP, writer ? "cannot write files"
                                                        : "cannot read files");
        /* anything else is passed on */
        probe_case(writer, -EPERM, -EPERM, "probe failed");
    }
}
#endif

int main(void)
{
#ifdef PARX_NO_URING
    pt_skip_all("built without io_uring (PARX_NO_URING)");
#else
    io_dir("uring-probe");
    run_guarded("the real probe: where liburing's rings read files, PARX_IO_URING opens",
                test_real_probe);
    run_guarded("io_uring's probe failing: -ENOMEM said as such, EINVAL as a kernel that cannot "
                "read, on the prefetcher and the writer",
                test_probe);
    io_dir_remove();
#endif
    return pt_done_testing();
}
