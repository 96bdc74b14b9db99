import Glibc
import SystemSupport

/// Reading and marking the files recovery set aside (`SetAsideFile`), for `queue salvage`.
extension DiskQueue {
    /// The bytes of a set-aside file of this queue.
    package func read(_ file: SetAsideFile) throws(DiskQueueError) -> [UInt8] {
        try consumer.checkOpen()
        let handle = try system { try FileDescriptor.open(QueueDirectory.path(consumer.directory, file.name), flags: O_RDONLY) }
        defer { handle.close() }
        return try system { try handle.readAll() }
    }

    /// Marks a set-aside file as salvaged: renames it to `<name>.salvaged` and syncs the
    /// directory, so `queue salvage` does not queue its contents again. Call it only once what
    /// it held is durably queued again: a crash in between queues it twice (at least once,
    /// never lost). Requires the queue open (the directory lock held).
    package func markSalvaged(_ file: SetAsideFile) throws(DiskQueueError) {
        try consumer.checkOpen()
        guard !file.salvaged else { return }
        let directory = consumer.directory
        try QueueDirectory.rename(QueueDirectory.path(directory, file.name),
                                  to: QueueDirectory.path(directory, file.name + SetAsideFile.salvagedSuffix))
        let directoryFile = try system { try FileDescriptor.openDirectory(directory) }
        defer { directoryFile.close() }
        try system { try directoryFile.synchronizeDirectory() }
    }
}
