/* SPDX-License-Identifier: MIT */
/* tests/deque_stress.c -- one owner and three thieves hammer one deque.

   The owner pushes items 1..N (as pointers) in random bursts and pops some
   back; three thieves steal all the time. With the default size (N = 5 million
   items, scaled by PARX_STRESS_SCALE) that is over 10 million deque operations.
   The deque starts small and is forced to grow several times while the
   thieves are stealing. Checked:
   - every item is taken exactly once (a per-item counter, and a checksum);
   - each thief sees strictly increasing items: the deque keeps items in push
     order from top to bottom, and top only moves forward, so any other order
     means a steal returned a stale or duplicated slot;
   - growth really happened during the run. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parx.h"
#include "parx_test.h"

#define NTHIEVES 3
#define ITEM(i) ((void *)(uintptr_t)((i) + 1))
#define INDEX(p) ((size_t)((uintptr_t)(p)-1))

static parx_deque dq;
static size_t n_items;
static atomic_uchar *taken;      /* taken[i]: how many times item i came out */
static atomic_int owner_done;    /* set once the owner has pushed all and drained */
static atomic_int go;            /* start line for all four threads */

struct thief {
    pthread_t th;
    size_t stolen, attempts, order_errors;
    uint64_t sum;
};

static struct thief thieves[NTHIEVES];

static void *thief_main(void *arg)
{
    struct thief *t = (struct thief *)arg;
    size_t last = 0; /* items are >= 1 */
    while (!atomic_load(&go)) {
    }
    for (;;) {
        /* Read the flag before stealing: if it was set, the deque was already
           drained for good, so a NULL from this steal means we are done. */
        int done = atomic_load(&owner_done);
        void *p = parx_deque_steal(&dq);
        t->attempts++;
        if (p) {
            size_t i = INDEX(p);
            if (i >= n_items) {
                t->order_errors++;
                continue;
            }
            atomic_fetch_add_explicit(&taken[i], 1, memory_order_relaxed);
            if ((uintptr_t)p <= last)
                t->order_errors++;
            last = (uintptr_t)p;
            t->stolen++;
            t->sum += i;
        } else if (done) {
            break;
        }
    }
    return NULL;
}

static void test_owner_and_thieves(void)
{
    n_items = pt_scaled(5000000, 1000);
    taken = calloc(n_items, sizeof *taken);
    REQUIRE(taken != NULL);
    REQUIRE(parx_deque_init(&dq, 2) == 0);
    atomic_init(&owner_done, 0);
    atomic_init(&go, 0);
    memset(thieves, 0, sizeof thieves);
    for (int k = 0; k < NTHIEVES; k++)
        REQUIRE(pthread_create(&thieves[k].th, NULL, thief_main, &thieves[k]) == 0);

    parx_rng rng = parx_rng_for(2024, 1);
    size_t pushed = 0, popped = 0, pop_attempts = 0, push_errors = 0, max_size = 0;
    uint64_t owner_sum = 0;
    /* A long burst with no pops every `big_every` items forces growth while
       the thieves are running. */
    size_t big_every = n_items / 5 + 1, big_burst = n_items / 50 + 100;
    atomic_store(&go, 1);
    while (pushed < n_items) {
        size_t burst = 1 + (size_t)(parx_rng_next(&rng) % 32);
        if (pushed % big_every < burst && pushed > 0)
            burst = big_burst;
        for (size_t b = 0; b < burst && pushed < n_items; b++) {
            if (parx_deque_push(&dq, ITEM(pushed)) != 0)
                push_errors++;
            pushed++;
        }
        size_t sz = parx_deque_size(&dq);
        if (sz > max_size)
            max_size = sz;
        size_t npop = (size_t)(parx_rng_next(&rng) % (burst + 1));
        for (size_t b = 0; b < npop; b++) {
            void *p = parx_deque_pop(&dq);
            pop_attempts++;
            if (!p)
                break;
            atomic_fetch_add_explicit(&taken[INDEX(p)], 1, memory_order_relaxed);
            owner_sum += INDEX(p);
            popped++;
        }
    }
    void *p;
    while ((p = parx_deque_pop(&dq)) != NULL) {
        pop_attempts++;
        atomic_fetch_add_explicit(&taken[INDEX(p)], 1, memory_order_relaxed);
        owner_sum += INDEX(p);
        popped++;
    }
    pop_attempts++;
    atomic_store(&owner_done, 1);

    size_t stolen = 0, steal_attempts = 0, order_errors = 0;
    uint64_t sum = owner_sum;
    for (int k = 0; k < NTHIEVES; k++) {
        pthread_join(thieves[k].th, NULL);
        stolen += thieves[k].stolen;
        steal_attempts += thieves[k].attempts;
        order_errors += thieves[k].order_errors;
        sum += thieves[k].sum;
    }
    uint64_t want_sum = (uint64_t)n_items * (n_items - 1) / 2;
    size_t ops = pushed + pop_attempts + steal_attempts;
    pt_diag("%zu items: owner popped %zu (of %zu pops), thieves stole %zu (%zu, %zu, %zu) "
            "in %zu attempts; %zu deque operations; largest size seen %zu",
            n_items, popped, pop_attempts, stolen, thieves[0].stolen, thieves[1].stolen,
            thieves[2].stolen, steal_attempts, ops, max_size);

    CHECK_EQ_U(push_errors, 0);
    CHECK_EQ_U(popped + stolen, n_items);
    CHECK_EQ_U(sum, want_sum);
    CHECK_EQ_U(order_errors, 0);
    size_t bad = 0;
    for (size_t i = 0; i < n_items; i++) {
        unsigned c = atomic_load_explicit(&taken[i], memory_order_relaxed);
        if (c != 1 && bad++ < 10)
            CHECK_MSG(0, "item %zu taken %u times", i, c);
    }
    CHECK_EQ_U(bad, 0);
    /* The deque held far more than its initial capacity (a hint of 2, so
       PARX_DEQUE_MIN_CAPACITY slots) while the thieves ran: it grew under
       fire. The thieves steal one item per CAS while the owner pushes with
       plain stores, so a burst of thousands always piles up. */
    if (big_burst >= 4096)
        CHECK_MSG(max_size > 1024, "no growth observed: largest size %zu", max_size);
    if (pt_scale() >= 1.0)
        CHECK_MSG(ops >= 10000000, "only %zu operations", ops);
    CHECK(parx_deque_pop(&dq) == NULL);
    CHECK(parx_deque_steal(&dq) == NULL);
    parx_deque_destroy(&dq);
    free(taken);
}

int main(void)
{
    pt_plan(1);
    pt_run("1 owner + 3 thieves: every item exactly once, thieves see FIFO, growth under fire",
           test_owner_and_thieves);
    return pt_done_testing();
}
