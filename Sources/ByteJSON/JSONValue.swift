/// A parsed JSON value that remembers where it came from in the source bytes.
///
/// The webhook path needs the exact bytes of each event (they are stored as received), so
/// every value carries its byte range in the document it was parsed from.
package struct JSONValue: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        case object([(key: String, value: JSONValue)])
        case array([JSONValue])
        case string(String)
        /// The number's literal text, unconverted (RFC 8259 grammar already checked).
        case number(String)
        case bool(Bool)
        case null

        package static func == (lhs: Kind, rhs: Kind) -> Bool {
            switch (lhs, rhs) {
            case let (.object(a), .object(b)):
                a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
            case let (.array(a), .array(b)): a == b
            case let (.string(a), .string(b)): a == b
            case let (.number(a), .number(b)): a == b
            case let (.bool(a), .bool(b)): a == b
            case (.null, .null): true
            default: false
            }
        }
    }

    package var kind: Kind
    /// Where this value's text lies in the parsed document.
    package var range: Range<Int>

    /// The first member named `key`, if this is an object.
    package subscript(key: String) -> JSONValue? {
        guard case let .object(members) = kind else { return nil }
        return members.first { $0.key == key }?.value
    }

    package var stringValue: String? {
        if case let .string(s) = kind { return s }
        return nil
    }

    /// The value as a signed 64-bit integer, if it is an integral number literal in range.
    package var int64Value: Int64? {
        guard case let .number(text) = kind else { return nil }
        return Int64(text)
    }

    package var arrayValue: [JSONValue]? {
        if case let .array(items) = kind { return items }
        return nil
    }

    package var isObject: Bool {
        if case .object = kind { return true }
        return false
    }
}
