import Glibc
import SystemSupport

/// Setting damaged bytes aside while keeping every intact record (see `Recovery`).
extension Recovery {
    /// Splits `name` at damage: copies `bytes[damageFrom..<resume.offset]` to
    /// `<name>.damaged-<damageFrom>`, writes the bytes from `resume.offset` on as the segment named
    /// after `resume.sequence` (with a new header), then cuts `name` to `damageFrom` (`kept`: its
    /// valid records before the damage) or, when its header was the damage (`kept` nil), removes
    /// it. Each step is durable before the next, and each is skipped when an interrupted run
    /// already did it (the copy and the new segment are compared byte for byte).
    mutating func split(
        _ name: SegmentName,
        bytes: [UInt8],
        damageFrom: Int,
        resume: (offset: Int, sequence: UInt64),
        lastGood: UInt64,
        kept scan: SegmentScanner.Scan?
    ) throws(DiskQueueError) -> Step {
        let piece = Array(bytes[damageFrom..<resume.offset])
        let copy = try keepCopy(piece, named: "\(name.fileName).damaged-\(damageFrom)")
        let part = SegmentName(firstSequence: resume.sequence)
        let partPath = QueueDirectory.path(directory, part.fileName)
        let contents = SegmentHeader(firstSequence: part.firstSequence).encoded() + bytes[resume.offset...]
        if part == name {
            // Only the header was damaged: the file is replaced as a whole.
            try replace(partPath, with: contents)
        } else if try QueueDirectory.exists(partPath) {
            // Left by an interrupted run: the same bytes, since the damaged segment is only cut
            // after the part is durable. Anything else is a file this queue did not write.
            let existing = try system { try FileDescriptor.open(partPath, flags: O_RDONLY) }
            defer { existing.close() }
            guard (try system { try existing.readAll() }) == contents else {
                let reason = "segment overlaps \(name.fileName), whose records after damage at byte \(damageFrom) "
                    + "would go here; move one of them out of the queue directory"
                throw .corrupt(path: partPath, offset: 0, reason: reason)
            }
        } else {
            try replace(partPath, with: contents)
        }
        let path = QueueDirectory.path(directory, name.fileName)
        if part != name {
            if let scan {
                try cut(path, to: damageFrom)
                count(name.firstSequence, scan: scan)
            } else {
                try QueueDirectory.remove(path)
                try system { try directoryFile.synchronizeDirectory() }
            }
        }
        let sequences = lastGood + 1 < resume.sequence ? (lastGood + 1)...(resume.sequence - 1) : nil
        report.damaged.append(SetAsideDamage(segment: name.fileName, offset: damageFrom, bytes: piece.count, file: copy, sequences: sequences))
        return part == name ? .again : .split(into: part)
    }

    /// A sealed segment whose damage runs to its end (no intact record after it): the bytes from
    /// `offset` are copied to `<name>.damaged-<offset>` and cut off. The valid records before
    /// them stay.
    mutating func setAsideDamagedTail(of name: SegmentName, bytes: [UInt8], from offset: Int, lastGood: UInt64, following: UInt64?) throws(DiskQueueError) {
        let piece = Array(bytes[offset...])
        let copy = try keepCopy(piece, named: "\(name.fileName).damaged-\(offset)")
        try cut(QueueDirectory.path(directory, name.fileName), to: offset)
        let sequences = following.flatMap { lastGood + 1 < $0 ? (lastGood + 1)...($0 - 1) : nil }
        report.damaged.append(SetAsideDamage(segment: name.fileName, offset: offset, bytes: piece.count, file: copy, sequences: sequences))
    }

    /// Writes `bytes` to the file `base` in the queue directory (or `base.N` if a different file
    /// has that name) through a temporary name, syncs it and the directory, and returns the name. A file already there with
    /// exactly these bytes (an interrupted run's copy) is reused.
    func keepCopy(_ bytes: [UInt8], named base: String) throws(DiskQueueError) -> String {
        var candidate = base
        var counter = 0
        while true {
            let path = QueueDirectory.path(directory, candidate)
            guard try QueueDirectory.exists(path) else {
                // Written under a temporary name, synced, then renamed: a crash in the middle of
                // the copy leaves no partial file under a set-aside name (one starting with "."
                // is none), and the bytes are still in the segment, which is cut only afterwards.
                let temporary = QueueDirectory.path(directory, ".partial-" + candidate)
                try system { try AtomicFile.replace(path, with: bytes, mode: QueueDirectory.fileMode, temporary: temporary) }
                return candidate
            }
            let existing = try system { try FileDescriptor.open(path, flags: O_RDONLY) }
            defer { existing.close() }
            if (try system { try existing.readAll() }) == bytes { break }
            counter += 1
            candidate = "\(base).\(counter)"
        }
        try system { try directoryFile.synchronizeDirectory() }
        return candidate
    }

    /// Replaces (or creates) `path` atomically through `<path>.tmp` (see `AtomicFile`).
    func replace(_ path: String, with bytes: [UInt8]) throws(DiskQueueError) {
        try system { try AtomicFile.replace(path, with: bytes, mode: QueueDirectory.fileMode, temporary: path + ".tmp") }
    }
}
