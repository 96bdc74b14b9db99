import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A delivery whose fdatasync failed got 503; Xero sends it again later. After a restart its
/// events must be nowhere: not in `queue dump`, not delivered by the worker.
@Suite(.serialized) struct FailedSyncEndToEndTests {
    @Test func refusedDeliveryIsNotQueuedAgainAfterRestart() throws {
        let setup = try WorkerEndToEndTests.Setup(tenants: ["t-sync"])
        // Kept (200), refused (503 after its failed sync), later (200 after the restart).
        let ids = (1...3).map { "60000000-0000-0000-0000-00000000000\($0)" }
        for id in ids { setup.fake.addRecord(tenant: "t-sync", collection: "Invoices", id: id) }
        let events = ids.map { setup.event(tenant: "t-sync", category: "INVOICE", id: $0) }

        var environment = setup.environment
        environment["XERO_WEBHOOKD_FAILPOINTS"] = "afterWriteBeforeSync=error@2"
        let first = try DaemonProcess(["serve", "--config", setup.config], environment: environment)
        let client = try RawHTTPClient(port: first.port)
        #expect(try setup.post(client, [events[0]]) == 200)
        #expect(waitUntil(seconds: 30) { setup.deliveredResources().contains("t-sync/\(ids[0])") })
        #expect(try setup.post(client, [events[1]]) == 503)
        let health = try client.exchange(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(health.status == 503)
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)
        #expect(try CrashOracle.dumpedIDs(config: setup.config).ids == [ids[0]])

        let second = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let again = try RawHTTPClient(port: second.port)
        #expect(try setup.post(again, [events[2]]) == 200)
        // Had the refused event come back, it would sit ahead of this one in the queue.
        #expect(waitUntil(seconds: 30) { setup.deliveredResources().contains("t-sync/\(ids[2])") })
        second.signal(SIGTERM)
        #expect(second.waitForExit() == 0)
        #expect(!setup.deliveredResources().contains("t-sync/\(ids[1])"))
        let dumped = try CrashOracle.dumpedIDs(config: setup.config)
        #expect(dumped.status == 0)
        #expect(dumped.ids == [ids[0], ids[2]])
        #expect(dumped.sequences == [1, 2])
    }
}
