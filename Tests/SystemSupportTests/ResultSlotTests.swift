import Dispatch
import Foundation
import SystemSupport
import Testing

@Suite struct ResultSlotTests {
    @Test func aValuePutOnAnotherThreadReachesTheTaker() {
        let slot = ResultSlot<[Int]>()
        Thread.detachNewThread { slot.put([1, 2, 3]) }
        #expect(slot.take() == [1, 2, 3])
    }

    @Test func aTakeWithADeadlineGivesUpWhileNothingIsPutAndTheValueStaysForLater() {
        let slot = ResultSlot<String>()
        #expect(slot.take(before: .now() + .milliseconds(20)) == nil)
        Thread.detachNewThread { slot.put("done") }
        #expect(slot.take(before: .now() + .seconds(60)) == "done")
    }

    @Test func runBlockingReturnsWhatTheAsyncWorkReturned() async {
        // Called from a thread of its own, as commands do: never from the concurrency pool.
        let value = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: runBlocking { () async -> Int in
                    await Task.yield()
                    return 42
                })
            }
        }
        #expect(value == 42)
    }
}
