import ByteJSON

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

    /// The answer to a GET of one resource at `url`. Accounting answers wrap the record in an
    /// array named after the collection (`{"CreditNotes":[…]}`, the path segment before the
    /// id); the element whose `…ID` member equals `resourceId` is taken, else the only element.
    /// An empty array means not found. Answers without such an array (the App Store's bare
    /// subscription object) are the record themselves. Nil when the body is not JSON.
    static func single(_ body: [UInt8], url: String, resourceId: String, unwrap: Bool) -> FetchOutcome? {
        guard let root = try? JSONParser.parse(body) else { return nil }  // reported by the caller
        guard unwrap, let collection = collectionName(url), let items = member(root, collection)?.arrayValue else {
            return .found(body)
        }
        if items.isEmpty { return .notFound }
        let wanted = resourceId.lowercased()
        let match = items.first { item in
            guard case let .object(members) = item.kind else { return false }
            return members.contains { $0.key.hasSuffix("ID") && $0.value.stringValue?.lowercased() == wanted }
        }
        guard let record = match ?? (items.count == 1 ? items[0] : nil) else { return .notFound }
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

    /// `CreditNotes` for `https://api.xero.com/api.xro/2.0/CreditNotes/{id}`.
    static func collectionName(_ url: String) -> String? {
        var path = Substring(url)
        if let query = path.firstIndex(of: "?") { path = path[..<query] }
        let segments = path.split(separator: "/")
        guard segments.count >= 2 else { return nil }
        return String(segments[segments.count - 2])
    }

    /// A short description of an error answer: Xero's `Detail`, `Title` or `Message`, capped.
    static func errorDetail(_ body: [UInt8]) -> String? {
        guard let root = try? JSONParser.parse(body) else { return nil }  // not JSON: no detail
        for key in ["Detail", "Message", "Title", "detail", "message", "title"] {
            if let text = root[key]?.stringValue, !text.isEmpty { return String(text.prefix(200)) }
        }
        return nil
    }
}
