import DiskQueue
import EventRecord
import Foundation
import SystemSupport
import TestSupport
import Testing
@testable import Worker

/// The command sink's command sees exactly the environment it was given, not the daemon's.
@Suite struct CommandSinkEnvironmentTests {
    @Test func theCommandGetsOnlyItsEnvironment() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let environment = ChildEnvironment(from: ["PATH": "/usr/bin:/bin", "PAN_SEC_XERO_CLIENT_SECRET": "client-secret-value",
                                                  "DATABASE_URL": "postgres://db/records"], passing: ["DATABASE_URL"])
        // /usr/bin/env prints the environment it got from the shell, which adds only PWD.
        let sink = CommandSink(command: ["/bin/sh", "-c", "exec /usr/bin/env > \(dir.file("env"))"], timeout: .seconds(10),
                               environment: environment)!
        let queued = QueuedEvent(receivedAt: "2026-11-29T01:00:01.000Z", eventSequence: nil, event: event(tenant: "t", resource: "r"))
        let item = try QueuedItem.decode(QueueRecord(sequence: 1, payload: queued.encoded()))
        let results = await sink.deliver([DeliveryRecord(items: [item], resource: nil, fetchedAt: "2026-11-29T01:00:02.000Z")!])
        if case .failure(let error) = results[0] { Issue.record("\(error)") }
        let lines = try String(contentsOfFile: dir.file("env"), encoding: .utf8).split(separator: "\n").map(String.init)
            .filter { !$0.hasPrefix("PWD=") }
        #expect(lines.sorted() == ["DATABASE_URL=postgres://db/records", "PATH=/usr/bin:/bin"])
    }
}
