import Foundation

/// `../shared/testdata/signature-vectors.json`: Xero signature vectors, one captured from a
/// real Xero request. A copy is kept in `Tests/Fixtures` for checkouts without `shared/`.
package struct SignatureVector: Sendable, CustomStringConvertible {
    package let name: String
    package let key: String
    package let body: [UInt8]
    package let signature: String
    package let expect: Int
    package var description: String { name }

    package static func all() -> [SignatureVector] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [
            root.deletingLastPathComponent().appendingPathComponent("shared/testdata/signature-vectors.json"),
            root.appendingPathComponent("Tests/Fixtures/signature-vectors.json"),
        ]
        guard let data = candidates.lazy.compactMap({ FileManager.default.contents(atPath: $0.path) }).first,
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let vectors = json["vectors"] as? [[String: Any]] else {
            return []
        }
        return vectors.compactMap { v in
            guard let name = v["name"] as? String, let key = v["key"] as? String, let body = v["body"] as? String,
                  let signature = v["signature"] as? String, let expect = v["expect"] as? Int else { return nil }
            return SignatureVector(name: name, key: key, body: Array(body.utf8), signature: signature, expect: expect)
        }
    }
}
