#if canImport(Glibc)
import DaemonConfig
import EventRecord
import Glibc
import SystemSupport
#endif
import ByteJSON
import Foundation
import Logging
import Synchronization

/// Writes one line per log event to standard error, for journald.
///
/// When stderr is the journal (`JOURNAL_STREAM` is set) each line starts with the sd-daemon
/// priority prefix (`<3>` error … `<7>` debug) so `journalctl -p` filters it, and carries no
/// timestamp (journald adds its own). Otherwise: an RFC 3339 UTC timestamp and the level word.
/// Metadata follows the message as sorted `key=value` pairs. Each line is one `write(2)`, so
/// lines from different threads never interleave.
package struct StderrLogHandler: LogHandler {
    /// Shared by every handler made from one bootstrap, so a reload (SIGHUP) changes the level of
    /// loggers that already exist.
    package final class Level: Sendable {
        private let value: Mutex<Logger.Level>
        package init(_ level: Logger.Level) { value = Mutex(level) }
        package var current: Logger.Level {
            get { value.withLock { $0 } }
            set { value.withLock { $0 = newValue } }
        }
    }

    package var logLevel: Logger.Level {
        get { level.current }
        set { level.current = newValue }
    }
    package var metadata: Logger.Metadata = [:]
    private let label: String
    private let journal: Bool
    private let json: Bool
    private let level: Level

    /// - Parameter json: one JSON object per line (`time`, `level`, `message`, then the metadata)
    ///   instead of `key=value` text.
    package init(label: String, level: Level, journal: Bool, json: Bool = false) {
        self.label = label
        self.level = level
        self.journal = journal
        self.json = json
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        var line = journal ? "<\(Self.priority(event.level))>" : ""
        if json {
            var fields = [("time", Self.timestamp()), ("level", "\(event.level)"), ("message", "\(event.message)")]
            for key in merged.keys.sorted() { fields.append((key, "\(merged[key]!)")) }
            line += "{" + fields.enumerated().map { index, field in
                // Metadata that is a number (counts, sizes, ms, ports) is a JSON number.
                let value = index >= 3 && Self.isPlainNumber(field.1) ? Array(field.1.utf8) : JSONText.quoted(field.1)
                return String(decoding: JSONText.quoted(field.0) + [UInt8(ascii: ":")] + value, as: UTF8.self)
            }.joined(separator: ",") + "}"
        } else {
            if !journal { line += Self.timestamp() + " " }
            line += "\(event.level) \(event.message)"
            for key in merged.keys.sorted() {
                line += " \(key)=\(Self.quoted("\(merged[key]!)"))"
            }
        }
        line += "\n"
        _ = Array(line.utf8).withUnsafeBytes { writeAll(STDERR_FILENO, $0) }
    }

    /// Syslog priorities as sd-daemon(3) defines them.
    package static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A decimal integer in canonical form (no sign but `-`, no leading zero, at most 15 digits so
    /// every JSON reader holds it exactly): written as a JSON number in `log.format=json`. Ids
    /// never look like this (Xero's are GUIDs), and "007" stays a string.
    package static func isPlainNumber(_ text: String) -> Bool {
        var digits = Substring(text)
        if digits.first == "-" { digits = digits.dropFirst() }
        guard (1...15).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        return digits == "0" || digits.first != "0"
    }

    private static func quoted(_ value: String) -> String {
        guard value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) else {
            return value
        }
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\"\(escaped)\""
    }

    private static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UTCTimestamp.format(millisecondsSinceEpoch: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec / 1_000_000))
    }
}
