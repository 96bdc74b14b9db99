import SystemSupport
/// The segment records are appended to: its open file (read-write), its first sequence, the
/// committed end offset where the next batch is written, and the prepared end (the file size).
///
/// Invariant: `end <= preparedEnd`, and every byte in `end..<preparedEnd` is zero. That space was
/// written as zeros and synced ahead of time (`DiskQueueOptions.preallocationBytes`), so a batch
/// that fits in it overwrites allocated blocks and its sync carries no size change.
struct ActiveSegment {
    let file: FileDescriptor
    let firstSequence: UInt64
    /// Offset just past the last record known to be written; everything before it is valid.
    var end: Int
    /// Size of the file: zeros from `end` up to here.
    var preparedEnd: Int

    init(file: FileDescriptor, firstSequence: UInt64, end: Int, preparedEnd: Int? = nil) {
        self.file = file
        self.firstSequence = firstSequence
        self.end = end
        self.preparedEnd = max(end, preparedEnd ?? end)
    }

    /// Zero bytes after the committed end.
    var preparedBytes: Int { preparedEnd - end }
}
