// Byte-range invariants of ByteJSON, checked on every document the fuzzer gets parsed.

import ByteJSON

/// Every value's range lies inside its parent's, after its earlier siblings, starts and ends on
/// a non-whitespace byte, and parsed on its own gives the same value (ranges moved to 0).
/// Strings also survive `JSONText.quoted`, the way the project writes JSON strings.
func checkRangesReparse(_ value: JSONValue, in body: [UInt8]) {
    let range = value.range
    check(!range.isEmpty, "empty range for \(value.kind)")
    check(!isJSONWhitespace(body[range.lowerBound]) && !isJSONWhitespace(body[range.upperBound - 1]),
          "range \(range) includes whitespace")
    let slice = Array(body[range])
    do {
        let alone = try JSONParser.parse(slice)
        check(alone == rebased(value, by: -range.lowerBound), "bytes \(range) reparse as something else")
    } catch {
        check(false, "bytes \(range) of a parsed value do not reparse: \(error)")
    }

    var previousEnd = range.lowerBound
    func checkChild(_ child: JSONValue) {
        check(child.range.lowerBound > previousEnd && child.range.upperBound < range.upperBound,
              "child \(child.range) outside \(range) or overlapping a sibling ending at \(previousEnd)")
        previousEnd = child.range.upperBound
        checkRangesReparse(child, in: body)
    }
    switch value.kind {
    case .object(let members):
        check(body[range.lowerBound] == UInt8(ascii: "{") && body[range.upperBound - 1] == UInt8(ascii: "}"),
              "object range \(range) is not braced")
        members.forEach { checkChild($0.value) }
    case .array(let items):
        check(body[range.lowerBound] == UInt8(ascii: "[") && body[range.upperBound - 1] == UInt8(ascii: "]"),
              "array range \(range) is not bracketed")
        items.forEach(checkChild)
    case .string(let string):
        do {
            let quoted = try JSONParser.parse(JSONText.quoted(string))
            check(quoted.stringValue == string, "JSONText.quoted(\(string)) reparses as \(quoted.kind)")
        } catch {
            check(false, "JSONText.quoted(\(string.debugDescription)) does not parse: \(error)")
        }
    case .number(let text):
        check(Array(text.utf8) == slice, "number text \(text) differs from its bytes")
    case .bool, .null:
        break
    }
}

/// `value` with every range moved by `offset`.
func rebased(_ value: JSONValue, by offset: Int) -> JSONValue {
    var moved = value
    moved.range = (value.range.lowerBound + offset)..<(value.range.upperBound + offset)
    switch value.kind {
    case .object(let members):
        moved.kind = .object(members.map { (key: $0.key, value: rebased($0.value, by: offset)) })
    case .array(let items):
        moved.kind = .array(items.map { rebased($0, by: offset) })
    default:
        break
    }
    return moved
}

func isJSONWhitespace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
}
