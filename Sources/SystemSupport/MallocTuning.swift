/// glibc's `mallopt`, which the Glibc module does not export (it lives in `<malloc.h>`).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32

package enum MallocTuning {
    /// Blocks of at least `bytes` get their own mappings, returned to the kernel when freed.
    /// Setting it also stops glibc from raising the threshold as large blocks are freed (its
    /// default), which keeps freed request bodies in its arenas instead.
    @discardableResult
    package static func mapBlocksOfAtLeast(_ bytes: Int32) -> Bool {
        glibcMallopt(-3 /* M_MMAP_THRESHOLD */, bytes) == 1
    }
}
