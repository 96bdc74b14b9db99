import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SystemSupport
import EventRecord

/// The default sink: JSON Lines files under a directory, `records-YYYY-MM-DD-NNNN.jsonl`, a new
/// file each UTC day and whenever the current one would pass `maxFileBytes`. A batch is written
/// and fsynced before it is reported accepted (the directory, created with its parents synced,
/// is fsynced after a file is opened in it, so a new file's entry is durable too).
///
/// Every file but the newest is complete. In the newest, each line that ends in LF is a whole
/// record; a last line without one is a write in progress (cut off at the next start if a crash
/// left it). Read LF-terminated lines only, and a file once a later one exists.
///
/// Retention (off unless configured): when a new file is started, files of days more than
/// `retention.days` before today, then the oldest files while all of them pass
/// `retention.maxTotalBytes`, are deleted; never the file being written.
///
/// Only one sink writes in a directory at a time: it holds an `flock` on the directory, and a
/// second one (another daemon configured with the same directory) fails its batches until the
/// first is gone.
///
/// Its state (the open file) is confined to `io`, a private serial queue that may block on fsync.
package final class DirectorySink: Sink, @unchecked Sendable {
    package struct Retention: Sendable, Equatable {
        /// Keep files of today and this many days before (UTC); nil: no limit by age.
        package var days: Int?
        /// Bound on all record files together; nil: no limit by size.
        package var maxTotalBytes: Int?
        package init(days: Int? = nil, maxTotalBytes: Int? = nil) {
            self.days = days
            self.maxTotalBytes = maxTotalBytes
        }
    }

    private let directory: String
    private let maxFileBytes: Int
    private let retention: Retention
    /// Bytes in the record files and files deleted by retention, for `/metrics` (read from any thread).
    private let usage = Mutex<(bytes: Int, removed: Int)>((0, 0))
    private let io = DispatchQueue(label: "xero-webhookd.sink.directory")
    private var file: FileDescriptor?
    /// The records directory, locked (`flock`) while this sink writes in it.
    private var lock: FileDescriptor?
    private var fileDay = ""
    private var fileBytes = 0
    private var index = 0

    package init(directory: String, maxFileBytes: Int = 64 << 20, retention: Retention = Retention()) {
        self.directory = directory
        self.maxFileBytes = maxFileBytes
        self.retention = retention
    }

    /// Bytes the record files hold (as of the last batch) and files retention has deleted.
    package var diskUsage: (bytes: Int, filesRemoved: Int) { usage.withLock { ($0.bytes, $0.removed) } }

    package func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>] {
        let outcome: Result<Void, SinkError> = await withCheckedContinuation { continuation in
            io.async { continuation.resume(returning: self.write(records)) }
        }
        return Array(repeating: outcome, count: records.count)
    }

    private func write(_ records: [DeliveryRecord]) -> Result<Void, SinkError> {
        var bytes: [UInt8] = []
        for record in records {
            bytes += record.json()
            bytes.append(UInt8(ascii: "\n"))
        }
        let day = String(UTCTimestamp.format(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)).prefix(10))
        if file == nil || day != fileDay || (fileBytes > 0 && fileBytes + bytes.count > maxFileBytes) {
            if let error = openNext(day: day) { return .failure(error) }
        }
        guard let file else { return .failure(SinkError(SystemCallError(call: "open", errno: EBADF, path: directory))) }
        do {
            try file.append(bytes)
            try file.synchronizeData()
        } catch {
            return .failure(fail(error, cutBackTo: fileBytes))
        }
        fileBytes += bytes.count
        usage.withLock { $0.bytes += bytes.count }
        return .success(())
    }

    private func openNext(day: String) -> SinkError? {
        file?.close()
        file = nil
        do {
            try DirectorySync.makeDirectory(at: directory, mode: 0o755)
        } catch {
            return SinkError(error, context: "cannot create \(directory)")
        }
        if lock == nil, let error = lockDirectory() { return error }
        if day != fileDay { index = 0 }
        while true {
            index += 1
            let path = directory + "/records-\(day)-" + String(format: "%04d", index) + ".jsonl"
            let opened: FileDescriptor
            let size: Int
            do {
                opened = try FileDescriptor.open(path, flags: O_RDWR | O_CREAT | O_APPEND, mode: 0o640)
                size = try opened.size()
            } catch {
                return SinkError(error)
            }
            if size >= maxFileBytes {  // left from an earlier run: take the next name
                opened.close()
                continue
            }
            let kept: Int
            switch Self.cutTornTail(opened, size: size) {
            case let .success(cut): kept = cut
            case let .failure(error):
                opened.close()
                return error
            }
            // The file may be new: its name must be durable before a batch in it is accepted.
            do {
                try DirectorySync.synchronize(directory: directory)
            } catch {
                opened.close()
                return SinkError(error)
            }
            file = opened
            fileDay = day
            fileBytes = kept
            break
        }
        applyRetention(today: day, current: directory + "/records-\(day)-" + String(format: "%04d", index) + ".jsonl")
        return nil
    }

    /// One writer per records directory: two sinks each cutting a failed batch back to its own
    /// count of the bytes, or rotating by it, would cut or strand each other's accepted lines.
    /// A second daemon pointed at the same directory is refused until the first lets go.
    private func lockDirectory() -> SinkError? {
        do {
            let opened = try FileDescriptor.openDirectory(directory)
            guard try opened.tryLockExclusive() else {
                opened.close()
                return SinkError("\(directory) is in use by another xero-webhookd (each daemon needs a records directory of its own)")
            }
            lock = opened
            return nil
        } catch {
            return SinkError(error, context: "cannot lock \(directory)")
        }
    }

    /// Deletes what retention allows (never `current`) and recounts the bytes the files hold.
    private func applyRetention(today: String, current: String) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("records-") && $0.hasSuffix(".jsonl") }.sorted()
        var files: [(path: String, day: String, bytes: Int)] = names.map { name in
            var info = stat()
            let path = directory + "/" + name
            return (path, String(name.dropFirst("records-".count).prefix(10)), stat(path, &info) == 0 ? Int(info.st_size) : 0)
        }
        var removed = 0
        func remove(_ index: Int) -> Bool {
            guard files[index].path != current, unlink(files[index].path) == 0 else { return false }
            files.remove(at: index)
            removed += 1
            return true
        }
        if let days = retention.days, let cutoff = Self.day(today, minus: days) {
            var index = 0
            while index < files.count {
                if files[index].day < cutoff, remove(index) { continue }
                index += 1
            }
        }
        if let limit = retention.maxTotalBytes {
            var index = 0
            while files.reduce(0, { $0 + $1.bytes }) > limit, index < files.count {
                if !remove(index) { index += 1 }
            }
        }
        if removed > 0 { try? DirectorySync.synchronize(directory: directory) }
        let total = files.reduce(0) { $0 + $1.bytes }
        usage.withLock { $0 = (total, $0.removed + removed) }
    }

    /// `YYYY-MM-DD` `days` days before `day` (UTC).
    static func day(_ day: String, minus days: Int) -> String? {
        var parts = day.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        var components = DateComponents()
        (components.year, components.month, components.day) = (parts[0], parts[1], parts[2])
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: components), let earlier = calendar.date(byAdding: .day, value: -days, to: date) else { return nil }
        parts = [calendar.component(.year, from: earlier), calendar.component(.month, from: earlier), calendar.component(.day, from: earlier)]
        return String(format: "%04d-%02d-%02d", parts[0], parts[1], parts[2])
    }

    /// A file whose last line has no LF was cut by a crash mid-write: that batch was never
    /// reported accepted (the fsync comes first), so the worker delivers it again. The partial
    /// line is cut off, or the next record would be glued to it. Returns the size kept.
    static func cutTornTail(_ file: FileDescriptor, size: Int) -> Result<Int, SinkError> {
        let chunkSize = 64 << 10
        var end = size
        while end > 0 {
            let start = max(0, end - chunkSize)
            let chunk: [UInt8]
            do {
                chunk = try file.read(count: end - start, at: start)
            } catch {
                return .failure(SinkError(error, context: "read the end of a records file"))
            }
            guard chunk.count == end - start else {
                return .failure(SinkError(SystemCallError(call: "pread", errno: EIO, path: file.path), context: "read the end of a records file"))
            }
            if let newline = chunk.lastIndex(of: UInt8(ascii: "\n")) {
                end = start + newline + 1
                break
            }
            end = start
        }
        guard end < size else { return .success(size) }
        do {
            try file.truncate(to: end)
            try file.synchronizeData()
        } catch {
            return .failure(SinkError(error, context: "cut a partly written record"))
        }
        return .success(end)
    }

    /// Reports a failed batch; the file is cut back so no half line stays (the batch is retried).
    private func fail(_ error: SystemCallError, cutBackTo size: Int) -> SinkError {
        try? file?.truncate(to: size)  // best effort: a failed cut leaves a line the next fsync may keep
        file?.close()
        file = nil  // reopen (and re-check) on the next batch
        return SinkError(error)
    }
}
