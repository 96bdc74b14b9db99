import EventRecord
import Foundation
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Socket activation across a restart: the listening socket belongs to the launcher (as it does
/// to systemd with `xero-webhookd.socket`), so while one daemon stops and the next starts,
/// connection attempts wait in the backlog instead of being refused.
@Suite(.serialized) struct SocketRestartTests {
    /// Starts `xero-webhookd serve` with `listener` as fd 3 and LISTEN_PID/LISTEN_FDS set the way
    /// systemd sets them; stderr goes to `log`. Returns the pid.
    private func spawnActivated(listener: Int32, config: String, log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, listener, 3)
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let script = #"LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve --config "$1""#
        return try spawnProcess(["/bin/sh", "-c", script, Binary.path, config],
                                environment: ["PAN_SEC_XERO_WEBHOOK_KEY=restart-key-0123456789", "PATH=/usr/bin:/bin"], actions: &actions)
    }

    private func waitExit(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        guard waitUntil(seconds: 30, { waitpid(pid, &status, WNOHANG) == pid }) else { return nil }
        return (status >> 8) & 0xFF
    }

    @Test func restartLosesNoConnectionAttempt() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("config.json"), #"{"stateDirectory": "\#(dir.file("state"))"}"#)
        // The launcher's listening socket on a port the kernel picks.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(listener, $0, length) == 0 && listen(listener, 1024) == 0 && getsockname(listener, $0, &length) == 0 } }
        #expect(bound)
        let port = UInt16(bigEndian: address.sin_port)

        let first = try spawnActivated(listener: listener, config: dir.file("config.json"), log: dir.file("first.log"))
        #expect(waitUntil(seconds: 60) { ((try? String(contentsOfFile: dir.file("first.log"), encoding: .utf8)) ?? "").contains(" listening ") })

        // Clients keep opening connections and posting while the daemon is replaced.
        let body = Array(#"{"events":[{"resourceId":"r","eventCategory":"INVOICE","tenantId":"t"}],"entropy":"R"}"#.utf8)
        let request = RawHTTPClient.post("/webhooks/xero", body: body,
                                         headers: [("x-xero-signature", WebhookSignature(current: "restart-key-0123456789").signature(for: body))], close: true)
        let tally = Mutex<(ok: Int, refused: Int, other: [String])>((0, 0, []))
        let stop = Atomic<Bool>(false)
        let clients = (0..<4).map { _ in
            Thread {
                while !stop.load(ordering: .relaxed) {
                    do {
                        let client = try RawHTTPClient(port: port, timeout: 30)
                        let status = try client.exchange(request).status
                        tally.withLock { if status == 200 { $0.ok += 1 } else { $0.other.append("status \(status)") } }
                    } catch {
                        let text = "\(error)"
                        tally.withLock { if text.contains("errno 111") { $0.refused += 1 } else { $0.other.append(text) } }
                    }
                }
            }
        }
        clients.forEach { $0.start() }
        #expect(waitUntil(seconds: 30) { tally.withLock { $0.ok } >= 50 })
        kill(first, SIGTERM)
        #expect(waitExit(first) == 0)
        let before = tally.withLock { $0.ok }
        let second = try spawnActivated(listener: listener, config: dir.file("config.json"), log: dir.file("second.log"))
        #expect(waitUntil(seconds: 60) { tally.withLock { $0.ok } >= before + 50 }, "the second daemon serves the same socket")
        stop.store(true, ordering: .relaxed)
        #expect(waitUntil(seconds: 60) { clients.allSatisfy(\.isFinished) })
        kill(second, SIGTERM)
        #expect(waitExit(second) == 0)
        let result = tally.withLock { $0 }
        #expect(result.refused == 0, "no connection attempt may be refused during the restart")
        #expect(result.other.isEmpty, "every request got its 200: \(result.other.prefix(5))")
        #expect(try String(contentsOfFile: dir.file("second.log"), encoding: .utf8).contains("using the socket passed by systemd"))
    }
}
