import EventRecord
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket standing in for systemd's notification socket.
final class NotifySocket {
    let path: String
    let fd: Int32

    init() throws {
        path = "/tmp/xwh-notify-\(UUID().uuidString.prefix(8)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw RawHTTPClient.ClientError(description: "bind \(path): errno \(errno)") }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next message, or nil after `seconds`.
    func receive(within seconds: Int = 10) -> String? {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite(.serialized) struct SystemdTests {
    private func config(_ dir: TemporaryDirectory) throws -> String {
        let path = dir.file("config.json")
        try writeFile(path, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}}"#)
        return path
    }

    @Test func notifiesReadyWatchdogAndStoppingInOrder() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let notify = try NotifySocket()
        let daemon = try DaemonProcess(["serve", "--config", try config(dir)], environment: [
            "PAN_SEC_XERO_WEBHOOK_KEY": "systemd-test-key-0123", "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000",
        ])
        let ready = try #require(notify.receive())
        #expect(ready.hasPrefix("READY=1"))
        #expect(ready.contains("STATUS=Receiving on 127.0.0.1:\(daemon.port)"))
        var pings = 0
        while pings < 3, let message = notify.receive() {
            #expect(message == "WATCHDOG=1")
            pings += 1
        }
        #expect(pings == 3)
        daemon.signal(SIGTERM)
        var stopping = false
        while let message = notify.receive() {
            if message.hasPrefix("STOPPING=1") { stopping = true; break }
            #expect(message == "WATCHDOG=1")
        }
        #expect(stopping)
        #expect(daemon.waitForExit() == 0)
    }

    /// A reload as Type=notify-reload needs it: RELOADING=1 with MONOTONIC_USEC, then READY=1; a
    /// rejected config (here a key file that became too short) adds ERRNO= and says why, so the
    /// service manager can fail `systemctl reload` instead of reporting success.
    @Test func reloadIsAnnouncedAndARejectedConfigIsReported() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let notify = try NotifySocket()
        let path = dir.file("config.json")
        try writeFile(path, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "log": {"level": "info"}}"#)
        let daemon = try DaemonProcess(["serve", "--config", path], environment: [
            "PAN_SEC_XERO_WEBHOOK_KEY": "systemd-test-key-0123", "NOTIFY_SOCKET": notify.path,
        ])
        #expect(try #require(notify.receive()).hasPrefix("READY=1"))

        daemon.signal(SIGHUP)
        let reloading = try #require(notify.receive())
        #expect(reloading.hasPrefix("RELOADING=1\nMONOTONIC_USEC="), "\(reloading)")
        let usec = reloading.split(separator: "\n").first { $0.hasPrefix("MONOTONIC_USEC=") }.flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        #expect(usec.map { $0 <= UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000 } == true, "a CLOCK_MONOTONIC time in µs")
        let done = try #require(notify.receive())
        #expect(done.hasPrefix("READY=1") && !done.contains("ERRNO="), "\(done)")

        try writeFile(path, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "log": {"level": "loud"}}"#)
        daemon.signal(SIGHUP)
        #expect(try #require(notify.receive()).hasPrefix("RELOADING=1"))
        let rejected = try #require(notify.receive())
        #expect(rejected.hasPrefix("READY=1\nERRNO=22\nSTATUS=Reload rejected"), "\(rejected)")
        #expect(rejected.contains("log.level"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }

    @Test func watchdogStopsWhenTheQueueHasFailed() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let notify = try NotifySocket()
        let daemon = try DaemonProcess(["serve", "--config", try config(dir)], environment: [
            "PAN_SEC_XERO_WEBHOOK_KEY": "systemd-test-key-0123", "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000",
            "XERO_WEBHOOKD_FAILPOINTS": "afterWriteBeforeSync=error@1",
        ])
        #expect(notify.receive()?.hasPrefix("READY=1") == true)
        #expect(notify.receive() == "WATCHDOG=1")
        let client = try RawHTTPClient(port: daemon.port)
        let body = Array(#"{"events":[{"resourceId":"x","eventCategory":"INVOICE","tenantId":"t"}],"entropy":"W"}"#.utf8)
        let signature = WebhookSignature(current: "systemd-test-key-0123").signature(for: body)
        #expect(try client.exchange(RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)])).status == 503)
        // Pings sent before the failure may still be buffered; after them there is silence. A
        // daemon that kept pinging every 100 ms would never leave a second without one.
        var buffered = 0
        while notify.receive(within: 1) != nil {
            buffered += 1
            if buffered > 30 { break }
        }
        #expect(buffered <= 30, "the watchdog kept pinging after the queue failed")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }

    @Test func watchdogStopsWhenTheQueueWriterHangs() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let notify = try NotifySocket()
        let daemon = try DaemonProcess(["serve", "--config", try config(dir)], environment: [
            "PAN_SEC_XERO_WEBHOOK_KEY": "systemd-test-key-0123", "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000",
            "XERO_WEBHOOKD_FAILPOINTS": "beforeWrite=hang@1",
        ])
        defer { daemon.signal(SIGKILL) }  // its writer never returns, so it cannot stop cleanly
        #expect(notify.receive()?.hasPrefix("READY=1") == true)
        #expect(notify.receive() == "WATCHDOG=1")
        // A delivery whose write hangs: its answer never comes.
        let port = daemon.port
        let poster = Thread {
            guard let client = try? RawHTTPClient(port: port, timeout: 60) else { return }
            let body = Array(#"{"events":[{"resourceId":"x","eventCategory":"INVOICE","tenantId":"t"}],"entropy":"H"}"#.utf8)
            _ = try? client.exchange(RawHTTPClient.post("/webhooks/xero", body: body,
                                                        headers: [("x-xero-signature", WebhookSignature(current: "systemd-test-key-0123").signature(for: body))]))
        }
        poster.start()
        // Pings go on while the writer may still just be slow, then stop (10 s without progress).
        let started = Date()
        while notify.receive(within: 2) != nil, Date().timeIntervalSince(started) < 60 {}
        let silentAfter = Date().timeIntervalSince(started)
        #expect(silentAfter < 60, "the pings never stopped")
        let client = try RawHTTPClient(port: daemon.port)
        let ready = try client.exchange(Array("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(ready.status == 503)
        #expect(String(decoding: ready.body, as: UTF8.self).contains("queue writer stuck"))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-socket-activate"), "needs systemd-socket-activate"))
    func usesTheSocketSystemdPasses() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // A free port chosen by the kernel, then handed to the launcher to bind.
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(probe, $0, length) == 0 && getsockname(probe, $0, &length) == 0 } }
        let port = UInt16(bigEndian: address.sin_port)
        close(probe)
        let daemon = try DaemonProcess(["serve", "--config", try config(dir)], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "systemd-test-key-0123"],
                                       launcher: "/usr/bin/systemd-socket-activate",
                                       launcherArguments: ["-l", "127.0.0.1:\(port)", "-E", "PAN_SEC_XERO_WEBHOOK_KEY"],
                                       waitForListening: false)
        // The launcher starts the daemon on the first connection and passes it the listening socket.
        #expect(waitUntil(seconds: 10) { (try? RawHTTPClient(port: port, timeout: 1)) != nil })
        let client = try RawHTTPClient(port: port)
        let health = try client.exchange(Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(health.status == 200)
        #expect(daemon.waitForListeningPort() == port)
        #expect(daemon.stderr.contains("using the socket passed by systemd"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }
}
