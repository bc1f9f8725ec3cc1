internal import CKernels

/// Where data is cached, not what it holds: see cxr_cache.h.
enum CacheLines {
    /// Drops `count` floats from `start` on out of every CPU's caches (written back first), so that
    /// the next thread to write them does not have to invalidate another CPU's copy line by line.
    /// Call it once no thread reads them again before they are next written.
    static func flush(_ start: UnsafePointer<Float>, count: Int) {
        if count > 0 { cxr_flush_lines(start, count * MemoryLayout<Float>.stride) }
    }
}
