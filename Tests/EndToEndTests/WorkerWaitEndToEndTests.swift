import ByteJSON
import FakeXero
import Foundation
import TestSupport
import Testing
import XeroWebhooks
#if canImport(Glibc)
import Glibc
#endif

/// The worker against Xero's waits with the real binary: rate limits, paused credentials,
/// disconnected tenants and restarts (each test reproduces a failure seen on a release build).
@Suite(.serialized) struct WorkerWaitEndToEndTests {
    typealias Setup = WorkerEndToEndTests.Setup

    static func deadLetters(_ setup: Setup) -> String {
        (try? Binary.run(["dead", "list", "--config", setup.config]).stdout) ?? ""
    }

    /// 429 `minute` with `Retry-After: 1` more times than `maxAttempts`: waiting is not failing,
    /// so both events are delivered and none is dead-lettered.
    @Test func minuteRateLimitsBeyondMaxAttemptsStillDeliver() throws {
        let setup = try Setup(tenants: ["t-429"])
        let ids = ["60000000-0000-0000-0000-000000000001", "60000000-0000-0000-0000-000000000002"]
        for id in ids { setup.fake.addRecord(tenant: "t-429", collection: "Invoices", id: id) }
        setup.fake.force429(tenant: "t-429", problem: "minute", retryAfter: 1, times: 4)  // maxAttempts is 3
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try setup.post(client, ids.map { setup.event(tenant: "t-429", category: "INVOICE", id: $0) }) == 200)
        let expected = Set(ids.map { "t-429/\($0)" })
        #expect(waitUntil(seconds: 60) { setup.deliveredResources() == expected }, "\(daemon.stderr)")
        #expect(setup.fake.stats.tooManyRequests == 4)
        #expect(Self.deadLetters(setup).contains("0 dead letters"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(!daemon.stderr.contains("event dead-lettered"))
    }
}
