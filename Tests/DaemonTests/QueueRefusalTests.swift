import Testing
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime

/// `/readyz` is not ready while the size bound refuses events, and ready again as soon as the
/// consumer freed space or an event was accepted.
@Suite struct QueueRefusalTests {
    @Test func notReadyFromARefusalUntilSpaceIsFreed() {
        let refusal = QueueRefusal()
        #expect(refusal.problem(liveBytes: 1000) == nil)
        refusal.refused(liveBytes: 1000)
        #expect(refusal.problem(liveBytes: 1000)?.hasPrefix("queue full") == true)
        #expect(refusal.problem(liveBytes: 1200) != nil)
        // A consumed segment deleted: an event may fit again.
        #expect(refusal.problem(liveBytes: 900) == nil)
        #expect(refusal.problem(liveBytes: 1000) == nil)
    }

    @Test func anAcceptedEventEndsTheRefusal() {
        let refusal = QueueRefusal()
        refusal.refused(liveBytes: 1000)
        refusal.accepted()
        #expect(refusal.problem(liveBytes: 1000) == nil)
    }

    /// After a restart with the queue at its bound nothing has been refused yet, but every
    /// delivery would be: not ready from the start (it once said ready while answering 503).
    @Test func aQueueAtItsBoundIsNotReadyBeforeAnyRefusal() {
        let refusal = QueueRefusal(maxBytes: 1 << 20)
        #expect(refusal.problem(liveBytes: (1 << 20) - 100)?.hasPrefix("queue full") == true)
        #expect(refusal.problem(liveBytes: (1 << 20) - 64 * 1024) == nil)
        #expect(QueueRefusal().problem(liveBytes: 1 << 30) == nil)  // no bound
    }
}
