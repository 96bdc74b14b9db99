import DiskQueue
import EventRecord
import Foundation
import ResourceFetch
import Synchronization
import TestSupport
@testable import Worker

/// A fetcher whose answers a test scripts per resource; unscripted resources are found with a
/// small JSON record. Counts calls and can hold a tenant's fetches until released.
final class ScriptedFetcher: ResourceFetcher, Sendable {
    private let state = Mutex<(scripts: [ResourceKey: [FetchOutcome]], calls: [[FetchRequest]], held: Set<String>)>(([:], [], []))

    func script(_ key: ResourceKey, _ results: [FetchOutcome]) { state.withLock { $0.scripts[key] = results } }
    func hold(tenant: String) { state.withLock { _ = $0.held.insert(tenant) } }
    func release(tenant: String) { state.withLock { _ = $0.held.remove(tenant) } }
    var calls: [[FetchRequest]] { state.withLock { $0.calls } }
    /// Fetches that found their task cancelled when they answered.
    var cancelledFetches: Int { cancelled.withLock { $0 } }
    private let cancelled = Mutex(0)
    /// Fetches that included `key`.
    func calls(of key: ResourceKey) -> Int { calls.filter { $0.contains { $0.key == key } }.count }

    /// What `connectedTenants()` answers (nil: cannot tell), and how often it was asked.
    private let connections = Mutex<(answer: Set<String>?, asked: Int)>((nil, 0))
    func setConnected(_ tenants: Set<String>?) { connections.withLock { $0.answer = tenants } }
    var connectionChecks: Int { connections.withLock { $0.asked } }

    /// Event URLs containing `evil.example` are refused without a fetch.
    func refusal(for request: FetchRequest) -> String? {
        request.resourceURL.contains("evil.example") ? "the resourceUrl points to evil.example" : nil
    }

    /// SUBSCRIPTION resources need the billing credential, the rest the organisation's.
    func credential(for request: FetchRequest) -> String { request.key.category == "SUBSCRIPTION" ? "billing" : "organisation" }

    func connectedTenants() async -> Set<String>? {
        connections.withLock { $0.asked += 1; return $0.answer }
    }

    func fetch(_ requests: [FetchRequest]) async -> [ResourceKey: FetchOutcome] {
        while state.withLock({ s in requests.contains { s.held.contains($0.key.tenantID) } }) {
            try? await Task.sleep(for: .milliseconds(2))
        }
        if Task.isCancelled { cancelled.withLock { $0 += 1 } }
        return state.withLock { s in
            s.calls.append(requests)
            var out: [ResourceKey: FetchOutcome] = [:]
            for request in requests {
                if var queue = s.scripts[request.key], !queue.isEmpty {
                    out[request.key] = queue.removeFirst()
                    s.scripts[request.key] = queue
                } else {
                    out[request.key] = .found(Array(#"{"ID":"\#(request.key.resourceID)"}"#.utf8))
                }
            }
            return out
        }
    }
}

/// Keeps delivered records in memory; can fail a number of deliveries first.
final class MemorySink: Sink, Sendable {
    private let state = Mutex<(records: [DeliveryRecord], failures: Int)>(([], 0))
    func failNext(_ count: Int) { state.withLock { $0.failures = count } }
    var records: [DeliveryRecord] { state.withLock { $0.records } }

    func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>] {
        state.withLock { s in
            records.map { record in
                if s.failures > 0 {
                    s.failures -= 1
                    return .failure(SinkError("receiver unavailable"))
                }
                s.records.append(record)
                return .success(())
            }
        }
    }
}

/// A settable clock in milliseconds.
final class TestClock: Sendable {
    private let value = Mutex<Int64>(1_800_000_000_000)
    var now: Int64 { value.withLock { $0 } }
    func advance(_ duration: Duration) { value.withLock { $0 += duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000 } }
}

func event(tenant: String, category: String = "INVOICE", resource: String, type: String = "UPDATE", at: String = "2026-11-29T01:00:00.000") -> [UInt8] {
    Array(#"{"resourceUrl":"https://api.xero.com/api.xro/2.0/Invoices/\#(resource)","resourceId":"\#(resource)","eventDateUtc":"\#(at)","eventType":"\#(type)","eventCategory":"\#(category)","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#.utf8)
}

func enqueue(_ queue: DiskQueue, _ events: [[UInt8]]) throws {
    _ = try queue.append(events.map { QueuedEvent(receivedAt: "2026-11-29T01:00:01.000Z", eventSequence: nil, event: $0).encoded() })
}

/// Drives passes until `condition` holds (lanes finish asynchronously) or the deadline passes.
func drive(_ worker: Worker, until condition: () async -> Bool) async throws -> Bool {
    // Generous: synchronous tests running in parallel can hold both threads of the concurrency
    // pool for a while (they block on sockets and processes), and this only bounds a failure.
    let deadline = Date().addingTimeInterval(120)
    while Date() < deadline {
        try await worker.pass()
        if await condition() { return true }
        try await Task.sleep(for: .milliseconds(2))
    }
    return await condition()
}

/// Waits, without driving passes, until `condition` holds or the deadline passes: for tests
/// that run the worker's own loop (`start()`), e.g. with a lane held open across passes.
func waitUntil(_ condition: () async -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(120)  // as generous as `drive`
    while Date() < deadline {
        if await condition() { return true }
        try await Task.sleep(for: .milliseconds(2))
    }
    return await condition()
}

/// The ranges a finished.json holds (nil when it is missing or unreadable).
func finishedRanges(_ path: String) -> [[UInt64]]? {
    FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(FinishedStore.File.self, from: $0) }?.ranges
}
