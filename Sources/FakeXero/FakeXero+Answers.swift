import Foundation
import HTTPServer

/// Xero's answer shapes, as `Tests/Fixtures/xero-answers/` records them with their sources:
/// Accounting API bodies are indented JSON with CRLF line breaks; error bodies keep Xero's
/// own formats (problem JSON for 401/403, `ApiException`-style JSON for 400, a non-JSON page
/// for maintenance).
extension FakeXero {
    static let jsonContentType = (name: "Content-Type", value: "application/json; charset=utf-8")

    /// `{"Id":…,"Status":"OK","ProviderName":…,"DateTimeUTC":…,["pagination":…,]"Invoices":[…]}`,
    /// indented as Xero writes it. `records` are copied byte for byte (then re-indented).
    func envelope(collection: String, records: [[UInt8]], pagination itemCount: Int?,
                  headers: [(name: String, value: String)]) -> HTTPResponse {
        var body = Array(#"{"Id":"\#(UUID().uuidString.lowercased())","Status":"OK","ProviderName":"xero-webhookd","DateTimeUTC":"\#(FakeXeroWire.dotNetDate(now()))","#.utf8)
        if let itemCount {
            body += Array(#""pagination":{"page":1,"pageSize":100,"pageCount":1,"itemCount":\#(itemCount)},"#.utf8)
        }
        body += Array("\"\(collection)\":[".utf8)
        for (index, record) in records.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += record
        }
        body += Array("]}".utf8)
        return HTTPResponse(status: 200, headers: [Self.jsonContentType] + headers, body: XeroJSONFormat.indented(body))
    }
}
