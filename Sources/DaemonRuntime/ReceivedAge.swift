import DaemonConfig
import Foundation

/// Seconds since a queue record's `receivedAt` (RFC 3339 UTC with milliseconds), or nil when the
/// text is not such a time.
package func secondsSince(receivedAt text: String) -> Double? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text).map { Date().timeIntervalSince($0) }
}
