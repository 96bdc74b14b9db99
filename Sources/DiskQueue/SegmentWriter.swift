import Glibc
import SystemSupport

/// Owns the active segment and the directory descriptor, and turns batches into durable records.
///
/// Confined to the writer thread once `DiskQueue.init` hands it over; nothing else touches it.
/// It only ever writes past the committed end of the last segment (zeros that prepare space,
/// then batches over them) and only ever cuts bytes past it, so readers may `pread` the committed
/// bytes at any time.
///
/// Prepared space (`DiskQueueOptions.preallocationBytes`): growing a file makes its `fdatasync`
/// commit the size change as well (a journal commit on ext4), markedly slower than a sync of
/// overwritten blocks. So the writer keeps zero-filled, synced space ahead of the committed end
/// and writes batches into it; only when a batch would pass the prepared end does it first
/// extend the file by one chunk of zeros and sync that (one size change for many batches).
final class SegmentWriter {
    /// What one committed batch produced.
    struct Commit {
        /// Each append's sequence range, in batch order.
        var ranges: [Range<UInt64>]
        var records: Int
        var bytes: Int
        /// How long the batch's `fdatasync` took.
        var syncNanoseconds: UInt64
        /// Space prepared since the previous commit (usually none).
        var preparation: Preparation
    }

    /// Zero-filled space made durable ahead of the committed end.
    struct Preparation {
        var bytes = 0
        var syncs = 0
        var syncNanoseconds: UInt64 = 0
    }

    private let directory: String
    private let directoryFile: FileDescriptor
    private let options: DiskQueueOptions
    private let live: LiveBytes
    private var active: ActiveSegment?
    /// A segment file that a refused creation could not remove (the shortage hit the cleanup
    /// as well): the next creation removes it first, so the shortage stays transient.
    private var leftover: String?
    /// Sequence the next encoded record gets.
    private(set) var nextSequence: UInt64
    /// Reused for every batch so the hot path does not allocate once it has grown.
    private var buffer: [UInt8] = []
    /// Preparation not reported in a `Commit` yet (reported with the next batch that commits).
    private var preparation = Preparation()

    init(directory: String, directoryFile: FileDescriptor, active: ActiveSegment?, nextSequence: UInt64, options: DiskQueueOptions, live: LiveBytes) {
        self.directory = directory
        self.directoryFile = directoryFile
        self.active = active
        self.nextSequence = nextSequence
        self.options = options
        self.live = live
    }

    /// Writes `batch` as consecutive records in one `pwrite` at the committed end (after sealing
    /// the full segment and creating the next, and after preparing space, when needed), then one
    /// `fdatasync`. Returns each append's sequence range, in order. On error nothing is committed:
    /// the end offset and `nextSequence` stay where they were. After `.diskFull` or `.queueFull`
    /// none of the batch is left in the file and writing may go on; after any other error the
    /// caller must stop writing. A failed write or sync cuts the batch's bytes off before
    /// throwing (`discardBatch`), so a refused batch does not come back at the next open.
    func commit(_ batch: [PendingAppend]) throws(DiskQueueError) -> Commit {
        buffer.removeAll(keepingCapacity: true)
        buffer.reserveCapacity(batch.reduce(0) { $0 + $1.encodedBytes })
        var ranges: [Range<UInt64>] = []
        ranges.reserveCapacity(batch.count)
        var sequence = nextSequence
        for append in batch {
            let first = sequence
            for payload in append.payloads {
                RecordCodec.append(sequence: sequence, payload: payload, to: &buffer)
                sequence += 1
            }
            ranges.append(first..<sequence)
        }
        let rolls = needsNewSegment(for: buffer.count)
        let room = try admit(buffer.count, rolls: rolls)
        var segment: ActiveSegment
        if let current = active, !rolls {
            segment = current
        } else {
            segment = try roll()
        }
        segment = try prepareSpace(in: segment, for: buffer.count, room: room)
        try write(buffer, to: segment)
        let syncNanoseconds: UInt64
        do throws(DiskQueueError) {
            try options.faults?.fire(.afterWriteBeforeSync)
            let started = monotonicNanoseconds()
            try system { try segment.file.synchronizeData() }
            syncNanoseconds = monotonicNanoseconds() &- started
            try options.faults?.fire(.afterSyncBeforeAck)
        } catch {
            throw discardBatch(after: error)
        }
        segment.end += buffer.count
        segment.preparedEnd = max(segment.preparedEnd, segment.end)
        active = segment
        live.add(buffer.count, to: segment.firstSequence)
        let records = Int(sequence - nextSequence)
        nextSequence = sequence
        defer { preparation = Preparation() }
        return Commit(ranges: ranges, records: records, bytes: buffer.count, syncNanoseconds: syncNanoseconds, preparation: preparation)
    }

    /// Closes the active segment. Its records were synced by their batches; its prepared space
    /// stays, and the next open resumes writing at the first zero byte.
    func close() {
        active?.file.close()
        active = nil
        directoryFile.close()
    }

    /// Refuses a batch that would take the committed bytes past `maxQueueBytes`, or leave less
    /// than `minFreeBytes` free, counting the bytes the batch adds to the files (a new segment's
    /// header, and what does not fit in the prepared space). Runs before anything of the batch
    /// touches the disk. Returns how many zero bytes may be prepared after the end of the batch
    /// within `maxQueueBytes` (nil: no bound).
    private func admit(_ byteCount: Int, rolls: Bool) throws(DiskQueueError) -> Int? {
        let header = rolls ? SegmentHeader.size : 0
        var room: Int?
        if let limit = options.maxQueueBytes {
            let committed = live.value + header + byteCount
            if committed > limit { throw .queueFull(limit: limit) }
            // Only the active segment holds zeros (sealed ones are cut to size), so keeping its
            // prepared end within this keeps the files within the bound.
            room = limit - committed
        }
        guard options.minFreeBytes > 0 else { return room }
        let growth: Int
        if let active, !rolls {
            growth = max(0, active.end + byteCount - active.preparedEnd)
        } else {
            growth = header + byteCount
        }
        let available = try system { try directoryFile.availableBytes() }
        if available - growth < options.minFreeBytes {
            throw .diskFull("\(available) bytes free; writing \(growth) would go below the reserve of \(options.minFreeBytes)")
        }
        return room
    }

    /// When `byteCount` more bytes would pass the prepared end, extends the active segment with
    /// zeros, one chunk of `preallocationBytes` (at least up to the end of the batch, never past
    /// `segmentBytes` nor `room` bytes after the batch), and syncs that once. Skipped when the
    /// batch would reach the chunk's end anyway: then the batch's own write grows the file.
    ///
    /// Zeros only take space the file system can spare: they leave `minFreeBytes` plus one more
    /// chunk free (`fstatvfs`, even with no reserve). So near a full disk the chunk shrinks to
    /// nothing and batches grow the file as they would without preallocation, refused only when
    /// they themselves do not fit, instead of every batch failing on zeros it does not need.
    ///
    /// ENOSPC or EDQUOT while writing the zeros cuts the file back to the committed end and
    /// throws `.diskFull` (nothing of the batch was written). A failed sync throws as it is: the
    /// caller stops writing, as for any failed sync.
    private func prepareSpace(in active: ActiveSegment, for byteCount: Int, room: Int?) throws(DiskQueueError) -> ActiveSegment {
        var segment = active
        let needed = segment.end + byteCount
        guard options.preallocationBytes > 0, needed > segment.preparedEnd else { return segment }
        var target = min(max(segment.preparedEnd + options.preallocationBytes, needed), options.segmentBytes)
        if let room { target = min(target, needed + room) }
        guard target > needed else { return segment }
        let spare = try system { try directoryFile.availableBytes() } - options.minFreeBytes - options.preallocationBytes
        if spare < target - segment.preparedEnd {
            target = segment.preparedEnd + max(0, spare)
            guard target > needed else { return segment }
        }
        do throws(DiskQueueError) {
            try options.faults?.fire(.prepareSpace)
            try system { try segment.file.write([UInt8](repeating: 0, count: target - segment.preparedEnd), at: segment.preparedEnd) }
        } catch {
            guard error.isOutOfSpace else { throw error }
            try cutToCommittedEnd()
            throw .diskFull(error.description)
        }
        // From here the file is `target` bytes long whether or not the sync succeeds.
        let grown = target - segment.preparedEnd
        segment.preparedEnd = target
        self.active = segment
        let started = monotonicNanoseconds()
        try system { try segment.file.synchronizeData() }
        preparation.syncNanoseconds &+= monotonicNanoseconds() &- started
        preparation.syncs += 1
        preparation.bytes += grown
        return segment
    }

    /// One `pwrite` of the batch at the committed end. When the file system is full (ENOSPC,
    /// EDQUOT; a short write ends in one of them) the segment is cut back to the committed end:
    /// those bytes were never synced or acknowledged, so the queue stays as the last sync left it
    /// (less its prepared space, which is given back). Any other error cuts the same way
    /// (`discardBatch`) and stops the queue.
    private func write(_ bytes: [UInt8], to segment: ActiveSegment) throws(DiskQueueError) {
        do throws(DiskQueueError) {
            try options.faults?.fire(.beforeWrite)
            try system { try segment.file.write(bytes, at: segment.end) }
        } catch {
            guard error.isOutOfSpace else { throw discardBatch(after: error) }
            try cutToCommittedEnd()
            throw .diskFull(error.description)
        }
    }

    /// After the batch's write or `fdatasync` failed (or anything between the write and the
    /// acknowledgement), cuts the segment back to the committed end (`ftruncate`) and `fsync`s
    /// that, then returns the error to fail the batch with. The batch gets 503, so its records
    /// must not come back when the queue is opened again: left in the file, whole records of it
    /// would pass recovery's checks and be delivered, and if the disk lost some of its pages,
    /// recovery would cut the file at the hole instead.
    ///
    /// The queue still stops (reliability rule 7), even when the cut and its sync succeed: after
    /// a failed writeback Linux reports the error once and marks the pages clean, so a later
    /// successful sync proves nothing about what the device holds, and an I/O error usually
    /// means the device is failing. Reopening the queue checks every record from disk.
    ///
    /// When the cut or its sync fails too, the error says so: the refused records may be back
    /// after a restart (at least once still holds; nothing acknowledged is lost).
    private func discardBatch(after failure: DiskQueueError) -> DiskQueueError {
        do throws(DiskQueueError) {
            try cutToCommittedEnd()
            try system { try active?.file.synchronize() }
            return failure
        } catch {
            return .failed(reason: "\(failure.description); cutting the refused batch off failed too (\(error.description)), so it may be queued again at the next start")
        }
    }

    /// `ftruncate`s the active segment to its committed end. Not synced: the bytes cut were zeros
    /// or never-synced batch bytes, and a crash that brings them back leaves a tail recovery
    /// handles. If this fails, unknown bytes stay past the end: the error stops the queue.
    private func cutToCommittedEnd() throws(DiskQueueError) {
        guard var segment = active else { return }
        try system { try segment.file.truncate(to: segment.end) }
        segment.preparedEnd = segment.end
        active = segment
    }

    /// Whether `byteCount` more bytes need a new segment: there is none, or they would take one
    /// that already holds records past `segmentBytes`.
    private func needsNewSegment(for byteCount: Int) -> Bool {
        guard let active else { return true }
        return active.end != SegmentHeader.size && active.end + byteCount > options.segmentBytes
    }

    /// Seals the active segment, if any, then creates the next one (see `createSegment`) and
    /// makes it the active one.
    ///
    /// Sealing cuts the segment's prepared space (`ftruncate` to its committed end) and fsyncs
    /// it before the next segment exists, so only the last segment can ever end in zeros. If that
    /// fails, the error stops the queue and no next segment is created.
    private func roll() throws(DiskQueueError) -> ActiveSegment {
        if var sealed = active, sealed.preparedEnd > sealed.end {
            try system { try sealed.file.truncate(to: sealed.end) }
            try system { try sealed.file.synchronize() }
            sealed.preparedEnd = sealed.end
            active = sealed
        }
        let created = try createSegment(firstSequence: nextSequence)
        active?.file.close()
        active = created
        return created
    }

    /// Creates `segment-<first>.log`, writes and fsyncs its header, then fsyncs the directory,
    /// so the segment exists durably before any record goes into it.
    ///
    /// A shortage that passes (see `DiskQueueError.isTransient`: a full file system, no file
    /// descriptor or memory to spare) while opening the file or writing its header removes
    /// whatever was created and throws `.diskFull` or `.resourcesExhausted`: nothing of the
    /// batch is on disk, the active segment stays the one before (sealed, still appendable), and
    /// the next batch tries again. Any other error is thrown as it is and stops the queue.
    private func createSegment(firstSequence: UInt64) throws(DiskQueueError) -> ActiveSegment {
        let path = QueueDirectory.path(directory, SegmentName(firstSequence: firstSequence).fileName)
        if let leftover {
            try removeLeftover(leftover, after: nil)
            self.leftover = nil
        }
        let file: FileDescriptor
        do throws(DiskQueueError) {
            try options.faults?.fire(.createSegment)
            file = try system { try FileDescriptor.open(path, flags: O_RDWR | O_CREAT | O_EXCL, mode: QueueDirectory.fileMode) }
        } catch {
            guard error.isTransient else { throw error }
            // EMFILE and ENFILE come before the file is created, but ENOMEM may come after it. A
            // file at this name can only be ours (the lock keeps other writers out, and recovery
            // leaves no segment named after the next sequence), so it goes.
            try removeLeftover(path, after: error)
            throw error.refusal
        }
        do throws(DiskQueueError) {
            try options.faults?.fire(.writeSegmentHeader)
            try system { try file.write(SegmentHeader(firstSequence: firstSequence).encoded(), at: 0) }
        } catch {
            file.close()
            guard error.isTransient else { throw error }
            // A leftover would block the name (O_EXCL) for the next try. No directory sync:
            // if a crash brings the entry back, recovery drops or sets aside a last segment
            // without a whole header, and the next segment created syncs the directory anyway.
            try removeLeftover(path, after: error)
            throw error.refusal
        }
        try system { try file.synchronize() }
        try system { try directoryFile.synchronizeDirectory() }
        live.add(SegmentHeader.size, to: firstSequence)
        return ActiveSegment(file: file, firstSequence: firstSequence, end: SegmentHeader.size)
    }
}

extension SegmentWriter {
    /// Removes a half-created segment at `path` if it is there. When the shortage that refused
    /// the creation (`cause`, nil when retrying an earlier leftover) hits this cleanup too, the
    /// path is remembered for the next creation and the batch is refused as transient; any other
    /// failure is fatal.
    fileprivate func removeLeftover(_ path: String, after cause: DiskQueueError?) throws(DiskQueueError) {
        do throws(DiskQueueError) {
            try options.faults?.fire(.removeSegmentLeftover)
            if try QueueDirectory.exists(path) { try QueueDirectory.remove(path) }
        } catch {
            guard error.isTransient else { throw error }
            leftover = path
            throw (cause ?? error).refusal
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds, for timing syncs.
private func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}
