import DaemonConfig
import DiskQueue
import EventRecord
import Foundation
import HTTPServer
import OpenSSLSupport
import Synchronization
import Worker
import XeroAPI

/// Counters for `GET /metrics` (Prometheus text format 0.0.4). Labels come from closed sets
/// (HTTP statuses the daemon sends, delivery outcomes), never from tenants or events, so the
/// number of series stays bounded.
package final class Metrics: Sendable {
    private struct Counters {
        package var responses: [Int: UInt64] = [:]
        package var signatureFailures: UInt64 = 0
        package var eventsEnqueued: UInt64 = 0
        package var deliveries: [String: UInt64] = [:]
        package var tlsFailures: UInt64 = 0
    }

    private let counters = Mutex(Counters())

    package func response(_ status: Int) { counters.withLock { $0.responses[status, default: 0] += 1 } }
    package func signatureFailure() { counters.withLock { $0.signatureFailures += 1 } }
    package func enqueued(_ events: Int) { counters.withLock { $0.eventsEnqueued += UInt64(events) } }
    package func delivery(_ outcome: String) { counters.withLock { $0.deliveries[outcome, default: 0] += 1 } }
    package func tlsFailure() { counters.withLock { $0.tlsFailures += 1 } }

    /// The exposition text. Reads the queue's counters, the dead-letter store's count (a `stat`
    /// of its directory; a listing of names only after the directory changed) and, on this call
    /// only, the record at the consumer position (for the oldest pending age).
    /// - Parameter shared: the postgres queue's waiting and dead-lettered events, in place of the
    ///   disk queue's (cluster mode).
    package func render(queue: DiskQueue, deadLetters: DeadLetterStore, worker: WorkerStatus?, xero: XeroClientMetrics?,
                tls: TLSContext.Certificate? = nil, sink: DirectorySink? = nil, shared: (pending: Int, dead: Int)? = nil) -> String {
        let c = counters.withLock { $0 }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ labels: String, _ value: CustomStringConvertible) {
            out += "\(name){\(labels)} \(value)\n"
        }
        func sample(_ name: String, _ value: CustomStringConvertible) {
            out += "\(name) \(value)\n"
        }
        family("xero_webhookd_build_info", "gauge", "Always 1; the version label says which release is running.")
        sample("xero_webhookd_build_info", "version=\"\(Release.version)\"", 1)
        family("xero_webhookd_http_responses_total", "counter", "HTTP answers sent, by status.")
        for status in c.responses.keys.sorted() { sample("xero_webhookd_http_responses_total", "status=\"\(status)\"", c.responses[status]!) }
        family("xero_webhookd_signature_failures_total", "counter", "Webhook requests with a missing or wrong x-xero-signature.")
        sample("xero_webhookd_signature_failures_total", c.signatureFailures)
        family("xero_webhookd_events_enqueued_total", "counter", "Events made durable in the queue and acknowledged with 200.")
        sample("xero_webhookd_events_enqueued_total", c.eventsEnqueued)
        if let tls {
            family("xero_webhookd_tls_failures_total", "counter", "TLS handshakes or records that failed (the connection was closed).")
            sample("xero_webhookd_tls_failures_total", c.tlsFailures)
            family("xero_webhookd_tls_certificate_expiry_timestamp_seconds", "gauge", "notAfter of the certificate being served.")
            sample("xero_webhookd_tls_certificate_expiry_timestamp_seconds", tls.notAfter)
        }

        let stats = queue.stats
        let position = queue.consumerPosition
        family("xero_webhookd_queue_depth", "gauge", "Events in the queue not yet delivered or dead-lettered.")
        sample("xero_webhookd_queue_depth", shared?.pending ?? Int(queue.nextSequence > position ? queue.nextSequence - position : 0))
        family("xero_webhookd_queue_oldest_pending_age_seconds", "gauge", "Age of the oldest undelivered event (0 when none).")
        sample("xero_webhookd_queue_oldest_pending_age_seconds", String(format: "%.3f", Self.oldestAge(queue: queue, position: position)))
        family("xero_webhookd_queue_failed", "gauge", "1 when the queue stopped acknowledging after a write or sync error.")
        sample("xero_webhookd_queue_failed", queue.isFailed ? 1 : 0)
        family("xero_webhookd_queue_live_bytes", "gauge", "Bytes of queue segments not yet consumed.")
        sample("xero_webhookd_queue_live_bytes", queue.liveBytes)
        func histogram<Bound>(_ name: String, _ help: String, bounds: [Bound], counts: [UInt64],
                              sum: CustomStringConvertible, count: UInt64) {
            family(name, "histogram", help)
            var cumulative: UInt64 = 0
            for (bound, inBucket) in zip(bounds, counts) {
                cumulative += inBucket
                sample(name + "_bucket", "le=\"\(bound)\"", cumulative)
            }
            sample(name + "_bucket", "le=\"+Inf\"", count)
            sample(name + "_sum", sum)
            sample(name + "_count", count)
        }
        histogram("xero_webhookd_queue_fsync_seconds", "Duration of each group-commit fdatasync.",
                  bounds: DiskQueueStats.syncSecondsBounds, counts: stats.syncHistogram,
                  sum: String(format: "%.6f", Double(stats.syncNanoseconds) / 1e9), count: stats.syncs)
        histogram("xero_webhookd_queue_batch_events", "Events committed by one fdatasync (group commit).",
                  bounds: DiskQueueStats.batchRecordsBounds, counts: stats.batchHistogram,
                  sum: stats.records, count: stats.syncs)

        if let usage = sink?.diskUsage {
            family("xero_webhookd_sink_directory_bytes", "gauge", "Bytes in the directory sink's record files (they share a disk with the queue: alert before it fills).")
            sample("xero_webhookd_sink_directory_bytes", usage.bytes)
            family("xero_webhookd_sink_files_removed_total", "counter", "Record files deleted by sink.retentionDays or sink.maxTotalBytes.")
            sample("xero_webhookd_sink_files_removed_total", usage.filesRemoved)
        }
        family("xero_webhookd_dead_letters", "gauge", "Events in the dead-letter store.")
        sample("xero_webhookd_dead_letters", shared?.dead ?? deadLetters.count)
        family("xero_webhookd_sink_deliveries_total", "counter", "Worker outcomes per resource: delivered, not_found, retried, dead_lettered.")
        for outcome in ["delivered", "not_found", "retried", "dead_lettered"] {
            sample("xero_webhookd_sink_deliveries_total", "outcome=\"\(outcome)\"", c.deliveries[outcome, default: 0])
        }
        if let worker {
            let credentials = worker.pauses.filter { if case .credential = $0.scope { true } else { false } }.count
            family("xero_webhookd_worker_paused", "gauge", "1 while a Xero credential the worker needs is unusable.")
            sample("xero_webhookd_worker_paused", credentials == 0 ? 0 : 1)
            family("xero_webhookd_worker_paused_tenants", "gauge", "Tenants held back because Xero refused them (403).")
            sample("xero_webhookd_worker_paused_tenants", worker.pauses.count - credentials)
        }
        if let xero {
            family("xero_webhookd_xero_calls_total", "counter", "Xero API requests sent.")
            sample("xero_webhookd_xero_calls_total", xero.apiCalls)
            family("xero_webhookd_xero_resources_total", "counter", "Resources fetched, by outcome.")
            for outcome in xero.outcomes.keys.sorted() { sample("xero_webhookd_xero_resources_total", "outcome=\"\(outcome)\"", xero.outcomes[outcome]!) }
            family("xero_webhookd_xero_rate_limited_total", "counter", "429 answers from Xero.")
            sample("xero_webhookd_xero_rate_limited_total", xero.rateLimited)
            family("xero_webhookd_token_refreshes_total", "counter", "Access tokens obtained (refreshes, grants, command runs).")
            sample("xero_webhookd_token_refreshes_total", xero.tokenRenewals)
            family("xero_webhookd_xero_parked_tenants", "gauge", "Tenants waiting out a rate limit.")
            sample("xero_webhookd_xero_parked_tenants", xero.parkedTenants)
        }
        return out
    }

    private static func oldestAge(queue: DiskQueue, position: UInt64) -> Double {
        // Best effort: a read error shows as age 0 here; the queue reports its own failure.
        guard let record = try? queue.readRecords(from: position, maxCount: 1).first,
              let queued = try? QueuedEvent.decode(record.payload) else { return 0 }
        return max(0, secondsSince(receivedAt: queued.receivedAt) ?? 0)
    }
}
