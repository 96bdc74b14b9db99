import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import Testing

/// The built binary refuses a webhook key shorter than 16 bytes with exit 78, naming where the
/// key came from and never showing it; `sign` applies the same rule.
@Suite struct WebhookKeyLengthEndToEndTests {
    static let short = "short-key-01234"  // 15 bytes
    static let enough = "short-key-012345"  // 16 bytes

    @Test func aFifteenByteKeyStopsCheckConfigServeAndSign() throws {
        let dir = try TemporaryDirectory("xero-webhookd-keylength")
        defer { dir.remove() }
        let config = dir.file("config.json")
        try writeFile(config, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}}"#)
        let variable = ["PAN_SEC_XERO_WEBHOOK_KEY": Self.short]
        for arguments in [["check-config", "--config", config], ["serve", "--config", config]] {
            let result = try Binary.run(arguments, environment: variable)
            #expect(result.status == 78, "\(arguments[0]): \(result.stderr)")
            #expect(result.stderr.contains("PAN_SEC_XERO_WEBHOOK_KEY: entry 1 is shorter than 16 bytes"), "\(result.stderr)")
            #expect(!result.stderr.contains(Self.short) && !result.stdout.contains(Self.short))
        }
        let accepted = try Binary.run(["check-config", "--config", config], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.enough])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(accepted.stdout.contains("webhook.keys: 1 key from environment PAN_SEC_XERO_WEBHOOK_KEY"))

        // A key file: the error names the config key and the file, not the key.
        try writeFile(dir.file("keys"), "\(Self.enough)\n\(Self.short)\n")
        chmod(dir.file("keys"), 0o600)
        try writeFile(config, #"{"stateDirectory": "\#(dir.file("state"))", "listen": {"port": 0}, "webhook": {"keyFile": "\#(dir.file("keys"))"}}"#)
        let fromFile = try Binary.run(["serve", "--config", config], environment: [:])
        #expect(fromFile.status == 78, "\(fromFile.stderr)")
        #expect(fromFile.stderr.contains("webhook.keyFile: line 2 of \(dir.file("keys")) is shorter than 16 bytes"), "\(fromFile.stderr)")
        #expect(!fromFile.stderr.contains(Self.short))

        // sign: the same rule for the variable and for --key-file.
        let body = Array(#"{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"KEYLENGTH"}"#.utf8)
        let signShort = try Binary.run(["sign"], environment: variable, stdin: body)
        #expect(signShort.status == 78 && signShort.stdout.isEmpty, "\(signShort.stderr)")
        #expect(signShort.stderr.contains("PAN_SEC_XERO_WEBHOOK_KEY: entry 1 is shorter than 16 bytes"), "\(signShort.stderr)")
        #expect(!signShort.stderr.contains(Self.short))
        try writeFile(dir.file("short-key"), Self.short + "\n")
        let signFile = try Binary.run(["sign", "--key-file", dir.file("short-key")], stdin: body)
        #expect(signFile.status == 78, "\(signFile.stderr)")
        #expect(signFile.stderr.contains("--key-file: line 1 of \(dir.file("short-key")) is shorter than 16 bytes"), "\(signFile.stderr)")
        let signEnough = try Binary.run(["sign"], environment: ["PAN_SEC_XERO_WEBHOOK_KEY": Self.enough], stdin: body)
        #expect(signEnough.status == 0 && signEnough.stdout.hasSuffix("=\n"), "\(signEnough.stderr)")
    }
}
