/* SPDX-License-Identifier: MIT */
/* tests/deque.c -- unit tests of the Chase-Lev deque, single-threaded plus a
   small two-thread check. The big concurrent run is tests/deque_stress.c. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "parx.h"
#include "parx_test.h"

#define ITEM(i) ((void *)(uintptr_t)((i) + 1))
#define INDEX(p) ((size_t)((uintptr_t)(p)-1))

static void test_init_hint0(void)
{
    parx_deque d;
    memset(&d, 0xA5, sizeof d); /* init must not rely on a zeroed struct */
    CHECK_EQ(parx_deque_init(&d, 0), 0);
    CHECK_EQ_U(parx_deque_size(&d), 0);
    CHECK(parx_deque_pop(&d) == NULL);
    CHECK(parx_deque_steal(&d) == NULL);
    CHECK_EQ(parx_deque_push(&d, ITEM(7)), 0);
    CHECK_EQ_U(parx_deque_size(&d), 1);
    CHECK(parx_deque_pop(&d) == ITEM(7));
    CHECK_EQ_U(parx_deque_size(&d), 0);
    parx_deque_destroy(&d);
}

static void test_lifo(void)
{
    parx_deque d;
    REQUIRE(parx_deque_init(&d, 16) == 0);
    for (size_t i = 0; i < 10; i++)
        CHECK_EQ(parx_deque_push(&d, ITEM(i)), 0);
    CHECK_EQ_U(parx_deque_size(&d), 10);
    for (size_t i = 10; i-- > 0;) {
        void *p = parx_deque_pop(&d);
        CHECK_EQ_U((uintptr_t)p, (uintptr_t)ITEM(i));
    }
    CHECK(parx_deque_pop(&d) == NULL);
    CHECK(parx_deque_pop(&d) == NULL); /* popping an empty deque twice stays empty */
    CHECK_EQ_U(parx_deque_size(&d), 0);
    /* usable again after running dry */
    CHECK_EQ(parx_deque_push(&d, ITEM(99)), 0);
    CHECK(parx_deque_pop(&d) == ITEM(99));
    parx_deque_destroy(&d);
}

static void test_fifo_steal(void)
{
    parx_deque d;
    REQUIRE(parx_deque_init(&d, 16) == 0);
    for (size_t i = 0; i < 10; i++)
        CHECK_EQ(parx_deque_push(&d, ITEM(i)), 0);
    for (size_t i = 0; i < 10; i++) {
        void *p = parx_deque_steal(&d);
        CHECK_EQ_U((uintptr_t)p, (uintptr_t)ITEM(i));
        CHECK_EQ_U(parx_deque_size(&d), 9 - i);
    }
    CHECK(parx_deque_steal(&d) == NULL);
    CHECK(parx_deque_pop(&d) == NULL);
    parx_deque_destroy(&d);
}

static void test_mixed_ends(void)
{
    /* steal takes the oldest, pop the newest, from the same deque */
    parx_deque d;
    REQUIRE(parx_deque_init(&d, 4) == 0);
    for (size_t i = 0; i < 6; i++)
        CHECK_EQ(parx_deque_push(&d, ITEM(i)), 0);
    CHECK(parx_deque_steal(&d) == ITEM(0));
    CHECK(parx_deque_pop(&d) == ITEM(5));
    CHECK(parx_deque_steal(&d) == ITEM(1));
    CHECK(parx_deque_pop(&d) == ITEM(4));
    CHECK_EQ(parx_deque_push(&d, ITEM(6)), 0);
    CHECK(parx_deque_pop(&d) == ITEM(6));
    CHECK(parx_deque_pop(&d) == ITEM(3));
    CHECK(parx_deque_steal(&d) == ITEM(2)); /* the last item, by a thief */
    CHECK(parx_deque_pop(&d) == NULL);
    CHECK(parx_deque_steal(&d) == NULL);
    CHECK_EQ_U(parx_deque_size(&d), 0);
    parx_deque_destroy(&d);
}

static void test_null_rejected(void)
{
    parx_deque d;
    REQUIRE(parx_deque_init(&d, 0) == 0);
    CHECK_EQ(parx_deque_push(&d, NULL), -EINVAL);
    CHECK_EQ_U(parx_deque_size(&d), 0); /* nothing was stored */
    CHECK(parx_deque_pop(&d) == NULL);
    CHECK_EQ(parx_deque_push(&d, ITEM(1)), 0);
    CHECK_EQ(parx_deque_push(&d, NULL), -EINVAL);
    CHECK_EQ_U(parx_deque_size(&d), 1);
    CHECK(parx_deque_pop(&d) == ITEM(1));
    parx_deque_destroy(&d);
    /* a NULL deque, a zeroed one, a destroyed one: codes, never a crash */
    CHECK_EQ(parx_deque_push(NULL, ITEM(1)), -EINVAL);
    CHECK(parx_deque_pop(NULL) == NULL);
    CHECK(parx_deque_steal(NULL) == NULL);
    CHECK_EQ_U(parx_deque_size(NULL), 0);
    CHECK_EQ(parx_deque_push(&d, ITEM(1)), -EINVAL); /* destroyed */
    CHECK(parx_deque_pop(&d) == NULL);
    CHECK(parx_deque_steal(&d) == NULL);
    /* destroyed with items still in it */
    REQUIRE(parx_deque_init(&d, 0) == 0);
    for (size_t i = 1; i <= 100; i++)
        REQUIRE(parx_deque_push(&d, ITEM(i)) == 0);
    parx_deque_destroy(&d);
    CHECK_EQ_U(parx_deque_size(&d), 0);
    CHECK(parx_deque_pop(&d) == NULL);
    CHECK(parx_deque_steal(&d) == NULL);
    CHECK_EQ(parx_deque_push(&d, ITEM(1)), -EINVAL);
    memset(&d, 0, sizeof d);
    CHECK_EQ(parx_deque_push(&d, ITEM(1)), -EINVAL); /* zeroed */
    CHECK(parx_deque_pop(&d) == NULL);
    CHECK(parx_deque_steal(&d) == NULL);
}

/* Growth from hint `hint` to n items, then drain from `pop`/`steal` ends. */
static void grow_and_drain(size_t hint, size_t n, int by_steal)
{
    parx_deque d;
    REQUIRE(parx_deque_init(&d, hint) == 0);
    for (size_t i = 0; i < n; i++)
        if (!CHECK_EQ(parx_deque_push(&d, ITEM(i)), 0))
            break;
    CHECK_EQ_U(parx_deque_size(&d), n);
    size_t bad = 0;
    for (size_t k = 0; k < n; k++) {
        size_t want = by_steal ? k : n - 1 - k;
        void *p = by_steal ? parx_deque_steal(&d) : parx_deque_pop(&d);
        if (p != ITEM(want) && bad++ < 5)
            CHECK_EQ_U((uintptr_t)p, (uintptr_t)ITEM(want));
    }
    CHECK_EQ_U(bad, 0);
    CHECK(parx_deque_pop(&d) == NULL);
    parx_deque_destroy(&d);
}

static void test_growth_pop(void) { grow_and_drain(1, 100000, 0); }
static void test_growth_steal(void) { grow_and_drain(8, 100000, 1); }

static void test_growth_wrapped(void)
{
    /* Move top and bottom well past the array size first, so the live items
       wrap around the ring when it grows. */
    parx_deque d;
    REQUIRE(parx_deque_init(&d, 8) == 0);
    for (size_t round = 0; round < 1000; round++) {
        CHECK_EQ(parx_deque_push(&d, ITEM(round)), 0);
        CHECK(parx_deque_steal(&d) == ITEM(round));
    }
    size_t n = 5000;
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(parx_deque_push(&d, ITEM(i)), 0);
    CHECK_EQ_U(parx_deque_size(&d), n);
    /* half from the top, in order, half from the bottom, in reverse */
    size_t bad = 0;
    for (size_t i = 0; i < n / 2; i++)
        if (parx_deque_steal(&d) != ITEM(i))
            bad++;
    for (size_t i = n; i-- > n / 2;)
        if (parx_deque_pop(&d) != ITEM(i))
            bad++;
    CHECK_EQ_U(bad, 0);
    CHECK(parx_deque_pop(&d) == NULL);
    parx_deque_destroy(&d);
}

static void test_destroy_zeroed(void)
{
    parx_deque d;
    memset(&d, 0, sizeof d);
    parx_deque_destroy(&d); /* documented as safe */
    parx_deque_destroy(&d);
    REQUIRE(parx_deque_init(&d, 0) == 0);
    for (size_t i = 0; i < 1000; i++)
        CHECK_EQ(parx_deque_push(&d, ITEM(i)), 0); /* grows: retired arrays exist */
    parx_deque_destroy(&d);
    parx_deque_destroy(&d); /* and safe when already destroyed */
}

static void test_destroy_nonempty(void)
{
    /* items are the caller's: destroying a deque that still holds some is fine */
    parx_deque d;
    REQUIRE(parx_deque_init(&d, 2) == 0);
    for (size_t i = 0; i < 100; i++)
        CHECK_EQ(parx_deque_push(&d, ITEM(i)), 0);
    parx_deque_destroy(&d);
}

/* Two threads: the owner pushes everything then pops; one thief steals
   concurrently. Each item must come out exactly once. */
struct two {
    parx_deque d;
    size_t n;
    atomic_uchar *seen;
    atomic_int owner_done;
    size_t stolen;
};

static void *two_thief(void *arg)
{
    struct two *t = (struct two *)arg;
    for (;;) {
        int done = atomic_load(&t->owner_done);
        void *p = parx_deque_steal(&t->d);
        if (p) {
            atomic_fetch_add_explicit(&t->seen[INDEX(p)], 1, memory_order_relaxed);
            t->stolen++;
        } else if (done) {
            break;
        }
    }
    return NULL;
}

static void test_two_threads(void)
{
    static struct two t;
    t.n = 200000;
    t.stolen = 0;
    atomic_init(&t.owner_done, 0);
    t.seen = calloc(t.n, sizeof *t.seen);
    REQUIRE(t.seen != NULL);
    REQUIRE(parx_deque_init(&t.d, 4) == 0);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, two_thief, &t) == 0);
    size_t popped = 0;
    for (size_t i = 0; i < t.n; i++) {
        CHECK_EQ(parx_deque_push(&t.d, ITEM(i)), 0);
        if (i % 3 == 2) {
            void *p = parx_deque_pop(&t.d);
            if (p) {
                atomic_fetch_add_explicit(&t.seen[INDEX(p)], 1, memory_order_relaxed);
                popped++;
            }
        }
    }
    void *p;
    while ((p = parx_deque_pop(&t.d)) != NULL) {
        atomic_fetch_add_explicit(&t.seen[INDEX(p)], 1, memory_order_relaxed);
        popped++;
    }
    atomic_store(&t.owner_done, 1);
    pthread_join(th, NULL);
    CHECK_EQ_U(popped + t.stolen, t.n);
    size_t bad = 0;
    for (size_t i = 0; i < t.n; i++)
        if (atomic_load_explicit(&t.seen[i], memory_order_relaxed) != 1 && bad++ < 5)
            CHECK_MSG(0, "item %zu taken %u times", i, (unsigned)t.seen[i]);
    CHECK_EQ_U(bad, 0);
    pt_diag("two threads: owner popped %zu, thief stole %zu", popped, t.stolen);
    parx_deque_destroy(&t.d);
    free(t.seen);
}

int main(void)
{
    pt_plan(11);
    pt_run("init with hint 0, size, push/pop one", test_init_hint0);
    pt_run("push/pop is LIFO", test_lifo);
    pt_run("steal is FIFO", test_fifo_steal);
    pt_run("pop and steal from both ends of one deque", test_mixed_ends);
    pt_run("NULL item rejected with -EINVAL, deque unchanged; NULL, zeroed, destroyed deques",
           test_null_rejected);
    pt_run("growth from hint 1 to 100000 items keeps all (pop)", test_growth_pop);
    pt_run("growth from hint 8 to 100000 items keeps all (steal)", test_growth_steal);
    pt_run("growth while the ring has wrapped keeps order", test_growth_wrapped);
    pt_run("destroy of a zeroed / destroyed deque", test_destroy_zeroed);
    pt_run("destroy of a deque still holding items", test_destroy_nonempty);
    pt_run("owner + one thief: every item exactly once", test_two_threads);
    return pt_done_testing();
}
