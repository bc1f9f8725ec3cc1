// Spin-then-park fork-join pool; see include/cxr_pool.h. Linux only (futex).
#define _GNU_SOURCE
#include "cxr_pool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// The job in hand. `ticket` packs the job's generation (bits 32-63) and its unclaimed parts
// front ..< back (bits 16-31 and 0-15), so that one compare-and-swap claims a part of exactly the
// job the claimer saw: a worker that wakes late can never take a part of a later job by mistake.
// Worker 1 claims from the back and every other thread from the front, so in a two-thread job the
// caller runs the first parts and the worker the last ones, meeting wherever their speeds put the
// boundary. Callers that map part i to the i-th slice of an image or of the channels thereby
// give each thread the same slice in step after step, and a thread mostly reads back what it
// wrote itself. That matters more than it seems: when the host places the two CPUs in different
// core complexes, writing a cache line the other CPU has read costs many times more than writing
// one only the writer holds (figures in docs/PERFORMANCE.md).
// `task` and `context` are written before the ticket is published (release) and read only after a
// part has been claimed (acquire); the caller cannot start another job before every claimed part
// has returned, so they cannot change under a reader.
static _Atomic uint64_t ticket;
static cxr_pool_task job_task;
static void *job_context;
static _Atomic int64_t job_parts;
// Threads the latest job may use: workers 1 … job_threads − 1 take part.
static _Atomic int64_t job_threads;
// Futex word: the generation of the latest job, stored after its ticket.
static _Atomic uint32_t generation;
// Parts of the current job that have returned.
static _Atomic int64_t finished;
// Workers parked (or about to park) on `generation`.
static _Atomic int32_t sleepers;
// 1 while a job holds the pool.
static _Atomic int32_t busy;

static _Atomic int64_t spin_ns = 1000 * 1000;
static _Atomic int64_t worker_count;
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *word, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int count) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

// Claims the first (or, with `from_back`, the last) unclaimed part of job `gen`; 0 when that job
// has no unclaimed part left (or is over).
static int claim(uint32_t gen, int from_back, int64_t *part) {
    uint64_t t = atomic_load_explicit(&ticket, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(t >> 32) != gen) return 0;
        uint64_t front = (t >> 16) & 0xffff, back = t & 0xffff;
        if (front >= back) return 0;
        uint64_t claimed = from_back ? t - 1 : t + (1u << 16);
        if (atomic_compare_exchange_weak_explicit(&ticket, &t, claimed, memory_order_acq_rel, memory_order_acquire)) {
            *part = (int64_t)(from_back ? back - 1 : front);
            return 1;
        }
    }
}

// Runs parts of job `gen` on thread `thread` until none is left to claim.
static void work(uint32_t gen, int64_t thread) {
    int64_t part;
    while (claim(gen, thread == 1, &part)) {
        // Stored before the ticket this claim read (release, then acquire).
        int64_t parts = atomic_load_explicit(&job_parts, memory_order_relaxed);
        job_task(job_context, part, parts, thread);
        atomic_fetch_add_explicit(&finished, 1, memory_order_release);
    }
}

// Returns the generation of a job newer than `seen`: polls for up to spin_ns, then parks.
static uint32_t wait_for_job(uint32_t seen) {
    int64_t limit = atomic_load_explicit(&spin_ns, memory_order_relaxed);
    if (limit > 0) {
        int64_t start = now_ns();
        for (unsigned i = 1;; i++) {
            uint32_t g = atomic_load_explicit(&generation, memory_order_acquire);
            if (g != seen) return g;
            cpu_relax();
            if ((i & 63) == 0 && now_ns() - start > limit) break;
        }
    }
    for (;;) {
        // With the caller's store of `generation` then load of `sleepers` (both sequentially
        // consistent), either this load sees the new job or the caller sees this sleeper and wakes
        // it; the futex itself refuses to sleep if the word has already changed.
        atomic_fetch_add_explicit(&sleepers, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&generation, memory_order_seq_cst) == seen) futex_wait(&generation, seen);
        atomic_fetch_sub_explicit(&sleepers, 1, memory_order_seq_cst);
        uint32_t g = atomic_load_explicit(&generation, memory_order_acquire);
        if (g != seen) return g;
    }
}

static void *worker_main(void *argument) {
    int64_t thread = (int64_t)(intptr_t)argument;
    // Signals go to the application's own threads, never to a pool worker.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_setname_np(pthread_self(), "cxreview-pool");
    // Joining a job already in progress is safe: claims check the generation. A stale read of
    // job_threads only makes this worker join or sit out one job.
    uint32_t seen = 0;
    for (;;) {
        seen = wait_for_job(seen);
        if (thread < atomic_load_explicit(&job_threads, memory_order_relaxed)) work(seen, thread);
    }
    return NULL;
}

// Makes sure at least `wanted` workers exist; 0 on success.
static int grow(int64_t wanted) {
    int status = 0;
    pthread_mutex_lock(&grow_lock);
    while (atomic_load(&worker_count) < wanted) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t thread;
        int64_t index = atomic_load(&worker_count) + 1;  // thread 0 is the caller
        int failed = pthread_create(&thread, &attr, worker_main, (void *)(intptr_t)index);
        pthread_attr_destroy(&attr);
        if (failed) {
            status = -1;
            break;
        }
        atomic_fetch_add(&worker_count, 1);
    }
    pthread_mutex_unlock(&grow_lock);
    return status;
}

int cxr_pool_run(int64_t parts, int64_t threads, cxr_pool_task task, void *context) {
    if (parts < 1 || parts > CXR_POOL_MAX_PARTS || threads < 1 || threads > CXR_POOL_MAX_THREADS) return CXR_POOL_BUSY;
    int32_t free_state = 0;
    if (!atomic_compare_exchange_strong(&busy, &free_state, 1)) return CXR_POOL_BUSY;
    if (threads > parts) threads = parts;
    int status = CXR_POOL_DONE;
    if (threads > 1 && atomic_load_explicit(&worker_count, memory_order_relaxed) < threads - 1 && grow(threads - 1) != 0) {
        status = CXR_POOL_NO_THREAD;
    }
    job_task = task;
    job_context = context;
    atomic_store_explicit(&job_threads, threads, memory_order_relaxed);
    atomic_store_explicit(&finished, 0, memory_order_relaxed);
    uint32_t gen = atomic_load_explicit(&generation, memory_order_relaxed) + 1;
    if (gen == 0) gen = 1;  // 0 is what a new worker has seen
    atomic_store_explicit(&job_parts, parts, memory_order_relaxed);
    atomic_store_explicit(&ticket, ((uint64_t)gen << 32) | (uint64_t)parts, memory_order_release);
    atomic_store_explicit(&generation, gen, memory_order_seq_cst);
    // Every sleeper is woken: the futex cannot pick the ones this job uses; the others park again.
    if (threads > 1 && atomic_load_explicit(&sleepers, memory_order_seq_cst) > 0) futex_wake(&generation, INT_MAX);

    work(gen, 0);
    // The rest were claimed by workers that are running them now.
    for (unsigned i = 1; atomic_load_explicit(&finished, memory_order_acquire) < parts; i++) {
        if (i & 1023) cpu_relax();
        else sched_yield();  // a worker may have been descheduled mid-part
    }
    atomic_store_explicit(&busy, 0, memory_order_release);
    return status;
}

void cxr_pool_set_spin(int64_t microseconds) {
    atomic_store_explicit(&spin_ns, microseconds > 0 ? microseconds * 1000 : 0, memory_order_relaxed);
}

int64_t cxr_pool_workers(void) { return atomic_load(&worker_count); }
