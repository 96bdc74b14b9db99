import DaemonConfig
import DiskQueue
import EventRecord
import Foundation
import HTTPServer
import Logging
import OpenSSLSupport
import Synchronization
import SystemSupport
import Worker
import XeroAPI
import XeroWebhooks

/// The running receiver: the disk queue, the webhook endpoint and the HTTP server, wired
/// together. `start` opens the listener; `stop` drains connections and closes the queue.
package final class Daemon: Sendable {
    package let config: DaemonConfig
    private let logger: Logger
    private let queue: DiskQueue
    private let server: HTTPServer
    /// `admin.listen`: `/metrics`, `/healthz` and `/readyz` apart from the webhook listener.
    private let adminServer: HTTPServer?
    private let receiver: WebhookReceiver
    private let worker: Worker?
    /// With `queue.backend: postgres`: the shared queue's worker, in place of `worker`.
    private let sharedWorker: (any SharedQueueWorker)?
    /// The worker's sink when it has work of its own to start and stop (the postgres sink).
    private let managedSink: (any ManagedSink)?
    /// The dead-letter store the worker buries events in and whose count `/metrics` reports.
    private let deadLetters: DeadLetterStore
    package let metrics = Metrics()
    /// Whether the size bound refuses events right now (for `/readyz`).
    private let refusal: QueueRefusal
    /// Returns memory freed after bursts of connections to the system.
    private let freeMemory = FreeMemory()
    /// Native TLS, when `listen.tls` is configured (reloaded on SIGHUP).
    package let tls: TLSContext?
    private let xeroMetrics: (@Sendable () async -> XeroClientMetrics)?

    /// Opens (and recovers) the queue. Throws `DiskQueueError` if the queue cannot be opened,
    /// e.g. because another daemon holds its lock.
    /// - Parameters:
    ///   - tls: serve HTTPS with this context (made from `config.tls`).
    ///   - fetcher, sink: the worker runs when both are given and `config.worker.enabled`.
    ///   - sharedQueue: where accepted events go instead of the disk queue (cluster mode's
    ///     postgres queue), with the maker of its worker (given the daemon's event logger), which
    ///     then runs in place of the disk queue's.
    package init(config: DaemonConfig, keys: WebhookKeys, logger: Logger, tls: TLSContext? = nil, faults: FaultInjector? = nil,
                fetcher: (any ResourceFetcher)? = nil, sink: (any Sink)? = nil,
                xeroMetrics: (@Sendable () async -> XeroClientMetrics)? = nil,
                sharedQueue: (store: any EventStore, worker: SharedQueueWorkerMaker?)? = nil) throws(DiskQueueError) {
        self.config = config
        self.logger = logger
        self.xeroMetrics = xeroMetrics
        self.tls = tls
        refusal = QueueRefusal(maxBytes: config.queueMaxBytes)
        queue = try DiskQueue(directory: config.queueDirectory, options: Daemon.queueOptions(config, faults: faults))
        Daemon.logRecovery(queue.recovery, directory: config.queueDirectory, logger: logger)
        if sharedQueue != nil, queue.nextSequence > queue.consumerPosition {
            // Accepted while this node had the disk queue; with the postgres queue nothing reads them.
            logger.warning("the local disk queue still holds events and queue.backend is postgres: they are not delivered; run this node with queue.backend disk until `queue status` shows none pending, then switch", metadata: [
                "directory": "\(config.queueDirectory)", "upTo": "\(queue.nextSequence - queue.consumerPosition)",
            ])
        }
        receiver = WebhookReceiver(
            signature: keys.signature,
            queue: sharedQueue?.store ?? queue,
            now: { Int64(Date().timeIntervalSince1970 * 1000) },
            onOutcome: Daemon.outcomeLogger(logger, metrics: metrics, refusal: refusal, queue: queue)
        )
        deadLetters = DeadLetterStore(stateDirectory: config.stateDirectory)
        _ = deadLetters.count  // listed once now rather than at the first scrape
        sharedWorker = sharedQueue?.worker?(Daemon.workerLogger(logger, metrics: metrics))
        if sharedQueue == nil, config.worker.enabled, let fetcher, let sink {
            worker = Worker(queue: queue, fetcher: fetcher, sink: sink, stateDirectory: config.stateDirectory,
                            deadLetters: deadLetters, configuration: config.worker.workerConfiguration, onEvent: Daemon.workerLogger(logger, metrics: metrics))
        } else {
            worker = nil
        }
        managedSink = worker == nil && sharedWorker == nil ? nil : sink as? any ManagedSink
        let queue = self.queue
        let worker = self.worker
        let sharedWorker = self.sharedWorker
        let metrics = self.metrics
        let refusal = self.refusal
        let directorySink = sink as? DirectorySink
        let deadLetters = self.deadLetters
        let counting = sharedQueue?.store as? any QueueCounting
        var router = Router(webhookPath: config.webhookPath, receiver: receiver, queue: queue, metrics: metrics, readiness: {
            Daemon.problems(queue: queue, worker: worker, now: Int64(Date().timeIntervalSince1970 * 1000), refusal: refusal,
                            sharedWorker: sharedWorker?.statusSnapshot)
        }, pauses: {
            Daemon.pauses(worker: worker)
        }, exposition: {
            let xero = await xeroMetrics?()
            let shared = await counting?.pendingAndDead()
            return metrics.render(queue: queue, deadLetters: deadLetters, worker: worker?.statusSnapshot ?? sharedWorker?.statusSnapshot, xero: xero,
                                  tls: tls?.certificate, sink: directorySink, shared: shared)
        })
        if config.adminPort != nil {
            // The admin endpoints on their own listener (plain HTTP, typically loopback); the
            // webhook listener, often public, serves the webhook path only.
            var admin = router
            admin.servesWebhook = false
            router.servesAdmin = false
            let adminRouter = admin
            adminServer = HTTPServer(limits: config.limits, groups: 1, onEvent: Daemon.serverEventLogger(logger, metrics: metrics)) { request, responder in
                adminRouter.route(request, responder)
            }
        } else {
            adminServer = nil
        }
        let webhookRouter = router
        server = HTTPServer(limits: config.limits, tls: tls, onEvent: Daemon.serverEventLogger(logger, metrics: metrics)) { request, responder in
            webhookRouter.route(request, responder)
        }
    }

    /// The queue options the daemon (and `queue salvage`) open the queue with.
    package static func queueOptions(_ config: DaemonConfig, faults: FaultInjector? = nil) -> DiskQueueOptions {
        DiskQueueOptions(
            segmentBytes: config.queueSegmentBytes,
            maxRecordBytes: config.limits.maxBodyBytes + 4096,  // one event plus the record envelope
            faults: faults,
            minFreeBytes: config.queueMinFreeBytes,
            maxQueueBytes: config.queueMaxBytes
        )
    }

    /// What recovery found: one line always; a warning per stretch of damaged records set aside
    /// (segment, offset, bytes, sequences, where the copy is); a notice for a torn tail cut
    /// (the normal trace of a crash) and for sequences the consumer will pass without a record.
    package static func logRecovery(_ report: RecoveryReport, directory: String, logger: Logger) {
        logger.info("queue opened", metadata: [
            "directory": "\(directory)", "segments": "\(report.segments)",
            "records": "\(report.records)", "nextSequence": "\(report.nextSequence)",
        ])
        if report.truncatedBytes > 0 {
            logger.notice("queue cut a torn tail left by a crash", metadata: ["truncatedBytes": "\(report.truncatedBytes)"])
        }
        if !report.quarantinedFiles.isEmpty {
            logger.warning("queue recovered damaged data", metadata: [
                "quarantined": "\(report.quarantinedFiles.joined(separator: ","))",
            ])
        }
        for damage in report.damaged {
            let sequences = damage.sequences.map { "\($0.lowerBound)-\($0.upperBound)" } ?? "none"
            logger.warning("queue set aside damaged records; the intact ones around them are kept", metadata: [
                "segment": "\(damage.segment)", "offset": "\(damage.offset)", "bytes": "\(damage.bytes)",
                "sequences": "\(sequences)", "file": "\(damage.file)",
            ])
        }
        for zeroed in report.zeroedTails {
            logger.warning("queue found zeros where acknowledged records were; the disk lost them", metadata: [
                "segment": "\(zeroed.segment)", "offset": "\(zeroed.offset)", "bytes": "\(zeroed.bytes)",
                "sequences": "\(zeroed.sequences.lowerBound)-\(zeroed.sequences.upperBound)",
            ])
        }
        if !report.missingSequences.isEmpty {
            logger.notice("queue sequences without a record count as done", metadata: [
                "sequences": "\(report.missingSequences.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ","))",
            ])
        }
    }

    /// Swaps in reloaded webhook keys (SIGHUP); requests already being checked finish with the old ones.
    package func updateKeys(_ keys: WebhookKeys) {
        receiver.updateKeys(keys.signature)
    }

    /// Starts listening, on the socket systemd passed (socket activation) or else on the
    /// configured address, and returns the bound address.
    package func start(environment: [String: String] = [:]) throws(SystemCallError) -> SocketAddress {
        let address: SocketAddress
        if let passed = SystemdNotifier.listenSocket(environment: environment) {
            address = try server.start(listeningSocket: passed)
            logger.info("using the socket passed by systemd", metadata: ["fd": "\(passed)"])
        } else {
            address = try server.start(host: config.listenHost, port: config.listenPort)
        }
        logger.info("listening", metadata: ["address": "\(address)", "webhookPath": "\(config.webhookPath)",
                                            "scheme": "\(tls == nil ? "http" : "https")"])
        if let adminServer, let host = config.adminHost, let port = config.adminPort {
            let admin = try adminServer.start(host: host, port: port)
            logger.info("admin endpoints listening", metadata: ["adminAddress": "\(admin)", "paths": "/metrics /healthz /readyz"])
        } else if !["127.0.0.1", "::1"].contains(config.listenHost) {
            logger.notice("/metrics, /healthz and /readyz are served on the webhook listener; set admin.listen to keep them off it")
        }
        if let worker {
            managedSink?.start()
            Task { await worker.start() }
            logger.info("worker started", metadata: ["sink": "\(config.worker.sink.rawValue)"])
        }
        if let sharedWorker {
            managedSink?.start()
            sharedWorker.start()
            logger.info("worker started", metadata: ["sink": "\(config.worker.sink.rawValue)", "queue": "postgres"])
        }
        if let xeroMetrics {
            // A line when tokens were renewed (refresh, grant, command run, new token file), never
            // the token. Counted from 0, so a renewal before the first look is logged too.
            let logger = self.logger
            Task {
                var seen = 0
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(2))
                    let renewals = await xeroMetrics().tokenRenewals
                    if renewals > seen { logger.info("xero access token renewed", metadata: ["renewals": "\(renewals)"]) }
                    seen = renewals
                }
            }
        }
        return address
    }

    /// Stops accepting, lets requests in progress finish within the grace period, then closes
    /// the queue (every acknowledged event is already durable).
    package func stop() {
        adminServer?.shutdown(grace: .zero)
        server.shutdown(grace: .milliseconds(config.shutdownGraceMilliseconds))
        if let worker {
            // Deliveries in flight finish; anything not acknowledged stays queued for next time.
            runBlocking { await worker.stop() }
        }
        if let sharedWorker {
            runBlocking { await sharedWorker.stop() }
        }
        if let managedSink {
            runBlocking { await managedSink.stop() }
        }
        queue.close()
        let stats = queue.stats
        logger.info("queue closed", metadata: [
            "syncs": "\(stats.syncs)", "records": "\(stats.records)", "bytes": "\(stats.bytes)",
        ])
    }

    package static func outcomeLogger(_ logger: Logger, metrics: Metrics, refusal: QueueRefusal,
                              queue: DiskQueue) -> @Sendable (WebhookReceiver.Outcome, SocketAddress?) -> Void {
        // While the queue refuses events (full disk, size bound, failed), one line when it
        // starts and one when it ends, not one per request: Xero keeps retrying meanwhile.
        let refusing = Mutex<String?>(nil)
        return { outcome, peer in
            // Made only for a line that is logged (metadata is an autoclosure): most accepted
            // deliveries log nothing at the default level.
            func from() -> Logger.MetadataValue { "\(peer.map(\.description) ?? "-")" }
            switch outcome {
            case let .accepted(events, _): metrics.response(200); metrics.enqueued(events)
            case .acknowledgedEmpty: metrics.response(200)
            case .missingSignature, .badSignature: metrics.response(401); metrics.signatureFailure()
            case .notAPayload: metrics.response(400)
            case .persistFailed: metrics.response(503)
            case .methodNotAllowed: metrics.response(405)
            }
            switch outcome {
            case .accepted: refusal.accepted()
            case .persistFailed(.queueFull): refusal.refused(liveBytes: queue.liveBytes)
            default: break
            }
            switch outcome {
            case let .accepted(events, sequences):
                if let reason = refusing.withLock({ state -> String? in defer { state = nil }; return state }) {
                    logger.notice("queue accepting events again", metadata: ["after": "\(reason)"])
                }
                logger.debug("events queued", metadata: [
                    "events": "\(events)", "firstSequence": "\(sequences.lowerBound)", "peer": from(),
                ])
            case .acknowledgedEmpty:
                logger.info("signed delivery without events acknowledged", metadata: ["peer": from()])
            case .missingSignature:
                logger.notice("request rejected", metadata: ["status": "401", "reason": "missing x-xero-signature", "peer": from()])
            case .badSignature:
                logger.notice("request rejected", metadata: ["status": "401", "reason": "signature mismatch", "peer": from()])
            case let .notAPayload(reason):
                logger.warning("request rejected", metadata: ["status": "400", "reason": "\(reason)", "peer": from()])
            case let .methodNotAllowed(method):
                logger.notice("request rejected", metadata: ["status": "405", "reason": "method \(method)", "peer": from()])
            case let .persistFailed(error):
                let first = refusing.withLock { state -> Bool in
                    defer { state = "\(error)" }
                    return state == nil
                }
                guard first else { return }
                switch error {
                case .diskFull, .queueFull:
                    logger.warning("queue refusing events; answering 503 until there is room", metadata: ["reason": "\(error)"])
                case .resourcesExhausted:
                    logger.warning("queue refusing events; answering 503 until descriptors or memory are free", metadata: ["reason": "\(error)"])
                case .unavailable:
                    logger.warning("queue refusing events; answering 503 until its database answers", metadata: ["reason": "\(error)"])
                default:
                    logger.error("queue failed; answering 503 until restarted", metadata: ["reason": "\(error)"])
                }
            }
        }
    }

    /// Every pause in force, as `/readyz` names them (whether or not they make it not ready).
    package static func pauses(worker: Worker?) -> [String] {
        (worker?.statusSnapshot.pauses ?? []).map { "\($0.scope): \($0.reason)" }
    }

    /// Asks the worker to check its pauses now (after SIGHUP re-read the credentials).
    package func recheckPauses() async {
        await worker?.recheckPauses()
        await sharedWorker?.recheckPauses()
    }

    /// Why events could not be received or processed right now; empty when all is well.
    /// - Parameter sharedWorker: the postgres queue's worker's status, when it runs in place of `worker`.
    package static func problems(queue: DiskQueue, worker: Worker?, now: Int64, refusal: QueueRefusal? = nil,
                                 sharedWorker: WorkerStatus? = nil) -> [String] {
        var problems: [String] = []
        if queue.isFailed { problems.append("queue failed: restart the daemon to recover") }
        if let full = refusal?.problem(liveBytes: queue.liveBytes) { problems.append(full) }
        let busy = queue.writerBusyFor
        if busy >= .seconds(10) { problems.append("queue writer stuck for \(busy.components.seconds) s (disk not answering)") }
        if let status = worker?.statusSnapshot ?? sharedWorker {
            if let reason = status.sharedUnavailable { problems.append("shared queue unavailable: \(reason)") }
            if let failed = status.failed { problems.append("worker stopped: \(failed)") }
            // A paused credential needs the operator: not ready. A disconnected tenant is the
            // organisation's doing and holds back only its own events: named, still ready.
            for pause in status.pauses {
                if case .credential = pause.scope { problems.append("worker paused: \(pause.scope): \(pause.reason)") }
            }
            if status.lastPass > 0 && now - status.lastPass > 30_000 { problems.append("worker stalled: no pass for \((now - status.lastPass) / 1000) s") }
        }
        return problems
    }

    /// For the service watchdog: the HTTP queues answer, the queue has not failed and the
    /// worker (when running) is making passes. A paused worker is alive, only not ready.
    package func isAlive() -> Bool {
        // A batch write and fdatasync taking 10 s means the disk is not answering.
        guard server.isResponsive(within: .seconds(2)), !queue.isFailed, queue.writerBusyFor < .seconds(10) else { return false }
        guard let status = worker?.statusSnapshot else { return true }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return status.failed == nil && (status.lastPass == 0 || now - status.lastPass < 30_000)
    }
}
