import FakeXero
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// kill -9 at arbitrary moments while finished.json, retries.json and the rate-limit file are
/// being written: every acknowledged event ends up delivered (or dead-lettered), none skipped.
@Suite(.serialized) struct KillNineEndToEndTests {
    typealias Setup = WorkerEndToEndTests.Setup

    @Test func killNineNeverLosesAnAcknowledgedEvent() throws {
        let tenants = ["t-k1", "t-k2", "t-k3", "t-k4"]
        let setup = try Setup(tenants: tenants)
        var ids: [(tenant: String, id: String)] = []
        for (t, tenant) in tenants.enumerated() {
            for n in 0..<12 {
                let id = String(format: "67%06d-0000-0000-0000-%012d", t, n)
                setup.fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
                ids.append((tenant, id))
            }
        }
        setup.fake.fail(id: ids[0].id, status: 500, times: 2)  // holds the position back: finished.json in use
        var posted = 0
        for round in 0..<8 {
            let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
            if posted < ids.count {
                let client = try RawHTTPClient(port: daemon.port)
                let batch = ids[posted..<min(posted + 8, ids.count)]
                #expect(try setup.post(client, batch.map { setup.event(tenant: $0.tenant, category: "INVOICE", id: $0.id) }) == 200)
                posted += batch.count
            }
            usleep(useconds_t(20_000 + (round * 37_000) % 250_000))
            daemon.signal(SIGKILL)
            _ = daemon.waitForExit()
        }
        let last = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        if posted < ids.count {
            let client = try RawHTTPClient(port: last.port)
            #expect(try setup.post(client, ids[posted...].map { setup.event(tenant: $0.tenant, category: "INVOICE", id: $0.id) }) == 200)
        }
        let expected = Set(ids.map { "\($0.tenant)/\($0.id)" })
        #expect(waitUntil(seconds: 60) { setup.deliveredResources() == expected },
                "missing \(expected.subtracting(setup.deliveredResources()).sorted())")
        last.signal(SIGTERM)
        #expect(last.waitForExit() == 0)
    }
}
