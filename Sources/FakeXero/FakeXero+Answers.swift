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

    /// A plain-text answer as Xero's front end sends it (`text/html`, not JSON, even when JSON
    /// was asked for): the "cannot be parsed" 400 and the "cannot be found" 404.
    static func plainText(_ status: Int, _ text: String, headers: [(name: String, value: String)] = [],
                          contentType: String = "text/html; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: [(name: "Content-Type", value: contentType)] + headers, body: Array(text.utf8))
    }

    /// Xero's 404 for a missing single resource, an unknown path or a URL that is too long.
    static func notFoundPage(headers: [(name: String, value: String)] = []) -> HTTPResponse {
        plainText(404, "The resource you're looking for cannot be found", headers: headers)
    }

    /// What Xero sends for a failure the test arranged with `fail(id:status:times:)`: its 500
    /// problem JSON, its plain-text 503, or problem JSON for other statuses.
    static func failureAnswer(_ status: Int, headers: [(name: String, value: String)]) -> HTTPResponse {
        switch status {
        case 500:
            jsonResponse(500, #"{"Title":"An error occurred","Detail":"An error occurred in Xero. Check the API Status page http://status.developer.xero.com for current service status.","Status":500,"Instance":"\#(UUID().uuidString.lowercased())"}"#,
                         headers: headers)
        case 503:
            plainText(503, "The Xero API is temporarily unavailable", contentType: "text/plain; charset=utf-8")
        default:
            problem(status, title: HTTPResponse.reasonPhrase(status), detail: "An error occurred in Xero", headers: headers)
        }
    }

    /// `12/03/2026 06:20:00`, as Xero writes the expiry in a `TokenExpired` detail.
    static func usDateTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "MM/dd/yyyy HH:mm:ss"
        return formatter.string(from: date)
    }
}
