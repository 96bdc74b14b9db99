import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import HTTPServer
import TestSupport
import Testing

/// A body trickled in just inside the idle timeout is still cut off by the request deadline.
@Suite struct SlowBodyTests {
    @Test func trickledBodyIsCutOffByTheRequestDeadline() throws {
        var limits = HTTPLimits()
        limits.bodyIdleTimeout = .milliseconds(400)
        limits.requestTimeout = .milliseconds(800)
        let live = try LiveServer(limits: limits)
        defer { live.stop() }
        let client = try live.connect()
        try client.send("POST /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n")
        // One byte every 100 ms never lets the 400 ms idle timeout fire; 100 bytes would take 10 s.
        let fd = client.fd
        let stop = Atomic<Bool>(false)
        let sender = Thread {
            for _ in 0..<100 where !stop.load(ordering: .relaxed) {
                guard Glibc.send(fd, "x", 1, Int32(MSG_NOSIGNAL)) == 1 else { return }
                usleep(100_000)  // the slow client being simulated, not test synchronisation
            }
        }
        sender.start()
        // The sender must be finished before `client` closes its descriptor (which another test
        // may reuse at once).
        defer {
            stop.store(true, ordering: .relaxed)
            _ = waitUntil(seconds: 10) { sender.isFinished }
        }
        let response = try client.readResponse()
        #expect(response.status == 408)
        #expect(response.header("Connection") == "close")
        #expect(live.timedOutPhases == ["body"])
        #expect(live.handlerCalls == 0)
    }
}
