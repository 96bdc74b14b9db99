import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import Testing
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime

@Suite struct ConfigLoaderTests {
    @Test func embeddedDefaults() throws {
        let config = try ConfigLoader.load(path: nil, environment: [:])
        #expect(config.listenHost == "127.0.0.1")
        #expect(config.listenPort == 8080)
        #expect(config.webhookPath == "/webhooks/xero")
        #expect(config.stateDirectory == "state")
        #expect(config.limits.maxBodyBytes == 1 << 20)
        #expect(try ConfigLoader.load(path: nil, environment: ["STATE_DIRECTORY": "/var/lib/x"]).stateDirectory == "/var/lib/x")
    }

    @Test func exampleConfigLoadsAndEqualsTheDefaults() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let config = try ConfigLoader.load(path: root.appendingPathComponent("config.example.json").path, environment: [:])
        var expected = DaemonConfig()
        expected.webhookKeyFile = config.webhookKeyFile
        #expect(config == expected)
    }

    @Test func valuesAreApplied() throws {
        let config = try loadConfig(#"""
        {"listen": {"host": "::1", "port": 0}, "webhook": {"path": "/x", "keyFile": "/k"},
         "stateDirectory": "/tmp/s", "limits": {"maxBodyBytes": 2048, "headTimeoutMilliseconds": 500},
         "queue": {"segmentBytes": 1048576}, "log": {"level": "debug"}, "//": "comment"}
        """#)
        #expect(config.listenHost == "::1")
        #expect(config.listenPort == 0)
        #expect(config.webhookPath == "/x")
        #expect(config.webhookKeyFile == "/k")
        #expect(config.stateDirectory == "/tmp/s")
        #expect(config.limits.maxBodyBytes == 2048)
        #expect(config.limits.headTimeout == .milliseconds(500))
        #expect(config.queueSegmentBytes == 1 << 20)
        #expect(config.logLevel == .debug)
    }

    @Test(arguments: [
        (#"{"listen": {"port": 70000}}"#, "config: listen.port: 70000 is not a port (0-65535)"),
        (#"{"listen": {"port": "80"}}"#, "config: listen.port: must be a number"),
        (#"{"listen": {"host": "localhost"}}"#, #"config: listen.host: "localhost" is not a numeric IPv4 or IPv6 address"#),
        (#"{"listen": {"prot": 1}}"#, "config: listen.prot: unknown key (known here: host, port, tls)"),
        (#"{"webhook": {"path": "webhooks"}}"#, #"config: webhook.path: "webhooks" must start with / and have no spaces or query"#),
        (#"{"limits": {"maxBodyBytes": 10}}"#, "config: limits.maxBodyBytes: 10 is out of range (1024-67108864)"),
        (#"{"limits": {"maxBodyBytes": 67108864, "requestMemoryBytes": 33554432}}"#,
         "config: limits.requestMemoryBytes: 33554432 is too small for one request of limits.maxBodyBytes + limits.maxHeaderBytes (67125248); raise it or lower those"),
        (#"{"limits": {"descriptorReserve": 2}}"#, "config: limits.descriptorReserve: 2 is out of range (16-100000)"),
        (#"{"log": {"level": "loud"}}"#, #"config: log.level: "loud" is not one of trace, debug, info, notice, warning, error, critical"#),
        (#"{"listen": 5}"#, "config: listen: must be a JSON object"),
        (#"{"listen": {}, "listen": {}}"#, "config: listen: appears more than once"),
        (#"{"stateDirectory": ""}"#, "config: stateDirectory: must not be empty"),
        (#"{"listen": {"port": 1.5}}"#, "config: listen.port: 1.5 is not a whole number"),
        (#"{"listen": {"tls": true}}"#, "config: listen.tls: must be a JSON object"),
        (#"{"listen": {"tls": {}}}"#, "config: listen.tls.certificateChainFile: is required when listen.tls is present"),
        (#"{"listen": {"tls": {"certificateChainFile": "c.pem", "privateKeyFile": ""}}}"#,
         "config: listen.tls.privateKeyFile: is required when listen.tls is present"),
        (#"{"listen": {"tls": {"certificateFile": "c.pem", "privateKeyFile": "k.pem"}}}"#,
         "config: listen.tls.certificateFile: unknown key (known here: certificateChainFile, privateKeyFile)"),
        (#"{"listen": {"tls": {"certificateChainFile": "c.pem", "privateKeyFile": "k.pem", "ciphers": "ALL"}}}"#,
         "config: listen.tls.ciphers: unknown key (known here: certificateChainFile, privateKeyFile)"),
        // A bound the active segment alone can reach would mean 503 for good.
        (#"{"queue": {"maxBytes": 104857600}}"#,
         "config: queue.maxBytes: 104857600 is less than two segments (2 × queue.segmentBytes = 134217728); raise it or lower queue.segmentBytes"),
        (#"{"queue": {"maxBytes": 1048576, "segmentBytes": 1048576}}"#,
         "config: queue.maxBytes: 1048576 is less than two segments (2 × queue.segmentBytes = 2097152); raise it or lower queue.segmentBytes"),
    ])
    func badConfigNamesTheKeyAndReason(_ json: String, _ message: String) {
        #expect(throws: ConfigError.self) { try loadConfig(json) }
        do {
            _ = try loadConfig(json)
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func invalidJSONIsReported() {
        do {
            _ = try loadConfig("{nope")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("is not valid JSON"))
        }
    }

    /// One key with spaces must not become several keys, and a comment's words must not become
    /// keys: anyone could sign with `#` or `your`.
    @Test func webhookKeysSplitOnCommasOrLinesOnlyAndSkipComments() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let env = try WebhookKeys.load(keyFile: nil, environment: ["PAN_SEC_XERO_WEBHOOK_KEY": " key-one-0123456789 , key-two-0123456789 ,"])
        #expect(env.keys == ["key-one-0123456789", "key-two-0123456789"])
        do {
            _ = try WebhookKeys.load(keyFile: nil, environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "your webhook key"])
            Issue.record("a key with spaces inside was accepted")
        } catch {
            #expect(error.key == "PAN_SEC_XERO_WEBHOOK_KEY" && error.reason.contains("entry 1") && !error.description.contains("your"))
        }
        try writeFile(dir.file("key"), "# xero webhook key (rotated 2026-11)\r\n\r\n  LR+QgKlbRciIPYpi65tT  \r\n#old: previous\nSecondKey-0123456789==\n")
        #expect(try WebhookKeys.load(keyFile: dir.file("key"), environment: [:]).keys == ["LR+QgKlbRciIPYpi65tT", "SecondKey-0123456789=="])
        try writeFile(dir.file("webhook-key"), "# rotated\nCredKey-0123456789\n")
        #expect(try WebhookKeys.load(keyFile: nil, environment: ["CREDENTIALS_DIRECTORY": dir.path]).keys == ["CredKey-0123456789"])
        try writeFile(dir.file("bad"), "GoodKey-0123456789\nthe new key\n")
        do {
            _ = try WebhookKeys.load(keyFile: dir.file("bad"), environment: [:])
            Issue.record("a key line with spaces inside was accepted")
        } catch {
            #expect(error.key == "webhook.keyFile" && error.reason.contains("line 2") && !error.description.contains("new key"))
        }
        #expect(throws: ConfigError.self) { try WebhookKeys.load(keyFile: dir.file("key"), environment: ["PAN_SEC_XERO_WEBHOOK_KEY": " , "]) }
    }

    @Test func webhookKeysFromEnvironmentCredentialOrFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("key"), "current-0123456789\nprevious-0123456789\n")
        try writeFile(dir.file("webhook-key"), "cred-0123456789ab\n")

        let fromEnv = try WebhookKeys.load(keyFile: dir.file("key"), environment: ["PAN_SEC_XERO_WEBHOOK_KEY": "key-a-0123456789, key-b-0123456789", "CREDENTIALS_DIRECTORY": dir.path])
        #expect(fromEnv.keys == ["key-a-0123456789", "key-b-0123456789"])
        let fromCredential = try WebhookKeys.load(keyFile: dir.file("key"), environment: ["CREDENTIALS_DIRECTORY": dir.path])
        #expect(fromCredential.keys == ["cred-0123456789ab"])
        chmod(dir.file("key"), 0o644)
        let fromFile = try WebhookKeys.load(keyFile: dir.file("key"), environment: [:])
        #expect(fromFile.keys == ["current-0123456789", "previous-0123456789"])
        #expect(fromFile.warnings.count == 1, "a key file every user can read is warned about")
        chmod(dir.file("key"), 0o600)
        #expect(try WebhookKeys.load(keyFile: dir.file("key"), environment: [:]).warnings.isEmpty)
        #expect(!fromFile.masked.contains("current"))

        #expect(throws: ConfigError.self) { try WebhookKeys.load(keyFile: nil, environment: [:]) }
        #expect(throws: ConfigError.self) { try WebhookKeys.load(keyFile: dir.file("missing"), environment: [:]) }
        #expect(throws: ConfigError.self) { try WebhookKeys.load(keyFile: nil, environment: ["PAN_SEC_XERO_WEBHOOK_KEY": " "]) }
    }

    @Test(arguments: [
        ("127.0.0.1:0", "127.0.0.1", UInt16(0)), ("[::1]:8443", "::1", UInt16(8443)), (":9000", "10.0.0.1", UInt16(9000)),
    ])
    func listenOverride(_ text: String, _ host: String, _ port: UInt16) throws {
        let parsed = try ListenAddress.parse(text, defaultHost: "10.0.0.1")
        #expect(parsed.host == host)
        #expect(parsed.port == port)
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.1:99999", "[::1]8080", "example.com:80"])
    func badListenOverride(_ text: String) {
        #expect(throws: ConfigError.self) { try ListenAddress.parse(text, defaultHost: "127.0.0.1") }
    }
}
