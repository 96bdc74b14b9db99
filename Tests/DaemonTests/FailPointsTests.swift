import DiskQueue
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import Testing
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime

@Suite struct FailPointsTests {
    @Test func parsesErrnoActionsAndHitRanges() throws {
        #expect(try FailPoints.parse("createSegment=emfile@2-3, afterWriteBeforeSync=error") == [
            .init(point: .createSegment, action: .emfile, hits: 2...3),
            .init(point: .afterWriteBeforeSync, action: .error, hits: 1...1),
        ])
        #expect(try FailPoints.parse("writeSegmentHeader=enomem@4") == [.init(point: .writeSegmentHeader, action: .enomem, hits: 4...4)])
        for bad in ["createSegment=emfile@3-2", "createSegment=emfile@0", "createSegment=emfile@2-", "createSegment=eperm", "nowhere=error"] {
            #expect(throws: ConfigError.self, "\(bad)") { try FailPoints.parse(bad) }
        }
    }

    /// `emfile@1-2`: the first two segment opens fail with EMFILE, the third succeeds.
    @Test func aShortageForARangeOfHitsPassesAfterIt() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let faults = try FailPoints.injector(environment: [FailPoints.environmentVariable: "createSegment=emfile@1-2"])
        let queue = try DiskQueue(directory: dir.file("queue"), options: .init(faults: faults))
        defer { queue.close() }
        for _ in 0..<2 {
            let error = #expect(throws: DiskQueueError.self) { try queue.append([Array("x".utf8)]) }
            guard case let .resourcesExhausted(cause) = error else {
                Issue.record("expected .resourcesExhausted, got \(String(describing: error))")
                return
            }
            #expect(cause.errno == EMFILE)
            #expect(cause.call == "failpoint createSegment")
        }
        #expect(try queue.append([Array("x".utf8)]) == 1..<2)
        #expect(!queue.isFailed)
    }
}
