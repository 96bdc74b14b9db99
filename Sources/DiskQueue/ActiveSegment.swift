/// The segment records are appended to: its open file (read-write), its first sequence, and the
/// committed end offset where the next batch is written.
struct ActiveSegment {
    let file: FileDescriptor
    let firstSequence: UInt64
    /// Offset just past the last record known to be written; everything before it is valid.
    var end: Int
}
