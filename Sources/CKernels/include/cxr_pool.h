// A fork-join pool of worker threads that spin briefly between jobs, then park.
//
// One ResNet18 forward pass on one image splits about fifty short layer steps between two threads.
// Waking a parked thread for every step (a futex wake, an inter-processor interrupt, on a virtual
// machine a trip through the hypervisor) costs a large share of such a step each time. Here a
// worker that has finished a part keeps polling for the next job for a short while
// (`cxr_pool_set_spin`), so the steps of one forward pass reach it at once; between passes it
// parks on a futex and uses no CPU. The calling thread always works too, claiming parts from the same counter, so a worker that
// is slow to wake, or runs on a core that is slower at the moment (another tenant of the host, an
// interrupt), only means the other threads run more of the parts: callers cut a step into a few
// parts per thread for that reason.
//
// One job runs at a time: `cxr_pool_run` returns CXR_POOL_BUSY at once when another thread's job
// (or the calling thread's own, when called from inside a part) holds the pool, and the caller
// should then run the parts another way.
#ifndef CXR_POOL_H
#define CXR_POOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Runs part `part` of `parts` on thread `thread` (0 is the caller, 1… the workers, each running one
/// part at a time, so per-thread scratch can be indexed by it); `context` is the caller's.
typedef void (*cxr_pool_task)(void *context, int64_t part, int64_t parts, int64_t thread);

enum {
    CXR_POOL_DONE = 0,
    CXR_POOL_BUSY = 1,
    /// A worker thread could not be created (the parts ran anyway, on the threads that exist).
    CXR_POOL_NO_THREAD = 2,
};

/// Most parts one job may have.
#define CXR_POOL_MAX_PARTS 4096
/// Most threads one job may use (the caller and 63 workers).
#define CXR_POOL_MAX_THREADS 64

/// Calls task(context, i, parts, thread) once for every i in 0..<parts, on the calling thread and
/// up to threads − 1 workers (created on first need, kept for the life of the process), and returns
/// when all have returned. Parts may run in any order and on any of those threads, except that in
/// a two-thread job the caller takes parts from the front (0, 1, …) and the worker from the back
/// (parts − 1, …), so that the caller's parts are always a prefix of 0..<parts. 1 ≤ parts ≤
/// CXR_POOL_MAX_PARTS, 1 ≤ threads ≤ CXR_POOL_MAX_THREADS. Returns CXR_POOL_BUSY, having run
/// nothing, when the pool is in use.
int cxr_pool_run(int64_t parts, int64_t threads, cxr_pool_task task, void *context);

/// How long an idle worker polls for the next job before it parks, in microseconds (default 1000;
/// 0 parks at once, like a plain condition-variable pool).
void cxr_pool_set_spin(int64_t microseconds);

/// Worker threads created so far.
int64_t cxr_pool_workers(void);

#ifdef __cplusplus
}
#endif

#endif
