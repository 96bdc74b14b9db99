import FakeXero
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A Retry-After no real wait needs (a broken proxy, a hostile upstream) must not end the daemon.
@Suite(.serialized) struct HostileRetryAfterEndToEndTests {
    typealias Setup = WorkerEndToEndTests.Setup

    @Test func aHugeRetryAfterDoesNotCrashTheDaemon() throws {
        let setup = try Setup(tenants: ["t-huge"])
        let id = "66000000-0000-0000-0000-000000000001"
        setup.fake.addRecord(tenant: "t-huge", collection: "Invoices", id: id)
        setup.fake.force429(tenant: "t-huge", problem: "minute", retryAfter: 10_000_000_000_000_000, times: 1)
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try setup.post(client, [setup.event(tenant: "t-huge", category: "INVOICE", id: id)]) == 200)
        _ = waitUntil(seconds: 5) { setup.fake.stats.tooManyRequests == 1 }
        #expect(setup.fake.stats.tooManyRequests == 1)
        #expect(daemon.waitForExit(seconds: 5) == nil, "the daemon ended: \(daemon.stderr.split(separator: "\n").filter { $0.contains("Fatal") || $0.contains("overflow") || $0.contains(" at /") }.prefix(6).joined(separator: " | "))")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }
}
