/// Reads the timestamps a record carries into milliseconds since the Unix epoch (UTC).
package enum XeroTimestamp {
    /// Xero's .NET JSON dates, `/Date(1573755038314+0000)/` or `/Date(1573755038314)/`
    /// (the JSON text escapes the slashes, `"\/Date(…)\/"`; a parsed string has plain ones),
    /// and RFC 3339 / ISO 8601 times as `parseISO` reads them. Nil for anything else.
    ///
    /// The number is milliseconds since the epoch in UTC whatever the `+hhmm` suffix says:
    /// the suffix only tells the organisation's offset (xero-facts §5).
    package static func parse(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        let prefix = Array("/Date(".utf8), suffix = Array(")/".utf8)
        guard bytes.starts(with: prefix) else { return parseISO(text) }
        guard bytes.count > prefix.count + suffix.count, Array(bytes.suffix(2)) == suffix else { return nil }
        var inner = bytes[prefix.count..<(bytes.count - suffix.count)]
        // Drop an offset suffix (+hhmm / -hhmm) after at least one digit.
        if inner.count > 5, let sign = inner.dropFirst().lastIndex(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }) {
            let offset = inner[(sign + 1)...]
            guard offset.count == 4, offset.allSatisfy(isDigit) else { return nil }
            inner = inner[..<sign]
        }
        var negative = false
        if inner.first == UInt8(ascii: "-") {
            negative = true
            inner = inner.dropFirst()
        }
        guard !inner.isEmpty, inner.count <= 15, inner.allSatisfy(isDigit) else { return nil }
        let value = inner.reduce(Int64(0)) { $0 * 10 + Int64($1 - 0x30) }
        return negative ? -value : value
    }

    /// `YYYY-MM-DDTHH:MM:SS`, optional fraction (milliseconds kept), optional `Z` or `±HH:MM`.
    /// Without a zone the time is UTC: Xero's `eventDateUtc` and API dates carry none.
    package static func parseISO(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int64? {
            guard start + count <= b.count else { return nil }
            let digits = b[start..<(start + count)]
            guard digits.allSatisfy(isDigit) else { return nil }
            return digits.reduce(Int64(0)) { $0 * 10 + Int64($1 - 0x30) }
        }
        guard b.count >= 19, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " "),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var at = 19
        var milliseconds: Int64 = 0
        if at < b.count, b[at] == UInt8(ascii: ".") {
            at += 1
            var scale: Int64 = 100
            let start = at
            while at < b.count, isDigit(b[at]) {
                milliseconds += Int64(b[at] - 0x30) * scale
                scale /= 10
                at += 1
            }
            guard at > start else { return nil }
        }
        var offsetMinutes: Int64 = 0
        if at < b.count {
            if b[at] == UInt8(ascii: "Z") || b[at] == UInt8(ascii: "z") {
                at += 1
            } else if b[at] == UInt8(ascii: "+") || b[at] == UInt8(ascii: "-") {
                guard at + 6 == b.count, b[at + 3] == UInt8(ascii: ":"), let h = number(at + 1, 2), let m = number(at + 4, 2) else { return nil }
                offsetMinutes = (h * 60 + m) * (b[at] == UInt8(ascii: "-") ? -1 : 1)
                at += 6
            }
        }
        guard at == b.count else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        return ((days * 24 + hour) * 60 + minute - offsetMinutes) * 60_000 + second * 1000 + milliseconds
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

    // Howard Hinnant's days-from-civil (proleptic Gregorian calendar).
    private static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
