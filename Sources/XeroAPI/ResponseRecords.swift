import ByteJSON
import Foundation
import ResourceFetch

/// Takes records out of Xero answers without re-serialising them: each record is the exact
/// byte range of its JSON value in the answer.
enum ResponseRecords {
    /// `{"Id":…,"Status":"OK","Invoices":[…]}` → the elements of `collection` by their `idKey`
    /// (lower-cased). Nil when the body is not such an object.
    static func batch(_ body: [UInt8], collection: String, idKey: String) -> [String: [UInt8]]? {
        guard let root = try? JSONParser.parse(body),  // not JSON: the caller reports an unexpected answer
              let items = member(root, collection)?.arrayValue else { return nil }
        var records: [String: [UInt8]] = [:]
        for item in items {
            guard let id = member(item, idKey)?.stringValue else { continue }
            records[id.lowercased()] = Array(body[item.range])
        }
        return records
    }

    /// The answer to a GET of one resource. Accounting answers wrap the record in an array
    /// named after the collection (`{"CreditNotes":[…]}`): the element whose id member
    /// (`resource.idKey`, or any top-level `…ID` member for a category without a known key)
    /// equals `resourceId` is the record. An empty array means not found; elements that all
    /// carry another id are not this resource, whatever their number, so the outcome is
    /// `.refused`. App Store answers are the bare record, refused when their `id` differs or is
    /// missing.
    /// Nil when the body is not JSON.
    static func single(_ body: [UInt8], resource: ResourceKind, resourceId: String) -> FetchOutcome? {
        guard let root = try? JSONParser.parse(body) else { return nil }  // reported by the caller
        let wanted = resourceId.lowercased()
        func mismatch(_ other: String?) -> FetchOutcome {
            let shown = other.flatMap { XeroIdentifier.isSafe($0) ? " (\($0))" : nil } ?? ""
            let what = other == nil ? "a record without an id" : "a record with another id\(shown)"
            return .refused("Xero answered the GET of \(resourceId) with \(what); "
                + "it is not the event's resource and is not delivered")
        }
        if resource.api == .appStore {
            // An answer without an id is not shown to be this subscription: refused like another id.
            guard let id = member(root, resource.idKey ?? "id")?.stringValue else { return mismatch(nil) }
            guard id.lowercased() == wanted else { return mismatch(id) }
            return .found(body)
        }
        guard let items = member(root, resource.collection)?.arrayValue else {
            return .retryable("Xero's answer has no \(resource.collection) array", retryAfter: nil)
        }
        if items.isEmpty { return .notFound }
        func ids(_ item: JSONValue) -> [String] {
            if let idKey = resource.idKey { return member(item, idKey)?.stringValue.map { [$0] } ?? [] }
            guard case let .object(members) = item.kind else { return [] }
            return members.filter { $0.key.hasSuffix("ID") }.compactMap { $0.value.stringValue }
        }
        guard let record = items.first(where: { ids($0).contains { $0.lowercased() == wanted } }) else {
            return mismatch(items.first.flatMap { ids($0).first })
        }
        return .found(Array(body[record.range]))
    }

    /// Case-insensitive member lookup (Xero's casing is stable, but a proxy or a newer API
    /// version should not turn every record into "not found").
    static func member(_ value: JSONValue, _ name: String) -> JSONValue? {
        if let exact = value[name] { return exact }
        guard case let .object(members) = value.kind else { return nil }
        let wanted = name.lowercased()
        return members.first { $0.key.lowercased() == wanted }?.value
    }

    /// A short description of an error answer: Xero's `Detail`, `Title` or `Message`, capped.
    /// Xero's plain-text answers ("Supplied parameter 'Ids' cannot be parsed.", "The Xero API is
    /// currently offline for maintenance") are their own detail; an HTML page is not.
    static func errorDetail(_ body: [UInt8]) -> String? {
        guard let root = try? JSONParser.parse(body) else {  // not JSON: Xero's plain text, if it is that
            guard let text = String(validating: body.prefix(400), as: UTF8.self)?
                .split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces),
                !text.isEmpty, !text.hasPrefix("<") else { return nil }
            return String(text.prefix(200))
        }
        for key in ["Detail", "Message", "Title", "detail", "message", "title"] {
            if let text = root[key]?.stringValue, !text.isEmpty { return String(text.prefix(200)) }
        }
        return nil
    }
}
