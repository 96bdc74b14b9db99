import Glibc
import SystemSupport

/// The file `<directory>/consumer` holding the durable consumer position (the sequence of the
/// next record to deliver), 20 bytes:
/// `magic "XWQCUR01" (8) | position u64 LE (8) | crc32c of the previous 16 bytes u32 LE (4)`.
///
/// Replaced as a whole: the new contents go to `consumer.tmp`, which is fsynced and renamed over
/// `consumer`, then the directory is fsynced. A crash leaves either the old or the new file, and
/// possibly a `consumer.tmp` that recovery removes. Stateless; callers serialise writers.
enum ConsumerPositionFile {
    static let fileName = "consumer"
    static let temporaryName = "consumer.tmp"
    static let size = 20
    static let magic: [UInt8] = Array("XWQCUR01".utf8)

    /// What the file holds.
    enum Contents: Equatable {
        case missing
        /// Wrong size, magic or checksum: a torn or damaged file.
        case invalid(reason: String)
        case position(UInt64)
    }

    static func encode(_ position: UInt64) -> [UInt8] {
        var bytes = magic
        bytes.reserveCapacity(size)
        withUnsafeBytes(of: position.littleEndian) { bytes.append(contentsOf: $0) }
        let crc = CRC32C.checksum(of: bytes)
        withUnsafeBytes(of: crc.littleEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> Contents {
        guard bytes.count == size else {
            return .invalid(reason: "consumer file is \(bytes.count) bytes, expected \(size)")
        }
        guard bytes[0..<8].elementsEqual(magic) else {
            return .invalid(reason: "consumer file magic is not XWQCUR01")
        }
        return bytes.withUnsafeBytes { raw in
            let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
            guard CRC32C.checksum(of: UnsafeRawBufferPointer(rebasing: raw[0..<16])) == stored else {
                return .invalid(reason: "consumer file checksum mismatch")
            }
            return .position(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
    }

    /// Reads and checks `<directory>/consumer`. Throws only when the file exists but cannot be read.
    static func read(directory: String) throws(DiskQueueError) -> Contents {
        let file: FileDescriptor
        do throws(DiskQueueError) {
            file = try system { try FileDescriptor.open(QueueDirectory.path(directory, fileName), flags: O_RDONLY) }
        } catch .system(let error) where error.errno == ENOENT {
            return .missing
        }
        defer { file.close() }
        // One byte more than a valid file, so a longer file is seen as invalid.
        return decode(try system { try file.read(count: size + 1, at: 0) })
    }

    /// Makes `position` the durable consumer position with `AtomicFile`: write and fsync
    /// `consumer.tmp`, rename it over `consumer`, fsync the directory. Every return code is
    /// checked and a failed call keeps its errno (`.system`). When it throws before the rename,
    /// `consumer` is untouched; after it, the new file may or may not survive a crash. The file
    /// is mode 0640 like the daemon's other state files (it was 0644 less the umask; under the
    /// unit's UMask=0027 that is the same).
    static func write(_ position: UInt64, directory: String, faults: FaultInjector?) throws(DiskQueueError) {
        let staged: AtomicFile.Staged
        do throws(SystemCallError) {
            staged = try AtomicFile.stage(QueueDirectory.path(directory, fileName), with: encode(position), mode: QueueDirectory.fileMode,
                                          temporary: QueueDirectory.path(directory, temporaryName))
        } catch {
            throw .system(error)
        }
        do throws(DiskQueueError) {
            try faults?.fire(.writeConsumerPosition)
        } catch {
            staged.discard()
            throw error
        }
        do throws(SystemCallError) {
            try staged.commit()
        } catch {
            throw .system(error)
        }
    }

    /// Removes a `consumer.tmp` left by a crash before its rename. Returns whether there was one;
    /// the caller syncs the directory.
    static func removeLeftover(directory: String) throws(DiskQueueError) -> Bool {
        let path = QueueDirectory.path(directory, temporaryName)
        guard try QueueDirectory.exists(path) else { return false }
        try QueueDirectory.remove(path)
        return true
    }
}

extension ConsumerPositionFile {
    /// The consumer position a queue opens with, for recovery (which holds the lock and syncs
    /// the directory afterwards). Removes a leftover `consumer.tmp`. The stored position is kept
    /// when it lies in `earliestRecord ... nextSequence`; otherwise (file missing, torn, damaged
    /// or out of range) the position falls back to the earliest record still on disk, so records
    /// may be delivered twice but never skipped, and `reset` is true. A missing file in a queue
    /// with no records on disk (a new queue) is no reset: there is nothing to deliver again.
    static func recover(directory: String, earliestRecord: UInt64?, nextSequence: UInt64) throws(DiskQueueError) -> (position: UInt64, reset: Bool) {
        _ = try removeLeftover(directory: directory)
        let earliest = earliestRecord ?? nextSequence
        switch try read(directory: directory) {
        case let .position(position) where earliest <= position && position <= nextSequence:
            return (position, false)
        case .missing where earliestRecord == nil:
            return (earliest, false)
        default:
            return (earliest, true)
        }
    }
}
