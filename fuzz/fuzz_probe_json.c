/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_probe_json.c -- libFuzzer harness: parx_probe_load's reader
   (parx.h, >>run: the JSON file) on text from the fuzzer.

   Each input is read twice: by parx__probe_parse from a heap copy of
   exactly its bytes and the NUL the loader puts after them, so that
   AddressSanitizer sees any read past the text; and by parx_probe_load
   from a file (a memfd, opened through /proc/self/fd), the public path.
   The two must agree, and a failed load must leave *p alone. When the text
   is accepted:
     - every string field is NUL-terminated inside its array; cpus is in
       [1, 2^20], the nine times finite and >= 0, io_uring 0 or 1;
     - the text is JSON (RFC 8259) by the small reader below, which knows
       nothing of parx's, and every string in it is UTF-8;
     - a field differs from the loader's defaults only if the object has a
       key whose decoded bytes are exactly that field's name, and the
       object has the key "parx_probe";
     - the probe can be formatted and predicted from. */
#define _GNU_SOURCE
#define PARX_NO_URING /* the reader is the target; the harness needs no liburing */
#define PARX_IMPLEMENTATION
#include "parx.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_utf8.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the reference reader -------------------------------------------------- */

/* The names of parx_probe's fields as the file spells them, and "parx_probe". */
static const char *const names[] = {
    "parx_probe",    "cpus",            "thread_start_ns", "task_ns",
    "thread_job_ns", "fork_start_ns",   "spawn_start_ns",  "proc_job_ns",
    "proc_rt_ns",    "arena_attach_ns", "gpu_dispatch_ns", "io_uring",
    "io_uring_why",  "gpu_name",        "measured",        "measured_mask",
    "notes"};
#define NNAMES (sizeof names / sizeof names[0])

typedef struct ref {
    const unsigned char *s;
    size_t n, i;
    bool bad_utf8; /* a string held bytes that are no UTF-8 */
    unsigned keys; /* bit k: the top-level object has the key names[k] */
} ref;

static bool ref_hex4(ref *r, unsigned *u)
{
    *u = 0;
    for (int k = 0; k < 4; k++, r->i++) {
        int c = r->i < r->n ? r->s[r->i] : -1;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return false;
        *u = *u * 16 + (unsigned)d;
    }
    return true;
}

/* A string; its decoded bytes go to key (cap bytes) and their count to
   *len, when key is not NULL. (Escapes of lone surrogates are JSON by the
   grammar; they are decoded as 3 bytes, which matches no field's name.) */
static bool ref_string(ref *r, char *key, size_t cap, size_t *len)
{
    size_t l = 0;
    if (r->i >= r->n || r->s[r->i++] != '"') return false;
    for (;;) {
        if (r->i >= r->n) return false;
        unsigned char c = r->s[r->i++], b[4];
        size_t bl = 1;
        unsigned u;
        if (c == '"') break;
        if (c < 0x20) return false;
        if (c == '\\') {
            const char *esc = "\"\\/bfnrt", *raw = "\"\\/\b\f\n\r\t";
            if (r->i >= r->n) return false;
            c = r->s[r->i++];
            if (c == 'u') {
                if (!ref_hex4(r, &u)) return false;
                if (u >= 0xD800 && u < 0xDC00 && r->n - r->i >= 6 && r->s[r->i] == '\\' &&
                    r->s[r->i + 1] == 'u') {
                    size_t at = r->i;
                    unsigned lo;
                    r->i += 2;
                    if (ref_hex4(r, &lo) && lo >= 0xDC00 && lo < 0xE000)
                        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                    else
                        r->i = at;
                }
                static const unsigned lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
                bl = u < 0x80 ? 1 : u < 0x800 ? 2 : u < 0x10000 ? 3 : 4;
                b[0] = (unsigned char)(lead[bl] | u >> (6 * (bl - 1)));
                for (size_t k = 1; k < bl; k++)
                    b[k] = (unsigned char)(0x80 | ((u >> (6 * (bl - 1 - k))) & 0x3F));
            } else if (c && strchr(esc, c)) {
                b[0] = (unsigned char)raw[strchr(esc, c) - esc];
            } else {
                return false;
            }
        } else {
            bl = utf8_len(r->s + r->i - 1, r->n - (r->i - 1));
            if (bl == 0) { /* noted, and read on byte by byte */
                r->bad_utf8 = true;
                bl = 1;
            }
            memcpy(b, r->s + r->i - 1, bl);
            r->i += bl - 1;
        }
        for (size_t k = 0; k < bl; k++, l++)
            if (key && l < cap) key[l] = (char)b[k];
    }
    if (len) *len = l;
    return true;
}

static void ref_ws(ref *r)
{
    while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' ||
                           r->s[r->i] == '\r'))
        r->i++;
}

static bool ref_value(ref *r, int depth, bool top);

/* An object or array at r->s[r->i]; top: the file's object, whose keys are
   noted. */
static bool ref_container(ref *r, int depth, bool top)
{
    unsigned char close = r->s[r->i++] == '{' ? '}' : ']';
    ref_ws(r);
    if (r->i < r->n && r->s[r->i] == close) {
        r->i++;
        return true;
    }
    for (;;) {
        ref_ws(r);
        if (close == '}') {
            char key[32];
            size_t len;
            if (!ref_string(r, key, sizeof key, &len)) return false;
            for (size_t k = 0; top && k < NNAMES; k++)
                if (len == strlen(names[k]) && memcmp(key, names[k], len) == 0) r->keys |= 1u << k;
            ref_ws(r);
            if (r->i >= r->n || r->s[r->i++] != ':') return false;
        }
        if (!ref_value(r, depth + 1, false)) return false;
        ref_ws(r);
        if (r->i >= r->n) return false;
        unsigned char sep = r->s[r->i++];
        if (sep == close) return true;
        if (sep != ',') return false;
    }
}

/* Digits from *i on: how many (*i moves past them). */
static size_t ref_digits(const ref *r, size_t *i)
{
    size_t from = *i;
    while (*i < r->n && r->s[*i] >= '0' && r->s[*i] <= '9') ++*i;
    return *i - from;
}

static bool ref_number(ref *r)
{
    size_t i = r->i;
    if (i < r->n && r->s[i] == '-') i++;
    if (i < r->n && r->s[i] == '0') i++;
    else if (!ref_digits(r, &i)) return false;
    if (i < r->n && r->s[i] == '.') {
        i++;
        if (!ref_digits(r, &i)) return false;
    }
    if (i < r->n && (r->s[i] == 'e' || r->s[i] == 'E')) {
        i++;
        if (i < r->n && (r->s[i] == '+' || r->s[i] == '-')) i++;
        if (!ref_digits(r, &i)) return false;
    }
    r->i = i;
    return true;
}

static bool ref_value(ref *r, int depth, bool top)
{
    static const char *const lits[] = {"true", "false", "null"};
    ref_ws(r);
    if (r->i >= r->n || depth > 1000) return false;
    unsigned char c = r->s[r->i];
    if (c == '{' || (c == '[' && !top)) return ref_container(r, depth, top);
    if (top) return false; /* the file is one object */
    if (c == '"') return ref_string(r, NULL, 0, NULL);
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (r->n - r->i >= l && memcmp(r->s + r->i, lits[k], l) == 0) {
            r->i += l;
            return true;
        }
    }
    return ref_number(r);
}

/* Whether d[0..n) is one JSON object (and nothing else but whitespace). */
static bool ref_object(ref *r, const uint8_t *d, size_t n)
{
    memset(r, 0, sizeof *r);
    r->s = d, r->n = n;
    if (!ref_value(r, 0, true)) return false;
    ref_ws(r);
    return r->i == r->n;
}

/* ---- the harness ----------------------------------------------------------- */

static int memfd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    memfd = memfd_create("fuzz-probe-json", MFD_CLOEXEC);
    if (memfd < 0) abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    return 0;
}

static void fail(const char *what)
{
    fprintf(stderr, "PROPERTY VIOLATION: %s\n", what);
    abort();
}

/* *q as parx_probe_load starts from */
static void loader_defaults(parx_probe *q)
{
    memset(q, 0, sizeof *q);
    parx_probe_defaults(q);
    q->measured = false;
    q->measured_mask = 0;
    q->notes[0] = '\0';
}

/* field by field (a struct's padding is no part of its value); both
   started from loader_defaults, so whole arrays compare */
static bool same(const parx_probe *a, const parx_probe *b)
{
#define SAME(f) (memcmp(&a->f, &b->f, sizeof a->f) == 0)
    return SAME(cpus) && SAME(thread_start_ns) && SAME(task_ns) && SAME(thread_job_ns) &&
           SAME(fork_start_ns) && SAME(spawn_start_ns) && SAME(proc_job_ns) &&
           SAME(proc_rt_ns) && SAME(arena_attach_ns) && SAME(io_uring) && SAME(io_uring_why) &&
           SAME(gpu_dispatch_ns) && SAME(gpu_name) && SAME(measured) && SAME(measured_mask) &&
           SAME(notes);
#undef SAME
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > PARX__PROBE_MAX_FILE) return 0; /* refused before parsing: nothing to see */

    char *text = (char *)malloc(size + 1);
    if (!text) abort();
    if (size) memcpy(text, data, size);
    text[size] = '\0';
    parx_probe q, def;
    loader_defaults(&q);
    def = q;
    parx__json j = {text, size, 0};
    locale_t old = (locale_t)0, c = parx__probe_c_locale(&old);
    int rc = parx__probe_parse(&j, &q);
    parx__probe_locale_back(c, old);
    free(text);

    if (ftruncate(memfd, 0) != 0) abort();
    for (size_t off = 0; off < size;) {
        ssize_t w = pwrite(memfd, data + off, size - off, (off_t)off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    parx_probe p, before;
    memset(&p, 0xA5, sizeof p);
    memcpy(&before, &p, sizeof p);
    int rc2 = parx_probe_load(&p, path);
    if ((rc == 0) != (rc2 == 0)) fail("parx__probe_parse and parx_probe_load disagree");
    if (rc2 != 0) {
        if (rc2 != -EINVAL) fail("parx_probe_load failed with something other than -EINVAL");
        if (memcmp(&p, &before, sizeof p) != 0) fail("parx_probe_load changed *p and failed");
        return 0;
    }
    if (!same(&p, &q)) fail("parx__probe_parse and parx_probe_load differ");

    if (!memchr(p.io_uring_why, 0, sizeof p.io_uring_why) ||
        !memchr(p.gpu_name, 0, sizeof p.gpu_name) || !memchr(p.notes, 0, sizeof p.notes))
        fail("a string field is not NUL-terminated");
    if (p.cpus < 1 || p.cpus > PARX__PROBE_MAX_CPUS) fail("cpus out of range");
    const double t[] = {p.thread_start_ns, p.task_ns,    p.thread_job_ns,
                        p.fork_start_ns,   p.spawn_start_ns, p.proc_job_ns,
                        p.proc_rt_ns,      p.arena_attach_ns, p.gpu_dispatch_ns};
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
        if (!(t[k] >= 0) || !isfinite(t[k])) fail("a time out of range");
    if (p.io_uring != 0 && p.io_uring != 1) fail("io_uring not 0 or 1");

    ref r;
    if (!ref_object(&r, data, size)) fail("accepted text that is not a JSON object");
    if (r.bad_utf8) fail("accepted a string that is not UTF-8");
    if (!(r.keys & 1u)) fail("accepted an object with no \"parx_probe\" key");
    /* each field, in the order of names[] from 1 on */
    const bool changed[NNAMES] = {
        false,
        p.cpus != def.cpus,
        p.thread_start_ns != def.thread_start_ns,
        p.task_ns != def.task_ns,
        p.thread_job_ns != def.thread_job_ns,
        p.fork_start_ns != def.fork_start_ns,
        p.spawn_start_ns != def.spawn_start_ns,
        p.proc_job_ns != def.proc_job_ns,
        p.proc_rt_ns != def.proc_rt_ns,
        p.arena_attach_ns != def.arena_attach_ns,
        p.gpu_dispatch_ns != def.gpu_dispatch_ns,
        p.io_uring != def.io_uring,
        strcmp(p.io_uring_why, def.io_uring_why) != 0,
        strcmp(p.gpu_name, def.gpu_name) != 0,
        p.measured != def.measured,
        p.measured_mask != def.measured_mask,
        strcmp(p.notes, def.notes) != 0,
    };
    for (size_t k = 1; k < NNAMES; k++)
        if (changed[k] && !(r.keys & 1u << k)) {
            fprintf(stderr, "field %s changed, and no key is \"%s\"\n", names[k], names[k]);
            fail("a field set by a key that is not its name");
        }

    char buf[4096];
    if (parx_probe_format(&p, buf, sizeof buf) < 0) fail("parx_probe_format failed");
    for (int e = 0; e <= PARX_EXEC_SPAWN; e++) {
        (void)parx_run_predict(&p, (parx_exec)e, 1000, 0, 1000.0);
        (void)parx_run_break_even(&p, (parx_exec)e, 1000, 0);
    }
    return 0;
}
