/// One stored record: its sequence number and the payload bytes exactly as appended.
package struct QueueRecord: Sendable, Equatable {
    /// Position in the queue; starts at 1 and grows by one per record across segments.
    /// Stable across restarts, so consumers can use it as an idempotency key.
    package let sequence: UInt64
    /// The bytes exactly as they were appended.
    package let payload: [UInt8]

    package init(sequence: UInt64, payload: [UInt8]) {
        self.sequence = sequence
        self.payload = payload
    }
}
