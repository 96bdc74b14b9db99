/// The webhook signing key(s) and where they came from. The first key is the current one;
/// any further keys are predecessors that still verify during a rotation.
///
/// Looked up in this order (DESIGN.md: the environment and systemd credentials win over files):
/// 1. `PAN_SEC_XERO_WEBHOOK_KEY`: one key, or several separated by commas or whitespace;
/// 2. `$CREDENTIALS_DIRECTORY/webhook-key` (systemd `LoadCredential=`): one key per line;
/// 3. the config's `webhook.keyFile`: one key per line.
public struct WebhookKeys: Sendable, Equatable {
    public static let environmentVariable = "PAN_SEC_XERO_WEBHOOK_KEY"
    public static let credentialName = "webhook-key"

    public let keys: [String]
    /// Human-readable origin, safe to print (never the key itself).
    public let source: String
    /// Problems worth a warning, e.g. a key file other users can read.
    public var warnings: [String] = []

    init(keys: [String], source: String, warnings: [String] = []) {
        self.keys = keys
        self.source = source
        self.warnings = warnings
    }

    public static func load(keyFile: String?, environment: [String: String]) throws(ConfigError) -> WebhookKeys {
        if let value = environment[environmentVariable] {
            let keys = split(value)
            guard !keys.isEmpty else { throw ConfigError(environmentVariable, "is set but empty") }
            return WebhookKeys(keys: keys, source: "environment \(environmentVariable)")
        }
        if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
            let path = directory + "/" + credentialName
            if let bytes = try? FileBytes.read(path) {  // absent credential: fall through to the key file
                let keys = split(String(decoding: bytes, as: UTF8.self))
                guard !keys.isEmpty else { throw ConfigError("credential \(credentialName)", "\(path) is empty") }
                return WebhookKeys(keys: keys, source: "systemd credential \(credentialName)")
            }
        }
        guard let keyFile else {
            throw ConfigError("webhook.keyFile",
                              "no webhook key: set \(environmentVariable), pass the systemd credential \"\(credentialName)\", or name a key file")
        }
        let bytes: [UInt8]
        do {
            bytes = try FileBytes.read(keyFile)
        } catch {
            throw ConfigError("webhook.keyFile", "cannot read \(keyFile): \(error)")
        }
        let keys = split(String(decoding: bytes, as: UTF8.self))
        guard !keys.isEmpty else { throw ConfigError("webhook.keyFile", "\(keyFile) holds no key") }
        return WebhookKeys(keys: keys, source: "file \(keyFile)", warnings: SecretFile.exposure(keyFile).map { [$0] } ?? [])
    }

    /// A description safe for logs and `check-config`: count and origin, no key material.
    public var masked: String {
        "\(keys.count) key\(keys.count == 1 ? "" : "s") from \(source)"
    }

    private static func split(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
    }
}
