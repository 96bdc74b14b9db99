import DiskQueue
import EventRecord
import Foundation
import ResourceFetch
import Synchronization
import SystemSupport

/// Drains the disk queue into the sink: reads events from the durable consumer position,
/// coalesces events for the same resource into one fetch of its current state, delivers the
/// record, and moves the consumer position only over events whose record the sink accepted
/// (or that went to the dead-letter store): at least once, never lost.
///
/// Each tenant has at most one fetch-and-deliver in flight, and tenants run independently, so a
/// rate-limited, disconnected or failing tenant does not hold up the others. Waiting (rate
/// limits, credential outages) is not failing: it counts no attempt, only `maxAge` ends it. A
/// paused credential holds back only the resources that need it, a disconnected tenant only its
/// own (see `Pause`); finished events above the consumer position are remembered durably so a
/// restart does not deliver them again. Within one
/// resource a newer event is never delivered before an older one: while an older event of a
/// resource waits for its retry, the resource's newer events wait with it (and are then
/// delivered together, as one record of the current state).
///
/// State is confined to this actor; blocking file work runs on a private serial queue.
package actor Worker {
    private let queue: DiskQueue
    let fetcher: any ResourceFetcher
    let sink: any Sink
    let configuration: WorkerConfiguration
    let now: @Sendable () -> Int64
    let random: @Sendable () -> Double
    let onEvent: @Sendable (WorkerEvent) -> Void
    private let deadLetters: DeadLetterStore
    var retries: RetryStore
    var pauses: PauseStore
    private var finishedStore: FinishedStore
    /// When finished.json was last written: it is rewritten at most once a second (a file
    /// behind the queue only means some finished events are delivered again after a crash).
    private var finishedWritten: ContinuousClock.Instant?
    /// Replay requests that could not be taken or removed (an admin's file the daemon may not
    /// touch): left alone until the next start, so they are neither lost nor queued again and again.
    private var replayRefused: Set<String> = []
    private let disk = DispatchQueue(label: "xero-webhookd.worker.disk")

    private var readCursor: UInt64
    private var position: UInt64
    /// Read and not yet finished, by queue sequence.
    var items: [UInt64: QueuedItem] = [:]
    /// Finished (delivered or dead-lettered) but not yet below the consumer position.
    private var finished = FinishedRanges()
    /// Ranges read back from finished.json, trusted only once the record at their first sequence
    /// is read and has the event id they name (descending: the next one to check is last).
    private var restored: [FinishedRanges.Run] = []
    /// Lanes launched so far: a pause records the count when it begins, and only a lane launched
    /// after that proves it over (a counter, so a wall clock stepping back cannot confuse it).
    var launches: UInt64 = 0
    /// The launch number of each tenant's lane in flight.
    var laneLaunch: [String: UInt64] = [:]
    /// The launch count when each pause (of this process) began; pauses read back at start have none.
    var pauseBegan: [PauseScope: UInt64] = [:]
    /// The last `connectedTenants()` answer and the launch count when it was asked.
    var connectionsAnswer: (launches: UInt64, tenants: Set<String>?)?
    var resourcesInFlight: Set<ResourceKey> = []
    /// When `/connections` may be asked next about paused tenants (milliseconds since the epoch).
    var nextConnectionsCheck: Int64 = 0
    var tenantsInFlight: Set<String> = []
    var status = WorkerStatus()
    private var loop: Task<Void, Never>?
    /// Set by `stop()`: the loop ends after its current pass and waits for its lanes.
    private var stopping = false
    /// Wakes the loop when records are committed and when a lane finishes.
    nonisolated let wake = WakeSignal()
    /// The latest `currentStatus()`, readable without awaiting the actor (health checks run on
    /// connection queues).
    private nonisolated let published = Mutex<WorkerStatus>(WorkerStatus())

    package nonisolated var statusSnapshot: WorkerStatus { published.withLock { $0 } }

    /// - Parameters:
    ///   - now: milliseconds since the epoch (injectable for tests).
    ///   - random: a number in [0, 1) for backoff jitter.
    ///   - deadLetters: where given-up events go; by default the store in `stateDirectory`. The
    ///     daemon passes the one whose count `/metrics` reads, so that count sees them at once.
    package init(queue: DiskQueue, fetcher: any ResourceFetcher, sink: any Sink, stateDirectory: String,
                deadLetters: DeadLetterStore? = nil, configuration: WorkerConfiguration = .init(),
                now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                onEvent: @escaping @Sendable (WorkerEvent) -> Void = { _ in }) {
        self.queue = queue
        self.fetcher = fetcher
        self.sink = sink
        self.configuration = configuration
        self.now = now
        self.random = random
        self.onEvent = onEvent
        self.deadLetters = deadLetters ?? DeadLetterStore(stateDirectory: stateDirectory)
        let workerDirectory = stateDirectory + "/worker"
        try? DurableFile.makeDirectory(workerDirectory)  // a failure shows at the first save
        retries = RetryStore(directory: workerDirectory)
        pauses = PauseStore(directory: workerDirectory)
        finishedStore = FinishedStore(directory: workerDirectory)
        position = queue.consumerPosition
        let next = queue.nextSequence
        let loaded = FinishedStore.load(path: finishedStore.path, position: position, next: next)
        restored = loaded.runs.reversed()
        let forgotten = retries.keep(from: position, below: next)
        // A restart may follow a fix (new credentials, a reconnected tenant): check every pause at once.
        for (scope, var pause) in pauses.pauses where pause.recheckAt > 0 {
            pause.recheckAt = 0
            pauses[scope] = pause
        }
        readCursor = position
        status.position = position
        let wake = self.wake
        queue.onCommit { wake.signal() }
        if let ignored = loaded.ignored { onEvent(.stateIgnored(file: "finished.json", reason: ignored)) }
        if forgotten > 0 {
            onEvent(.stateIgnored(file: "retries.json", reason: "\(forgotten) entries name sequences outside this queue's [\(position), \(next))"))
        }
    }

    /// Starts draining in the background.
    package func start() {
        guard loop == nil else { return }
        stopping = false
        loop = Task { await self.run() }
    }

    /// Stops reading and waits for deliveries in flight to finish; what is not acknowledged yet
    /// stays in the queue for the next start.
    package func stop() async {
        // Not a cancellation: that would reach the lanes, and a delivery cut off halfway would
        // be made again. The loop ends and its task group waits for the lanes to finish.
        stopping = true
        wake.signal()
        await loop?.value
        loop = nil
        // What the lanes finished while stopping is recorded now, or the next start delivers it again.
        guard status.failed == nil else { return }
        do {
            try await advancePosition(writeFinishedNow: true)
        } catch {
            status.failed = "\(error)"
            onEvent(.failed(reason: "\(error)"))
        }
        publish()
    }

    package func currentStatus() -> WorkerStatus {
        var snapshot = status
        snapshot.pending = items.count
        snapshot.tenantsInFlight = tenantsInFlight.count
        snapshot.retriesScheduled = retries.states.count
        snapshot.position = position
        snapshot.pauses = pauses.pauses.values.sorted { ($0.since, $0.scope.description) < ($1.since, $1.scope.description) }
        return snapshot
    }

    /// One pass of the loop, for tests that drive the worker step by step: its lanes run in a
    /// task group of their own, and it returns when they have finished (a test that holds a
    /// lane open across passes runs the loop with `start()` instead).
    package func pass() async throws {
        var failure: (any Error)?
        await withDiscardingTaskGroup { lanes in
            do {
                try await pass { tenant, work in
                    lanes.addTask { await self.runLane(tenant: tenant, work: work) }
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    private func pass(launch: (_ tenant: String, _ work: [(key: ResourceKey, items: [QueuedItem])]) -> Void) async throws {
        status.lastPass = now()
        defer { publish() }
        try await replayDeadLetters()
        try await readAhead()
        try await checkPauses()
        launchLanes(launch)
        try await advancePosition()
    }

    private func publish() {
        let snapshot = currentStatus()
        published.withLock { $0 = snapshot }
    }

    /// The loop: passes until `stop()` or a failure, its lanes in one task group, which it
    /// waits for before it returns.
    private func run() async {
        await withDiscardingTaskGroup { lanes in
            await loop(lanes: &lanes)
        }
    }

    private func loop(lanes: inout DiscardingTaskGroup) async {
        var short = false
        while !stopping && !Task.isCancelled && status.failed == nil {
            do {
                try await pass { tenant, work in
                    lanes.addTask { await self.runLane(tenant: tenant, work: work) }
                }
                short = false
            } catch where Self.isShortage(error) {
                // Nothing is lost: what was not recorded is read or delivered again.
                if !short { onEvent(.shortage(reason: "\(error)")) }
                short = true
            } catch {
                status.failed = "\(error)"
                publish()
                onEvent(.failed(reason: "\(error)"))
                return
            }
            // New records and finished lanes wake the loop at once; otherwise it looks again
            // when the next retry or pause check is due, and at least every pollInterval (for
            // replay requests an admin command left in the dead-letter store).
            await wake.wait(timeout: nextWake())
        }
    }

    /// How long the loop may wait for a signal: until the next retry or pause check is due, at
    /// most `pollInterval`, at least a millisecond.
    private func nextWake() -> Duration {
        let current = now()
        var due = current.adding(configuration.pollInterval.milliseconds)
        for state in retries.states.values where state.nextTry > current { due = min(due, state.nextTry) }
        for pause in pauses.pauses.values where pause.recheckAt > current { due = min(due, pause.recheckAt) }
        if nextConnectionsCheck > current { due = min(due, nextConnectionsCheck) }
        return .milliseconds(max(1, due - current))
    }

    // MARK: Reading

    /// Reads up to `window` events that can go now: events held by a pause or waiting for their
    /// next try do not count, so they cannot starve other tenants. Memory stays bounded: at most
    /// `window * heldWindows` events are in memory in all.
    private func readAhead() async throws {
        let current = now()
        let goingNow = items.values.reduce(0) { count, item in
            (retries[item.sequence]?.nextTry ?? 0) > current || isHeld(item.key, resourceURL: item.resourceURL, now: current) ? count : count + 1
        }
        let room = min(configuration.window - goingNow, configuration.window * Self.heldWindows - items.count)
        guard room > 0 else { return }
        let queue = self.queue
        let from = max(readCursor, position)
        let records = try await onDisk { try queue.readRecords(from: from, maxCount: room) }
        for record in records {
            readCursor = record.sequence + 1
            if finished.contains(record.sequence) { continue }
            // Finished before a restart, above the position: not fetched or delivered again.
            if restoredFinished(record) { continue }
            do {
                let item = try QueuedItem.decode(record)
                // A retry state left by another queue's event at this sequence is not this event's
                // (a state without an id was written before ids were kept: it is kept).
                if let id = retries[record.sequence]?.eventID, id != item.eventID { retries[record.sequence] = nil }
                items[record.sequence] = item
            } catch {
                // The record's bytes are kept (base64), so nothing it carried is lost.
                let kept = #"{"undecodable":true,"base64":"\#(Data(record.payload).base64EncodedString())"}"#
                let letter = DeadLetter(sequence: record.sequence, eventID: EventID.of(record.payload) ?? "unknown",
                                        receivedAt: "", event: Array(kept.utf8), deadAt: now(), reason: error.description)
                try await bury(letter, sequence: record.sequence)
            }
        }
    }

    /// Events held or waiting may fill this many windows in memory (the rest stay in the queue).
    static let heldWindows = 4

    /// Whether `record` lies in a range finished.json restored, checking the range against the
    /// record at its first sequence (a range that does not match is dropped and reported).
    private func restoredFinished(_ record: QueueRecord) -> Bool {
        while let head = restored.last, head.last < record.sequence { restored.removeLast() }
        guard let head = restored.last, head.first <= record.sequence else { return false }
        restored.removeLast()
        let found = FinishedStore.eventID(of: record)
        guard head.first == record.sequence, found == head.firstEventID else {
            onEvent(.stateIgnored(file: "finished.json", reason: "range \(head.first)-\(head.last) does not match the queue's record \(record.sequence)"))
            return false
        }
        finished.insert(head)
        return true
    }

    private func replayDeadLetters() async throws {
        let store = deadLetters
        let letters = await onDisk { store.pendingReplays() }
        for letter in letters where !replayRefused.contains(letter.id) {
            do {
                guard try await onDisk({ try store.takeReplay(letter) }) else { continue }
            } catch {
                // Not queued: it would be queued again at every pass. Once per letter and run.
                replayRefused.insert(letter.id)
                onEvent(.replayFailed(id: letter.id, reason: "\(error)"))
                continue
            }
            // The letter keeps the event compacted; the id it had goes with it.
            let record = QueuedEvent(receivedAt: letter.receivedAt, eventSequence: nil, event: letter.event, eventID: letter.eventID).encoded()
            let queue = self.queue
            _ = try await onDisk { try queue.append([record]) }
            do {
                try await onDisk { try store.finishReplay(letter) }
            } catch {
                replayRefused.insert(letter.id)  // queued once; the file stays for the operator
                onEvent(.replayFailed(id: letter.id, reason: "\(error)"))
            }
            onEvent(.replayed(id: letter.id))
        }
    }

    /// Whether `error` is a shortage of file descriptors, kernel memory or disk space, which
    /// passes: the worker waits it out instead of stopping. Its state files are replaced
    /// atomically, so a write that failed for want of space left the old one in place.
    static func isShortage(_ error: any Error) -> Bool {
        let codes: Set<Int32> = [EMFILE, ENFILE, ENOMEM, ENOSPC, EDQUOT]
        switch error {
        case let error as DiskQueueError:
            if case let .system(cause) = error { return codes.contains(cause.errno) }
            return false
        case let error as SystemCallError: return codes.contains(error.errno)
        case let error as DurableFile.Failure:
            guard let cause = error.system else { return false }
            return codes.contains(cause.errno)
        default: return false
        }
    }

    /// Stores a dead letter durably, then treats its event as finished.
    func bury(_ letter: DeadLetter, sequence: UInt64) async throws {
        let store = deadLetters
        try await onDisk { try store.add(letter) }
        status.deadLettered += 1
        onEvent(.deadLettered(id: letter.id, reason: letter.lastError))
        finish(sequence, eventID: letter.eventID)
    }

    func finish(_ sequence: UInt64, eventID: String) {
        items[sequence] = nil
        retries[sequence] = nil
        finished.insert(sequence, eventID: eventID)
    }

    /// Moves the durable consumer position over the finished prefix, and over sequences the
    /// queue's recovery set aside (`DiskQueue.missingSequences`: no record will come for them, so
    /// they count as done). What is finished above it is written first, so a restart skips it;
    /// the retry and pause files are written too.
    private func advancePosition(writeFinishedNow: Bool = false) async throws {
        var next = queue.skippingMissing(position)
        // The runs the position passes, given back if a write below fails (a full disk): taken
        // for good, they once left the position short for ever, and the files not written were
        // not written again either.
        var taken: [FinishedRanges.Run] = []
        while let run = finished.runs.first, run.first == next, let after = finished.takeRun(startingAt: next) {
            taken.append(run)
            next = queue.skippingMissing(after)
        }
        let clock = ContinuousClock()
        let finishedDue = writeFinishedNow || finishedWritten.map { clock.now - $0 >= .seconds(1) } ?? true
        let finishedChanges = finishedDue ? finishedStore.takeChanges(finished) : nil
        let retryChanges = retries.takeChanges(), pauseChanges = pauses.takeChanges()
        var written = 0
        do {
            for (changes, path) in [(retryChanges, retries.path), (pauseChanges, pauses.path), (finishedChanges, finishedStore.path)] {
                if let changes { try await onDisk { try DurableFile.write(changes, to: path) } }
                written += 1
            }
            if next > position {
                let queue = self.queue
                let target = next
                try await onDisk { try queue.setConsumerPosition(target) }
            }
        } catch {
            if written < 1 { retries.writeFailed() }
            if written < 2 { pauses.writeFailed() }
            if written < 3 { finishedStore.writeFailed() }
            for run in taken { finished.insert(run) }
            throw error
        }
        if finishedChanges != nil { finishedWritten = clock.now }
        position = next
    }

    func onDisk<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            disk.async { continuation.resume(with: Result { try body() }) }
        }
    }

    private func onDisk<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            disk.async { continuation.resume(returning: body()) }
        }
    }
}
