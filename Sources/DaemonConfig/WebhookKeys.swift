import EventRecord
import Foundation
import SystemSupport

/// The webhook signing key(s) and where they came from. The first key is the current one;
/// any further keys are predecessors that still verify during a rotation.
///
/// Looked up in this order (DESIGN.md: the environment and systemd credentials win over files):
/// 1. `PAN_SEC_XERO_WEBHOOK_KEY`: one key, or several separated by commas;
/// 2. `$CREDENTIALS_DIRECTORY/webhook-key` (systemd `LoadCredential=`): one key per line;
/// 3. the config's `webhook.keyFile`: one key per line.
///
/// Files must be UTF-8; a leading byte order mark is dropped. Surrounding whitespace is trimmed; empty entries, and in files blank lines and lines starting
/// with `#`, are skipped. A key with whitespace inside is a configuration error: splitting on
/// it would turn one key into several, and make words of a comment valid keys. So is a key
/// shorter than `minimumBytes`: Xero's keys are 88 characters, so a short one is a placeholder,
/// a test value or a cut-off paste, and anyone could guess it and sign deliveries.
package struct WebhookKeys: Sendable, Equatable {
    package static let environmentVariable = "PAN_SEC_XERO_WEBHOOK_KEY"
    package static let credentialName = "webhook-key"
    /// The fewest UTF-8 bytes a configured key may have.
    package static let minimumBytes = 16

    /// The key new signatures are made with (the first configured).
    package let current: String
    /// Keys still accepted during a changeover.
    package let previous: [String]
    package var keys: [String] { [current] + previous }
    /// A verifier for these keys.
    package var signature: WebhookSignature { WebhookSignature(current: current, previous: previous) }
    /// Human-readable origin, safe to print (never the key itself).
    package let source: String
    /// Problems worth a warning, e.g. a key file other users can read.
    package var warnings: [String] = []

    package init(current: String, previous: [String] = [], source: String, warnings: [String] = []) {
        self.current = current
        self.previous = previous
        self.source = source
        self.warnings = warnings
    }

    package static func load(keyFile: String?, environment: [String: String]) throws(ConfigError) -> WebhookKeys {
        if let value = environment[environmentVariable] {
            let keys = try parse(value, separator: ",", origin: environmentVariable)
            guard let current = keys.first else { throw ConfigError(environmentVariable, "is set but empty") }
            return WebhookKeys(current: current, previous: Array(keys.dropFirst()), source: "environment \(environmentVariable)")
        }
        if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
            let path = directory + "/" + credentialName
            if let bytes = try? FileBytes.read(path) {  // absent credential: fall through to the key file
                let origin = "credential \(credentialName)"
                let keys = try parse(text(bytes, origin: origin, file: path), separator: "\n", origin: origin, file: path)
                guard let current = keys.first else { throw ConfigError(origin, "\(path) is empty") }
                return WebhookKeys(current: current, previous: Array(keys.dropFirst()), source: "systemd credential \(credentialName)")
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
        let keys = try parse(text(bytes, origin: "webhook.keyFile", file: keyFile), separator: "\n", origin: "webhook.keyFile", file: keyFile)
        guard let current = keys.first else { throw ConfigError("webhook.keyFile", "\(keyFile) holds no key") }
        return WebhookKeys(current: current, previous: Array(keys.dropFirst()), source: "file \(keyFile)",
                           warnings: SecretFile.exposure(keyFile).map { [$0] } ?? [])
    }

    /// A description safe for logs and `check-config`: count and origin, no key material.
    package var masked: String {
        "\(keys.count) key\(keys.count == 1 ? "" : "s") from \(source)"
    }

    /// A key file's text: UTF-8 (anything else would be replaced, and the key would not be the
    /// bytes in the file), without a leading byte order mark (an editor's, not the key's).
    package static func text(_ bytes: [UInt8], origin: String, file: String) throws(ConfigError) -> String {
        guard var text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(origin, "\(file) is not UTF-8 text")
        }
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        return text
    }

    /// The keys in `text`, one per `separator`-delimited entry (see the type's rules). Errors
    /// name `origin`, the entry's position and `file` (the path read, if any), never the key.
    package static func parse(_ text: String, separator: Character, origin: String, file: String? = nil) throws(ConfigError) -> [String] {
        var keys: [String] = []
        // Split on unicode scalars: "\r\n" is one Character and would not split on "\n".
        let entries = text.unicodeScalars.split(separator: separator.unicodeScalars.first!, omittingEmptySubsequences: false)
        for (index, entry) in entries.enumerated() {
            let trimmed = String(String.UnicodeScalarView(entry)).trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || (separator == "\n" && trimmed.hasPrefix("#")) { continue }
            let place = (separator == "\n" ? "line \(index + 1)" : "entry \(index + 1)") + (file.map { " of \($0)" } ?? "")
            guard !trimmed.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else {
                throw ConfigError(origin, "\(place) has whitespace inside the key; a webhook key is one word "
                    + "(several keys: one per line in a file, comma-separated in \(environmentVariable))")
            }
            // Control and format characters (NUL, a zero-width space, a BOM) are invisible in an
            // editor: the key would look right and never verify.
            guard !trimmed.unicodeScalars.contains(where: { [.control, .format].contains($0.properties.generalCategory) }) else {
                throw ConfigError(origin, "\(place) has a control or invisible character inside the key")
            }
            guard trimmed.utf8.count >= minimumBytes else {
                throw ConfigError(origin, "\(place) is shorter than \(minimumBytes) bytes; use the webhook key Xero shows "
                    + "for the app (88 characters), not a placeholder or part of it")
            }
            keys.append(trimmed)
        }
        return keys
    }
}
