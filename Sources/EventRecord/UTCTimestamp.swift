/// RFC 3339 UTC timestamps with millisecond precision, e.g. `2026-11-29T05:01:02.345Z`,
/// formatted without Foundation so the receive path stays cheap.
package enum UTCTimestamp {
    /// Formats milliseconds since the Unix epoch.
    package static func format(millisecondsSinceEpoch ms: Int64) -> String {
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let msOfDay = ms - days * 86_400_000
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        guard (0...9999).contains(year) else {
            var text = pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
            text += "T" + pad(msOfDay / 3_600_000, 2) + ":" + pad(msOfDay / 60_000 % 60, 2)
            text += ":" + pad(msOfDay / 1000 % 60, 2) + "." + pad(msOfDay % 1000, 3) + "Z"
            return text
        }
        // Four-digit years, every timestamp the daemon makes: the 24 bytes written in place
        // (the receive path stamps every event).
        return String(unsafeUninitializedCapacity: 24) { out in
            var at = 0
            func put(_ value: Int64, _ width: Int) {
                var rest = value
                for position in stride(from: at + width - 1, through: at, by: -1) {
                    out[position] = UInt8(truncatingIfNeeded: 0x30 + rest % 10)
                    rest /= 10
                }
                at += width
            }
            func put(_ byte: Unicode.Scalar) {
                out[at] = UInt8(ascii: byte)
                at += 1
            }
            put(year, 4); put("-"); put(month, 2); put("-"); put(day, 2)
            put("T"); put(msOfDay / 3_600_000, 2); put(":"); put(msOfDay / 60_000 % 60, 2)
            put(":"); put(msOfDay / 1000 % 60, 2); put("."); put(msOfDay % 1000, 3); put("Z")
            return at
        }
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    private static func civilDate(daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
