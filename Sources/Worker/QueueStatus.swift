import DiskQueue
import EventRecord
import Foundation

/// What is waiting in a queue directory, read without the queue lock (so it works while the
/// daemon runs): pending events from the durable consumer position on, the oldest one's age,
/// the backlog per tenant, the dead letters, and the worker's pauses (credentials and tenants
/// held back, with the reason).
package struct QueueStatus: Sendable, Equatable {
    package var consumerPosition: UInt64
    package var pending: Int
    package var oldestPendingReceivedAt: String?
    package var backlogByTenant: [String: Int]
    package var deadLetters: Int
    package var replaysWaiting: Int
    /// As the worker last stored them, oldest first.
    package var pauses: [Pause] = []
    /// What recovery set aside in the queue directory (damaged records, torn tails), by name;
    /// `queue salvage` queues again what still decodes in those not salvaged yet.
    package var setAside: [SetAsideFile] = []

    package static func read(stateDirectory: String) throws(DiskQueueError) -> QueueStatus {
        let queueDirectory = stateDirectory + "/queue"
        let exists = FileManager.default.fileExists(atPath: queueDirectory)
        let records = exists ? try QueueReader.records(in: queueDirectory) : []
        let setAside = exists ? try SetAsideFile.list(in: queueDirectory) : []
        // Recovery falls back to the earliest record when the position file is missing or bad.
        let position = try (exists ? QueueReader.consumerPosition(in: queueDirectory) : nil) ?? records.first?.sequence ?? 1
        // Delivered above a position an older event still holds back: not pending any more.
        let finished = FinishedStore.read(stateDirectory: stateDirectory, position: position,
                                           records: records.filter { $0.sequence >= position })
        let pending = records.filter { $0.sequence >= position && !finished.contains($0.sequence) }
        var byTenant: [String: Int] = [:]
        var oldest: String?
        for record in pending {
            guard let item = try? QueuedItem.decode(record) else { continue }
            byTenant[item.key.tenantID, default: 0] += 1
            if oldest == nil { oldest = item.receivedAt }
        }
        let store = DeadLetterStore(stateDirectory: stateDirectory)
        return QueueStatus(consumerPosition: position, pending: pending.count, oldestPendingReceivedAt: oldest,
                           backlogByTenant: byTenant, deadLetters: store.list().count,
                           replaysWaiting: store.pendingReplays().count,
                           pauses: PauseStore.read(stateDirectory: stateDirectory), setAside: setAside)
    }
}
