// Dropping data from every CPU's caches once the thread that reads it has finished with it.
//
// When the two threads of a batch-1 forward pass hand data to each other (one writes a buffer, the
// other reads it), the reader's cache keeps a copy of every line it read. The next time the writer
// fills that buffer, each store must first invalidate that copy. If the host has put the two
// virtual CPUs in different core complexes, that makes the write many times slower than one to
// lines only the writer holds. Flushing the lines once nobody needs them (CLFLUSHOPT, which does
// not wait for each line) costs the reader little and lets the next write go through much
// faster (figures in docs/PERFORMANCE.md).
#ifndef CXR_CACHE_H
#define CXR_CACHE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Writes back and invalidates, in every cache, the lines that hold bytes [start, start + bytes).
/// Contents are unchanged; only where they are cached. Does nothing on CPUs without CLFLUSHOPT.
void cxr_flush_lines(const void *start, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
