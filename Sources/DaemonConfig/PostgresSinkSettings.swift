import Foundation
import SystemSupport

/// The postgres sink's connection and table: the URL from `sink.postgresURL`, else
/// `XERO_WEBHOOKD_POSTGRES_URL`, else the systemd credential `postgres-url`.
package enum PostgresSinkSettings {
    package static let variable = "XERO_WEBHOOKD_POSTGRES_URL"
    package static let credential = "postgres-url"
    package static let defaultTable = "xero_resources"

    /// The endpoint to connect to and where its URL came from (`sink.postgresURL`, the variable,
    /// or the credential); a ConfigError names that source and what is wrong with the URL.
    package static func endpoint(_ settings: WorkerSettings, environment: [String: String]) throws(ConfigError) -> (endpoint: PostgresEndpoint, source: String) {
        let (text, source) = try url(settings, environment: environment)
        do {
            return (try PostgresEndpoint.parse(text), source)
        } catch {
            throw ConfigError(source, error.reason)
        }
    }

    /// The URL text and the config key (or pseudo-key) it came from.
    private static func url(_ settings: WorkerSettings, environment: [String: String]) throws(ConfigError) -> (String, String) {
        try url(configured: settings.sinkPostgresURL, key: "sink.postgresURL", for: "the postgres sink", environment: environment)
    }

    /// A PostgreSQL URL from `configured` (the config key `key`), else `XERO_WEBHOOKD_POSTGRES_URL`,
    /// else the systemd credential `postgres-url`, with where it came from; `user` names what needs it.
    package static func url(configured: String?, key: String, for user: String, environment: [String: String]) throws(ConfigError) -> (String, String) {
        if let value = configured { return (value, key) }
        if let value = environment[variable]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty { return (value, variable) }
        if let directory = environment["CREDENTIALS_DIRECTORY"],
           let bytes = try? FileBytes.read(directory + "/" + credential) {  // a missing credential means: not given this way
            let value = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !value.isEmpty { return (value, "systemd credential \(credential)") }
        }
        throw ConfigError(key, "no PostgreSQL URL for \(user): set it, set \(variable), or pass the systemd credential \"\(credential)\"")
    }

    /// Why `name` cannot be the sink's table, or nil when it can: a lower-case SQL identifier
    /// (letters, digits, `_`, not starting with a digit, at most 63 bytes), optionally
    /// qualified by a schema of the same form (`mirror.xero_resources`).
    package static func tableProblem(_ name: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return "\"\(name)\" has more than one dot (schema.table at most)" }
        if parts.last == "xero_webhookd_migrations" { return "\"\(name)\" is the name of the daemon's migrations table" }
        for part in parts {
            guard !part.isEmpty, part.utf8.count <= 63 else {
                return "\"\(name)\" is not an SQL identifier (1 to 63 characters per part)"
            }
            let first = part.utf8.first!
            let valid = part.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }
            guard valid, !(0x30...0x39).contains(first) else {
                return "\"\(name)\" is not an SQL identifier (lower-case letters, digits and _, not starting with a digit)"
            }
        }
        return nil
    }
}
