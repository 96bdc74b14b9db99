import Foundation
import HTTPServer
import Logging
import Worker

/// The log lines and metrics the worker's and the HTTP server's events become.
extension Daemon {
    package static func workerLogger(_ logger: Logger, metrics: Metrics) -> @Sendable (WorkerEvent) -> Void {
        { event in
            switch event {
            case let .delivered(_, _, notFound): metrics.delivery(notFound ? "not_found" : "delivered")
            case .retrying: metrics.delivery("retried")
            case .deadLettered: metrics.delivery("dead_lettered")
            default: break
            }
            switch event {
            case let .delivered(key, events, notFound):
                logger.info("record delivered", metadata: [
                    "tenant": "\(key.tenantID)", "category": "\(key.category)", "resource": "\(key.resourceID)",
                    "events": "\(events)", "notFound": "\(notFound)",
                ])
            case let .retrying(key, attempt, after, reason):
                logger.notice("delivery will be retried", metadata: [
                    "tenant": "\(key.tenantID)", "resource": "\(key.resourceID)", "attempt": "\(attempt)",
                    "afterMs": "\(after.components.seconds * 1000 + after.components.attoseconds / 1_000_000_000_000_000)", "reason": "\(reason)",
                ])
            case let .deadLettered(id, reason):
                logger.warning("event dead-lettered", metadata: ["id": "\(id)", "reason": "\(reason)"])
            case let .replayed(id):
                logger.info("dead letter replayed", metadata: ["id": "\(id)"])
            case let .replayFailed(id, reason):
                logger.error("dead letter replay failed; run dead replay as the service's user, or fix the owner of dead/replay", metadata: ["id": "\(id)", "reason": "\(reason)"])
            case let .waiting(key, after, reason):
                logger.info("delivery waits", metadata: [
                    "tenant": "\(key.tenantID)", "resource": "\(key.resourceID)", "afterMs": "\(after.components.seconds * 1000 + after.components.attoseconds / 1_000_000_000_000_000)", "reason": "\(reason)",
                ])
            case let .paused(scope, reason):
                logger.warning("worker paused", metadata: ["scope": "\(scope)", "reason": "\(reason)"])
            case let .resumed(scope):
                logger.notice("worker resumed", metadata: ["scope": "\(scope)"])
            case let .stateIgnored(file, reason):
                logger.warning("worker state ignored; the events it named will be delivered again", metadata: ["file": "\(file)", "reason": "\(reason)"])
            case let .shortage(reason):
                logger.warning("worker waiting: out of file descriptors, memory or disk space; trying again", metadata: ["reason": "\(reason)"])
            case let .failed(reason):
                logger.error("worker stopped: queue or state files failed; restart the daemon", metadata: ["reason": "\(reason)"])
            case let .queueUnavailable(reason):
                logger.warning("worker waiting: the shared queue's database does not answer; trying again", metadata: ["reason": "\(reason)"])
            }
        }
    }

    package static func serverEventLogger(_ logger: Logger, metrics: Metrics, throttle: LogThrottle = LogThrottle()) -> @Sendable (HTTPServerEvent) -> Void {
        { event in
            switch event {
            case let .rejected(status, _, _): metrics.response(status)
            case let .timedOut(phase, _) where phase == "head" || phase == "body": metrics.response(408)
            case .tlsFailed: metrics.tlsFailure()
            default: break
            }
            // Lines clients cause, one kind per case, are throttled; draining is the daemon's own.
            let kind: String
            switch event {
            case let .rejected(status, _, _): kind = "rejected \(status)"
            case let .timedOut(phase, _): kind = "timed out \(phase)"
            case .connectionLimitReached: kind = "connection limit"
            case .descriptorReserveReached: kind = "descriptor reserve"
            case .acceptFailed: kind = "accept failed"
            case .tlsFailed: kind = "tls failed"
            case .draining: kind = ""
            }
            var logger = logger
            if !kind.isEmpty {
                guard let suppressed = throttle.admit(kind, now: DispatchTime.now().uptimeNanoseconds) else { return }
                if suppressed > 0 { logger[metadataKey: "suppressed"] = "\(suppressed)" }
            }
            switch event {
            case let .rejected(status, reason, peer):
                logger.notice("request rejected", metadata: [
                    "status": "\(status)", "reason": "\(reason)", "peer": "\(peer.map(\.description) ?? "-")",
                ])
            case let .timedOut(phase, peer) where phase == "tls handshake":
                // Scanners that connect and send nothing: info, like other TLS failures.
                logger.info("request timed out", metadata: ["phase": "\(phase)", "peer": "\(peer.map(\.description) ?? "-")"])
            case let .timedOut(phase, peer):
                logger.notice("request timed out", metadata: ["phase": "\(phase)", "peer": "\(peer.map(\.description) ?? "-")"])
            case let .connectionLimitReached(peer):
                logger.warning("connection refused: limit reached", metadata: ["peer": "\(peer.map(\.description) ?? "-")"])
            case let .descriptorReserveReached(peer, limit):
                logger.warning("connection refused: descriptors kept for the queue and the worker", metadata: [
                    "peer": "\(peer.map(\.description) ?? "-")", "limit": "\(limit)",
                ])
            case let .acceptFailed(error):
                logger.error("accept failed; pausing", metadata: ["error": "\(error)"])
            case let .draining(connections):
                logger.info("draining connections", metadata: ["open": "\(connections)"])
            case let .tlsFailed(reason, peer):
                // Scanners and plain-HTTP clients cause these; info, not a warning.
                logger.info("tls failed", metadata: ["reason": "\(reason)", "peer": "\(peer.map(\.description) ?? "-")"])
            }
        }
    }
}
