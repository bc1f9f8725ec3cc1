import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file's size, modification time and inode when it was judged, to notice a later change.
struct FileStamp: Sendable, Equatable {
    let size: Int64
    let mtimeSeconds: Int
    let mtimeNanoseconds: Int
    let inode: UInt64

    init(size: Int64, mtimeSeconds: Int, mtimeNanoseconds: Int, inode: UInt64) {
        self.size = size
        self.mtimeSeconds = mtimeSeconds
        self.mtimeNanoseconds = mtimeNanoseconds
        self.inode = inode
    }

    init(_ st: stat) {
        size = Int64(st.st_size)
        mtimeSeconds = st.st_mtim.tv_sec
        mtimeNanoseconds = st.st_mtim.tv_nsec
        inode = UInt64(st.st_ino)
    }

    init?(path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        self.init(st)
    }
}
