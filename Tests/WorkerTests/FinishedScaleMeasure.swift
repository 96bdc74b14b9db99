import Foundation
import TestSupport
import Testing
@testable import Worker

@Suite struct FinishedScaleMeasure {
    @Test(.disabled("measurement")) func finishedRewriteCost() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var store = FinishedStore(directory: dir.path)
        var finished = FinishedRanges()
        for s in stride(from: UInt64(2), to: 200_000, by: 2) { finished.insert(s, eventID: "e\(s)") }  // every other event held (one waiting tenant)
        var times: [Double] = []
        var bytes = 0
        for extra in 0..<5 {
            finished.insert(300_000 + UInt64(extra) * 2, eventID: "x")
            let t = Date()
            let changes = store.takeChanges(finished)!
            try DurableFile.write(changes, to: dir.file("finished.json"))
            times.append(Date().timeIntervalSince(t))
            bytes = changes.count
        }
        print("finished ranges \(finished.runs.count), file bytes \(bytes), per-pass rewrite seconds \(times)")
    }
}
