import DiskQueue
import Foundation
import TestSupport
import Testing
@testable import Worker

/// 10,000 disconnected tenants, one held event each: what a pass costs and what pauses.json weighs.
@Suite struct ManyPausesScaleTests {
    typealias Setup = WorkerTests.Setup

    @Test(.disabled("measurement: takes minutes in a debug build")) func tenThousandPausedTenants() async throws {
        let setup = try Setup()
        defer { setup.close() }
        let count = 10_000
        let since: Int64 = 1_800_000_000_000 - 1000
        let pauses = (0..<count).map { Pause(scope: .tenant(id: "t\($0)"), reason: "Xero refused access for tenant t\($0) (403): the tenant is not connected to the app (or the granted scopes do not cover this resource); reconnect it, then SIGHUP", since: since, recheckAt: 0) }
        try FileManager.default.createDirectory(atPath: setup.dir.file("state/worker"), withIntermediateDirectories: true)
        try JSONEncoder().encode(pauses).write(to: URL(fileURLWithPath: setup.dir.file("state/worker/pauses.json")))
        for start in stride(from: 0, to: count, by: 1000) {
            try enqueue(setup.queue, (start..<start + 1000).map { event(tenant: "t\($0)", resource: "r\($0)") })
        }
        setup.fetcher.setConnected([])
        let started = Date()
        let worker = setup.worker()
        print("init: \(Date().timeIntervalSince(started)) s")
        var times: [Double] = []
        for _ in 0..<5 {
            let t = Date()
            try await worker.pass()
            times.append(Date().timeIntervalSince(t))
        }
        print("passes: \(times)")
        let size = (try? FileManager.default.attributesOfItem(atPath: setup.dir.file("state/worker/pauses.json"))[.size] as? Int) ?? 0
        print("pauses.json bytes: \(size), connection checks: \(setup.fetcher.connectionChecks), fetches: \(setup.fetcher.calls.count)")
        setup.clock.advance(.seconds(31))
        let t = Date()
        try await worker.pass()
        print("recheck pass: \(Date().timeIntervalSince(t)) s, connection checks: \(setup.fetcher.connectionChecks)")
        await worker.recheckPauses()
        var storm: [Double] = []
        for _ in 0..<5 {
            await worker.recheckPauses()  // SIGHUP storm
            let t = Date()
            try await worker.pass()
            storm.append(Date().timeIntervalSince(t))
        }
        print("SIGHUP storm passes: \(storm), connection checks: \(setup.fetcher.connectionChecks)")
    }
}
