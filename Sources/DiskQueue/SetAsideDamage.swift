/// One stretch of damaged bytes that recovery took out of a segment, keeping the intact records
/// before and after it.
package struct SetAsideDamage: Sendable, Equatable {
    /// The segment file the bytes came from, such as `segment-00000000000000000001.log`.
    package var segment: String
    /// Offset of the first damaged byte in that segment (0: the segment header was damaged).
    package var offset: Int
    /// How many bytes were set aside.
    package var bytes: Int
    /// The file in the queue directory holding a copy of them (`<segment>.damaged-<offset>`);
    /// `xero-webhookd queue salvage` re-queues what still decodes in it.
    package var file: String
    /// The sequences the damaged records carried, from the last intact record before them to
    /// the first one after them (exclusive); nil when the damage took no sequence number.
    package var sequences: ClosedRange<UInt64>?

    package init(segment: String, offset: Int, bytes: Int, file: String, sequences: ClosedRange<UInt64>?) {
        self.segment = segment
        self.offset = offset
        self.bytes = bytes
        self.file = file
        self.sequences = sequences
    }
}
