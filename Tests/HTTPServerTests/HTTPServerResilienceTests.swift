import Dispatch
import Foundation
import HTTPServer
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Clients that reset their connections, and a process out of file descriptors. The scenarios
/// that change process-wide state (the descriptor limit, SIGPIPE) run in a child process.
@Suite struct HTTPServerResilienceTests {
    @Test func resetArrivingWithUnreadBytesClosesTheConnection() throws {
        // One group, whose queue a handler blocks: the second connection is only started after
        // its bytes and its RST have both arrived, so they are reported in one event.
        var limits = HTTPLimits()
        limits.headTimeout = .seconds(60)  // far beyond the wait below: only the RST can close it
        let gate = DispatchSemaphore(value: 0)
        let entered = Counter()
        let server = HTTPServer(limits: limits, groups: 1) { request, responder in
            if request.head.path == "/block" {
                entered.increment()
                gate.wait()
            }
            responder.send(HTTPResponse(status: 200))
        }
        let address = try server.start(host: "127.0.0.1", port: 0)
        defer { server.shutdown(grace: .zero) }
        defer { gate.signal() }  // never leave the handler blocked, even when an expectation fails

        let blocker = try RawHTTPClient(port: address.port)
        try blocker.send("GET /block HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(waitUntil { entered.count > 0 })
        let vanishing = try RawHTTPClient(port: address.port)
        #expect(waitUntil { server.connectionCount == 2 })
        try vanishing.send("POST /webhooks/xero HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        resetConnection(vanishing)
        gate.signal()

        #expect(try blocker.readResponse().status == 200)
        #expect(waitUntil(seconds: 5) { server.connectionCount == 1 }, "the reset connection is still open")
    }

    @Test func clientResettingMidResponseLeavesTheServerServing() throws {
        let server = BigAnswerServer()
        let address = try server.start()
        defer { server.stop() }
        let client = try RawHTTPClient(port: address.port)
        try client.send("GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        // 16 MiB do not fit in the socket buffers: the server is mid-answer when the RST comes.
        #expect(peerHasSpoken(client, withinMilliseconds: 10_000))
        resetConnection(client)
        #expect(waitUntil { server.connectionCount == 0 })
        let next = try RawHTTPClient(port: address.port)
        #expect(try next.exchange(bytes("GET /next HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).status == 200)
        #expect(server.events.isEmpty)
    }

    @Test func clientResettingMidResponseDoesNotRaiseSIGPIPE() async throws {
        try await expectPassesInChildProcess(.vanishingClients)
    }

    @Test func acceptBacksOffWhenDescriptorsRunOut() async throws {
        try await expectPassesInChildProcess(.descriptorsRunOut)
    }
}

/// A scenario that changes process-wide state, so it runs in a child process of its own.
private enum ChildScenario: Int32, Codable, Sendable {
    case vanishingClients, descriptorsRunOut

    func run() -> ScenarioFailure {
        switch self {
        case .vanishingClients: vanishingClientScenario()
        case .descriptorsRunOut: acceptBackoffScenario()
        }
    }
}

/// Runs `scenario` in a child process (an exit test) and expects it to exit 0. A failure shows
/// the child's exit code (see `ScenarioFailure`) or the signal that killed it.
private func expectPassesInChildProcess(
    _ scenario: ChildScenario, sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let marker = try TemporaryDirectory()
    defer { marker.remove() }
    let started = marker.file("started")
    let hold = SpawnLockHold(until: { FileManager.default.fileExists(atPath: started) })
    defer { hold.release() }
    await #expect(processExitsWith: .success, sourceLocation: sourceLocation) {
        [started = started as String, scenario = scenario as ChildScenario] in
        _ = FileManager.default.createFile(atPath: started, contents: nil)
        exit(scenario.run().rawValue)
    }
}

/// Holds the process spawn lock on a thread of its own until the child of an exit test has
/// started (`started` holds), `release()` is called, or 10 s pass: the child is spawned while no
/// other test checks that a closed listener refuses connections (see `withProcessSpawnLock`).
/// A thread of its own, so the lock is taken and released on the same thread and no task of
/// the test's executor waits for it.
private final class SpawnLockHold: Sendable {
    private let released = Counter()

    init(until started: @escaping @Sendable () -> Bool) {
        let held = DispatchSemaphore(value: 0)
        let released = self.released
        Thread.detachNewThread {
            withProcessSpawnLock {
                held.signal()
                _ = waitUntil(seconds: 10) { released.count > 0 || started() }
            }
        }
        held.wait()
    }

    func release() { released.increment() }
}

/// A count shared with callbacks on other threads.
private final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// Why a child scenario failed, as its exit code (the parent's failure message shows it).
private enum ScenarioFailure: Int32 {
    case passed = 0
    case thrown = 10
    case noAnswerStarted = 11
    case resetConnectionStayedOpen = 12
    case notServingAfterResets = 13
    case listeningSocket = 20
    case setrlimit = 21
    case noEMFILE = 22
    case acceptRetriedTooOften = 23
    case tooMuchCPU = 24
    case notRecovered = 25
    case notServingAfterRecovery = 26
}

/// In a child process, with SIGPIPE at its default action (terminate): clients vanish while a
/// 16 MiB answer is being written. If the server wrote without MSG_NOSIGNAL, the process would
/// die of SIGPIPE instead of exiting 0.
private func vanishingClientScenario() -> ScenarioFailure {
    signal(SIGPIPE, SIG_DFL)
    do {
        let server = BigAnswerServer()
        let address = try server.start()
        defer { server.stop() }
        for halfClosedFirst in [false, true, false, true] {
            let client = try RawHTTPClient(port: address.port)
            try client.send("GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            // A client that half-closed first leaves the server's socket in CLOSE_WAIT; the RST
            // then turns its next send into EPIPE, the error that raises SIGPIPE. Otherwise the
            // first send after the RST fails with ECONNRESET.
            if halfClosedFirst { client.shutdownWrite() }
            guard peerHasSpoken(client, withinMilliseconds: 10_000) else { return .noAnswerStarted }
            resetConnection(client)
            guard waitUntil(seconds: 10, { server.connectionCount == 0 }) else { return .resetConnectionStayedOpen }
        }
        let next = try RawHTTPClient(port: address.port)
        let response = try next.exchange(bytes("GET /after HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        return response.status == 200 ? .passed : .notServingAfterResets
    } catch {
        return .thrown
    }
}

/// In a child process: clients wait in the backlog of a listening socket while the descriptor
/// limit leaves room for two more, so the server's `accept` fails with EMFILE. It must pause
/// (about ten failures a second, little CPU) instead of retrying at once, and accept the rest
/// as soon as descriptors are free again.
private func acceptBackoffScenario() -> ScenarioFailure {
    do {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 64) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard listener >= 0, bound else { return .listeningSocket }
        let port = UInt16(bigEndian: address.sin_port)
        // Six clients complete their handshakes in the backlog; nobody accepts them yet.
        let clients = try (0..<6).map { _ in try RawHTTPClient(port: port, timeout: 5) }

        let emfile = Counter()
        // No reserve: this scenario is about accept failing, not about refusing before it would.
        var limits = HTTPLimits()
        limits.descriptorReserve = 0
        let server = HTTPServer(limits: limits, groups: 1, onEvent: { event in
            if case let .acceptFailed(error) = event, error.errno == EMFILE { emfile.increment() }
        }, handler: { _, responder in responder.send(HTTPResponse(status: 200)) })
        defer { server.shutdown(grace: .zero) }
        // Dispatch creates its timer descriptor on first use; make sure that happened before the
        // limit, as it has in a daemon that has run for a moment (its connection timers tick).
        let timerFired = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(10)) { timerFired.signal() }
        timerFired.wait()

        // The lowest limit that leaves exactly two free descriptor numbers below it.
        var free = 0
        var limit: Int32 = 0
        while free < 2 {
            if fcntl(limit, F_GETFD) == -1 { free += 1 }
            limit += 1
        }
        var lowered = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lowered)
        lowered.rlim_cur = rlim_t(limit)
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lowered) == 0 else { return .setrlimit }

        try server.start(listeningSocket: listener)
        guard waitUntil(seconds: 5, { server.connectionCount == 2 && emfile.count > 0 }) else { return .noEMFILE }
        // The measured window: a server that retried at once would fail thousands of times and
        // use the whole second of CPU.
        let failuresBefore = emfile.count
        let cpuBefore = processCPUSeconds()
        usleep(1_000_000)
        guard (3...30).contains(emfile.count - failuresBefore) else { return .acceptRetriedTooOften }
        guard processCPUSeconds() - cpuBefore < 0.3 else { return .tooMuchCPU }

        // Two clients leave: four descriptors free up, and the four waiting clients get in.
        clients[0].close()
        clients[1].close()
        guard waitUntil(seconds: 5, { server.connectionCount == 4 }) else { return .notRecovered }
        let response = try clients[5].exchange(bytes("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        return response.status == 200 ? .passed : .notServingAfterRecovery
    } catch {
        return .thrown
    }
}

/// A server on 127.0.0.1 port 0 that answers `/big` with 16 MiB (more than socket buffers
/// hold, so the answer is still being written when a client vanishes) and anything else with
/// an empty 200. Records the events it reports.
private final class BigAnswerServer: Sendable {
    private static let bigBody = [UInt8](repeating: UInt8(ascii: "b"), count: 16 << 20)
    private let recorded: EventLog
    private let server: HTTPServer

    init() {
        let recorded = EventLog()
        self.recorded = recorded
        server = HTTPServer(onEvent: { recorded.append($0) }, handler: { request, responder in
            responder.send(HTTPResponse(status: 200, body: request.head.path == "/big" ? BigAnswerServer.bigBody : []))
        })
    }

    func start() throws -> SocketAddress { try server.start(host: "127.0.0.1", port: 0) }
    func stop() { server.shutdown(grace: .zero) }
    var connectionCount: Int { server.connectionCount }
    var events: [HTTPServerEvent] { recorded.events }
}

/// Events reported by a server, from any of its queues.
private final class EventLog: Sendable {
    private let state = Mutex<[HTTPServerEvent]>([])
    func append(_ event: HTTPServerEvent) { state.withLock { $0.append(event) } }
    var events: [HTTPServerEvent] { state.withLock { $0 } }
}

/// User plus system CPU time of this process so far, in seconds.
private func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
