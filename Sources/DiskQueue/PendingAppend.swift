/// One `append` call waiting for the writer: its payloads, their encoded size, and the completion
/// to call exactly once.
struct PendingAppend: Sendable {
    let payloads: [[UInt8]]
    /// Bytes these payloads take on disk, record headers included.
    let encodedBytes: Int
    let completion: @Sendable (Result<Range<UInt64>, DiskQueueError>) -> Void
}
