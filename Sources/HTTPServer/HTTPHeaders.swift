/// The header fields of a request, in the order received.
///
/// Names and values are kept exactly as received, except that the optional whitespace around a
/// value is removed. Lookup by name ignores ASCII case (RFC 9110 §5.1). A name that appears on
/// several lines keeps every line, in order; nothing is merged.
package struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    /// One field line.
    package typealias Element = (name: String, value: String)

    struct Field: Sendable, Equatable {
        var name: String
        var value: String
    }

    private(set) var fields: [Field]

    /// No fields.
    package init() {
        fields = []
    }

    /// The given fields, in order.
    package init(_ fields: [(name: String, value: String)]) {
        self.fields = fields.map { Field(name: $0.name, value: $0.value) }
    }

    /// The given fields, in literal order.
    package init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { Field(name: $0.0, value: $0.1) }
    }

    /// Number of field lines.
    package var count: Int { fields.count }

    /// The value of the first field named `name` (any case), or nil when there is none.
    package subscript(_ name: String) -> String? {
        for field in fields where HTTPSyntax.equalsIgnoringCase(field.name, name) {
            return field.value
        }
        return nil
    }

    /// The values of every field named `name` (any case), in the order received.
    package func values(_ name: String) -> [String] {
        fields.lazy.filter { HTTPSyntax.equalsIgnoringCase($0.name, name) }.map(\.value)
    }

    /// How many fields are named `name` (any case), and the value when there is exactly one.
    package enum Occurrence: Equatable, Sendable {
        case absent
        case one(String)
        case several
    }

    /// Whether `name` occurs once (with its value), not at all, or more than once, in one pass
    /// without building a list (the webhook path asks this of every request).
    package func occurrence(_ name: String) -> Occurrence {
        var found: String?
        for field in fields where HTTPSyntax.equalsIgnoringCase(field.name, name) {
            guard found == nil else { return .several }
            found = field.value
        }
        return found.map(Occurrence.one) ?? .absent
    }

    /// Whether a field named `name` (any case) is present.
    package func contains(_ name: String) -> Bool {
        fields.contains { HTTPSyntax.equalsIgnoringCase($0.name, name) }
    }

    /// Adds a field after the existing ones.
    package mutating func append(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    mutating func reserveCapacity(_ count: Int) {
        fields.reserveCapacity(count)
    }

    package func makeIterator() -> Iterator {
        Iterator(base: fields.makeIterator())
    }

    /// Iterates the fields in the order received.
    package struct Iterator: IteratorProtocol {
        var base: IndexingIterator<[Field]>

        package mutating func next() -> Element? {
            base.next().map { (name: $0.name, value: $0.value) }
        }
    }
}
