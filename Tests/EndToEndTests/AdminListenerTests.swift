import EventRecord
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `admin.listen`: `/metrics`, `/healthz` and `/readyz` on their own (loopback) listener, and the
/// webhook listener, often public, serving the webhook path only (with native TLS on [::]:443,
/// `/metrics` was public).
@Suite struct AdminListenerTests {
    private func get(_ port: UInt16, _ path: String) throws -> Int {
        let client = try RawHTTPClient(port: port)
        defer { client.close() }
        return try client.exchange(Array("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)).status
    }

    @Test func adminEndpointsLeaveTheWebhookListener() throws {
        let dir = try TemporaryDirectory("xero-webhookd-adminlisten")
        defer { dir.remove() }
        let config = dir.file("config.json")
        try writeFile(config, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "admin": {"listen": "127.0.0.1:0"}, "worker": {"enabled": false}}"#)
        let daemon = try DaemonProcess(["serve", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key])
        #expect(waitUntil(seconds: 10) { daemon.stderr.contains("adminAddress=") })
        let line = try #require(daemon.stderr.split(separator: "\n").first { $0.contains("adminAddress=") })
        let adminPort = try #require(line.split(separator: " ").first { $0.hasPrefix("adminAddress=") }?.split(separator: ":").last.flatMap { UInt16($0) })

        for path in ["/metrics", "/healthz", "/readyz"] {
            #expect(try get(daemon.port, path) == 404, "\(path) on the webhook listener")
            #expect(try get(adminPort, path) == 200, "\(path) on the admin listener")
        }
        let body = Array(#"{"events":[\#(CrashOracle.event("admin-listen-1"))],"firstEventSequence":1,"lastEventSequence":1,"entropy":"ADMIN"}"#.utf8)
        let signed = RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", WebhookSignature(current: CrashOracle.key).signature(for: body))])
        let webhook = try RawHTTPClient(port: daemon.port)
        #expect(try webhook.exchange(signed).status == 200)
        let onAdmin = try RawHTTPClient(port: adminPort)
        #expect(try onAdmin.exchange(signed).status == 404, "the webhook path is not served on the admin listener")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }

    @Test func aBadAdminAddressIsAConfigError() throws {
        let dir = try TemporaryDirectory("xero-webhookd-adminlisten")
        defer { dir.remove() }
        try writeFile(dir.file("config.json"), #"{"admin": {"listen": "localhost:9090"}}"#)
        let check = try Binary.run(["check-config", "--config", dir.file("config.json")], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key])
        #expect(check.status == 78)
        #expect(check.stderr.contains("admin.listen"), "\(check.stderr)")
    }
}
