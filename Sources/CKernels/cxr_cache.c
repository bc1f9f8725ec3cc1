// See include/cxr_cache.h.
#include "cxr_cache.h"

#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("clflushopt"))) static void flush_x86(const char *start, size_t bytes) {
    uintptr_t line = (uintptr_t)start & ~(uintptr_t)63, end = (uintptr_t)start + bytes;
    for (; line < end; line += 64) _mm_clflushopt((void *)line);
}

void cxr_flush_lines(const void *start, size_t bytes) {
    if (bytes > 0 && __builtin_cpu_supports("clflushopt")) flush_x86(start, bytes);
}

#else

void cxr_flush_lines(const void *start, size_t bytes) {
    (void)start;
    (void)bytes;
}

#endif
