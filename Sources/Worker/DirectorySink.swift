import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XeroWebhooks

/// The default sink: JSON Lines files under a directory, `records-YYYY-MM-DD-NNNN.jsonl`, a new
/// file each UTC day and whenever the current one would pass `maxFileBytes`. A batch is written
/// and fsynced before it is reported accepted (a new file's directory entry is fsynced too).
///
/// Its state (the open file) is confined to `io`, a private serial queue that may block on fsync.
public final class DirectorySink: Sink, @unchecked Sendable {
    private let directory: String
    private let maxFileBytes: Int
    private let io = DispatchQueue(label: "xero-webhookd.sink.directory")
    private var fd: Int32 = -1
    private var fileDay = ""
    private var fileBytes = 0
    private var index = 0

    public init(directory: String, maxFileBytes: Int = 64 << 20) {
        self.directory = directory
        self.maxFileBytes = maxFileBytes
    }

    deinit { if fd >= 0 { close(fd) } }

    public func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>] {
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
        if fd < 0 || day != fileDay || (fileBytes > 0 && fileBytes + bytes.count > maxFileBytes) {
            if let error = openNext(day: day) { return .failure(error) }
        }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return .failure(fail("write", cutBackTo: fileBytes)) }
            offset += n
        }
        guard fdatasync(fd) == 0 else { return .failure(fail("fdatasync", cutBackTo: fileBytes)) }
        fileBytes += bytes.count
        return .success(())
    }

    private func openNext(day: String) -> SinkError? {
        if fd >= 0 { close(fd); fd = -1 }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            return SinkError("cannot create \(directory): \(error)")
        }
        if day != fileDay { index = 0 }
        while true {
            index += 1
            let path = directory + "/records-\(day)-" + String(format: "%04d", index) + ".jsonl"
            let opened = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard opened >= 0 else { return SinkError("open \(path): \(String(cString: strerror(errno)))") }
            var info = stat()
            fstat(opened, &info)
            if Int(info.st_size) >= maxFileBytes {  // left from an earlier run: take the next name
                close(opened)
                continue
            }
            fd = opened
            fileDay = day
            fileBytes = Int(info.st_size)
            break
        }
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 { fsync(dirfd); close(dirfd) }
        return nil
    }

    /// Reports a failed batch; the file is cut back so no half line stays (the batch is retried).
    private func fail(_ call: String, cutBackTo size: Int) -> SinkError {
        let error = SinkError("\(call) in \(directory): \(String(cString: strerror(errno)))")
        _ = ftruncate(fd, off_t(size))  // best effort: a failed cut leaves a line the next fsync may keep
        close(fd)
        fd = -1  // reopen (and re-check) on the next batch
        return error
    }
}
