import ByteJSON
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `send` posts signed deliveries in Xero's shape to a running daemon, the way a user tries the
/// whole path: the daemon accepts them (200, so the signature and the shape are right) and queues
/// each event as sent; with the wrong key every delivery gets 401 and the command exits 1.
@Suite struct SendCommandTests {
    @Test func sendsSignedDeliveriesTheDaemonAccepts() throws {
        let dir = try TemporaryDirectory("xero-webhookd-send")
        defer { dir.remove() }
        let config = dir.file("config.json")
        try writeFile(config, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "worker": {"enabled": false}}"#)
        let environment = ["PAN_SEC_XERO_WEBHOOK_KEY": CrashOracle.key]
        let daemon = try DaemonProcess(["serve", "--config", config], environment: environment)
        let url = "http://127.0.0.1:\(daemon.port)/webhooks/xero"

        let sent = try Binary.run(["send", url, "--category", "CONTACT", "--count", "3", "--tenant", "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"],
                                  environment: environment)
        #expect(sent.status == 0, "\(sent.stdout)\(sent.stderr)")
        #expect(sent.stdout.split(separator: "\n").filter { $0.contains(": 200 in ") }.count == 3, "\(sent.stdout)")
        let subscription = try Binary.run(["send", url, "--category", "SUBSCRIPTION", "--type", "CREATE"], environment: environment)
        #expect(subscription.status == 0, "\(subscription.stdout)\(subscription.stderr)")

        let dump = try Binary.run(["queue", "dump", "--config", config])
        let events = dump.stdout.split(separator: "\n").compactMap { try? JSONParser.parse(Array($0.utf8))["event"] }
        #expect(events.count == 4, "\(dump.stdout)")
        for event in events.prefix(3) {
            #expect(event["eventCategory"]?.stringValue == "CONTACT")
            #expect(event["tenantType"]?.stringValue == "ORGANISATION")
            #expect(event["tenantId"]?.stringValue == "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f")
            #expect(event["resourceUrl"]?.stringValue?.hasPrefix("https://api.xero.com/api.xro/2.0/Contacts/") == true)
            #expect(event["eventDateUtc"]?.stringValue?.hasSuffix("Z") == false)  // Xero's: no zone designator
        }
        #expect(events.last?["tenantType"]?.stringValue == "APPLICATION")

        let wrongKey = try Binary.run(["send", url], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "another-key-0123456789"])
        #expect(wrongKey.status == 1)
        #expect(wrongKey.stdout.contains(": 401 in "), "\(wrongKey.stdout)")
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }
}
