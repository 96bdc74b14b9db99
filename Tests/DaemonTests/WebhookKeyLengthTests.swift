import TestSupport
import Testing
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime

/// A configured webhook key has at least 16 bytes, wherever it comes from; the error names the
/// source (variable, credential or file, and the entry), never the key.
@Suite struct WebhookKeyLengthTests {
    static let short = "short-key-01234"  // 15 bytes
    static let enough = "short-key-012345"  // 16 bytes

    @Test func keyLengthsAroundTheMinimum() {
        #expect(Self.short.utf8.count == WebhookKeys.minimumBytes - 1)
        #expect(Self.enough.utf8.count == WebhookKeys.minimumBytes)
    }

    @Test func aShortKeyInTheVariableIsAnErrorNamingTheVariableAndEntry() throws {
        #expect(try WebhookKeys.load(keyFile: nil, environment: [WebhookKeys.environmentVariable: Self.enough]).keys == [Self.enough])
        do {
            _ = try WebhookKeys.load(keyFile: nil, environment: [WebhookKeys.environmentVariable: "\(Self.enough), \(Self.short)"])
            Issue.record("a 15-byte key was accepted")
        } catch {
            #expect(error.key == WebhookKeys.environmentVariable)
            #expect(error.reason.contains("entry 2") && error.reason.contains("shorter than 16 bytes"), "\(error)")
            #expect(!error.description.contains(Self.short))
        }
    }

    @Test func aShortKeyInAFileOrCredentialNamesThePath() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try writeFile(dir.file("keys"), "# current first\n\(Self.enough)\n\(Self.short)\n")
        do {
            _ = try WebhookKeys.load(keyFile: dir.file("keys"), environment: [:])
            Issue.record("a 15-byte key was accepted")
        } catch {
            #expect(error.key == "webhook.keyFile")
            #expect(error.reason.contains("line 3 of \(dir.file("keys"))"), "\(error)")
            #expect(!error.description.contains(Self.short))
        }
        try writeFile(dir.file("webhook-key"), "\(Self.short)\n")
        do {
            _ = try WebhookKeys.load(keyFile: nil, environment: ["CREDENTIALS_DIRECTORY": dir.path])
            Issue.record("a 15-byte credential was accepted")
        } catch {
            #expect(error.key == "credential webhook-key")
            #expect(error.reason.contains("line 1 of \(dir.file("webhook-key"))"), "\(error)")
            #expect(!error.description.contains(Self.short))
        }
    }

    /// `sign` and `selftest` read their key with the same rule and name the same source.
    @Test func theSignKeyFollowsTheSameRule() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(throws: ConfigError(WebhookKeys.environmentVariable,
                                    "entry 1 is shorter than 16 bytes; use the webhook key Xero shows for the app (88 characters), not a placeholder or part of it")) {
            try KeyArgument.resolve(keyFile: nil, environment: [WebhookKeys.environmentVariable: Self.short])
        }
        #expect(try KeyArgument.resolve(keyFile: nil, environment: [WebhookKeys.environmentVariable: Self.enough]) == Self.enough)
        try writeFile(dir.file("key"), Self.short + "\n")
        do {
            _ = try KeyArgument.resolve(keyFile: dir.file("key"), environment: [WebhookKeys.environmentVariable: Self.enough])
            Issue.record("a 15-byte key file was accepted")
        } catch {
            #expect(error.key == "--key-file" && error.reason.contains("line 1 of \(dir.file("key"))"), "\(error)")
        }
        do {
            _ = try KeyArgument.resolve(keyFile: nil, environment: [:])
            Issue.record("no key was accepted")
        } catch {
            #expect(error.key == "--key-file" && error.reason.contains("no key"), "\(error)")
        }
    }
}
