import DiskQueue

/// `xero-webhookd queue salvage`: queues again the events that still decode in the files
/// recovery set aside, then marks each file salvaged so it is never queued twice.
///
/// Runs on an open `DiskQueue` (so with the directory lock: never beside a daemon's writer).
/// Every payload found is checked as a whole queued event (`QueuedItem.decode`: the record
/// JSON and an event with its tenant, resource and URL) and appended through the ordinary
/// append path, durably, before its file is marked; a crash in between queues it again next
/// time (at least once). The worker treats a salvaged event like any other: its event id is
/// that of the original bytes, so a downstream deduplicating on it sees a repeat, not a new event.
package enum QueueSalvage {
    package struct Summary: Sendable, Equatable, CustomStringConvertible {
        /// Set-aside files read (those not salvaged before).
        package var files = 0
        /// Events queued again.
        package var events = 0
        /// Their new sequence numbers.
        package var sequences: Range<UInt64>?
        /// Files in which nothing decoded.
        package var empty = 0
        /// Events queued again whose record's checksum failed: they decode, but one of their
        /// bytes may be wrong.
        package var checksumFailures = 0
        /// Stretches of bytes in which nothing decoded (left in the files, not queued).
        package var undecodable = 0

        package var description: String {
            guard files > 0 else { return "salvage: nothing set aside to salvage" }
            let where_ = sequences.map { " (sequences \($0.lowerBound)-\($0.upperBound - 1))" } ?? ""
            return "salvage: \(files) set-aside files read, \(events) events queued again\(where_), "
                + "\(checksumFailures) of them from records whose checksum failed (check them downstream), "
                + "\(undecodable) stretches held nothing that decodes, \(empty) files held nothing that decodes"
        }
    }

    package static func run(_ queue: DiskQueue, directory: String, maxRecordBytes: Int) throws(DiskQueueError) -> Summary {
        var summary = Summary()
        for file in try SetAsideFile.list(in: directory) where !file.salvaged {
            summary.files += 1
            let bytes = try queue.read(file)
            let found = file.payloads(in: bytes, maxRecordBytes: maxRecordBytes) { payload in
                (try? QueuedItem.decode(QueueRecord(sequence: 0, payload: payload))) != nil  // not an event: left out
            }
            let payloads = found.payloads
            summary.checksumFailures += found.checksumFailures
            summary.undecodable += found.undecodableStretches
            if payloads.isEmpty {
                summary.empty += 1
            } else {
                let range = try queue.append(payloads)
                summary.events += payloads.count
                summary.sequences = (summary.sequences?.lowerBound ?? range.lowerBound)..<range.upperBound
            }
            try queue.markSalvaged(file)
        }
        return summary
    }
}
