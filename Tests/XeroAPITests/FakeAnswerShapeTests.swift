import ByteJSON
import FakeXero
import Foundation
import TestSupport
import Testing
import XeroTestSupport

/// The fake answers as Xero does: for each captured answer in `Tests/Fixtures/xero-answers/`
/// that the fake produces itself, the fake's answer to the same situation has the same status,
/// content type, rate-limit headers and body format (indented CRLF JSON with the same members
/// in the same order, compact JSON, the same plain text, or nothing).
@Suite struct FakeAnswerShapeTests {
    /// What a body looks like, without its values.
    enum BodyShape: Equatable, CustomStringConvertible {
        case empty
        case text(String)
        /// JSON: indented with CRLF or compact, and the top-level member names (or `[n]` for arrays of objects' names).
        case json(indented: Bool, members: [String])

        init(_ body: [UInt8]) {
            guard !body.isEmpty else { self = .empty; return }
            guard let value = try? JSONParser.parse(body) else {
                self = .text(String(decoding: body, as: UTF8.self))
                return
            }
            let indented = body.starts(with: Array("{\r\n  \"".utf8)) || body.starts(with: Array("[\r\n  ".utf8))
            let top = value.arrayValue?.first ?? value
            let members: [String] = if case let .object(list) = top.kind { list.map(\.key) } else { [] }
            self = .json(indented: indented, members: members)
        }

        var description: String {
            switch self {
            case .empty: "empty"
            case let .text(text): "text \(text.debugDescription)"
            case let .json(indented, members): "\(indented ? "indented" : "compact") JSON \(members)"
            }
        }
    }

    static let rateHeaders = ["x-daylimit-remaining", "x-minlimit-remaining", "x-appminlimit-remaining", "retry-after", "x-rate-limit-problem"]

    /// Compares the fake's `answer` with fixture `name`.
    func expectShape(_ answer: RawHTTPClient.Response, like name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fixture = try CannedAnswer(rawHTTP: XeroAnswers.raw(name))
        #expect(answer.status == fixture.status, "\(name): status", sourceLocation: sourceLocation)
        #expect(answer.header("content-type")?.lowercased() == fixture.header("content-type")?.lowercased(),
                "\(name): content type", sourceLocation: sourceLocation)
        for header in Self.rateHeaders {
            #expect((answer.header(header) != nil) == (fixture.header(header) != nil), "\(name): \(header)", sourceLocation: sourceLocation)
        }
        #expect(BodyShape(answer.body) == BodyShape(fixture.body), "\(name): body", sourceLocation: sourceLocation)
    }

    func get(_ fake: FakeXero, _ target: String, token: String, tenant: String?) throws -> RawHTTPClient.Response {
        let client = try RawHTTPClient(port: UInt16(fake.baseURL.split(separator: ":").last!)!)
        var head = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nAccept: application/json\r\n"
        if let tenant { head += "xero-tenant-id: \(tenant)\r\n" }
        return try client.exchange(Array((head + "Connection: close\r\n\r\n").utf8))
    }

    @Test func accountingAnswersHaveXerosShapes() throws {
        let clock = ManualClock()
        var options = FakeXeroOptions()
        options.limits.perMinutePerTenant = 8
        let fake = FakeXero(options: options, now: clock.now)
        try fake.start()
        defer { fake.shutdown() }
        let tenant = newID(), a = newID(), b = newID(), failing = newID(), unavailable = newID()
        fake.addTenant(tenant, name: "Shapes Ltd")
        for id in [a, b, failing, unavailable] { fake.addRecord(tenant: tenant, collection: "Invoices", id: id) }
        fake.fail(id: failing, status: 500, times: 1)
        fake.fail(id: unavailable, status: 503, times: 1)
        let token = fake.issueAccessToken(tenants: [tenant], lifetime: 60)

        try expectShape(try get(fake, "/api.xro/2.0/Invoices?IDs=\(a),\(b)&page=1", token: token, tenant: tenant), like: "invoices-batch-200")
        try expectShape(try get(fake, "/api.xro/2.0/Invoices/\(newID())", token: token, tenant: tenant), like: "error-404-not-found-text")
        try expectShape(try get(fake, "/api.xro/2.0/Invoices?IDs=\(a)%2C\(b)", token: token, tenant: tenant), like: "error-400-ids-unparseable")
        try expectShape(try get(fake, "/api.xro/2.0/Invoices?IDs=\(a),not-a-guid&page=1", token: token, tenant: tenant), like: "error-400-ids-not-uuid")
        try expectShape(try get(fake, "/api.xro/2.0/Invoices/\(failing)", token: token, tenant: tenant), like: "error-500")
        try expectShape(try get(fake, "/api.xro/2.0/Invoices/\(unavailable)", token: token, tenant: tenant), like: "error-503-unavailable")
        let many = (0..<53).map { _ in newID() }.joined(separator: ",")
        try expectShape(try get(fake, "/api.xro/2.0/Invoices?IDs=\(many)", token: token, tenant: tenant), like: "error-404-url-too-long")
        try expectShape(try get(fake, "/connections", token: token, tenant: nil), like: "connections-200")
        try expectShape(try get(fake, "/api.xro/2.0/Invoices/\(a)", token: "not-a-token", tenant: tenant), like: "error-401-unauthorized")
        try expectShape(try get(fake, "/api.xro/2.0/Invoices/\(a)", token: token, tenant: newID()), like: "error-403-forbidden")
        // Use up the minute: the next call is Xero's minute 429.
        while fake.stats.tooManyRequests == 0 {
            let answer = try get(fake, "/api.xro/2.0/Invoices/\(a)", token: token, tenant: tenant)
            if answer.status == 429 { try expectShape(answer, like: "error-429-minute") }
        }
        clock.advance(seconds: 61)
        try expectShape(try get(fake, "/api.xro/2.0/Invoices/\(a)", token: token, tenant: tenant), like: "error-401-token-expired")
    }

    @Test func dayLimitAnswerHasXerosShape() throws {
        var options = FakeXeroOptions()
        options.limits.perDayPerTenant = 1
        let fake = FakeXero(options: options)
        try fake.start()
        defer { fake.shutdown() }
        let tenant = newID()
        let token = fake.issueAccessToken(tenants: [tenant])
        #expect(try get(fake, "/api.xro/2.0/Invoices/\(newID())", token: token, tenant: tenant).status == 404)
        try expectShape(try get(fake, "/api.xro/2.0/Invoices/\(newID())", token: token, tenant: tenant), like: "error-429-day")
    }

    @Test func invalidGrantHasXerosShape() throws {
        let harness = try Harness()
        defer { harness.stop() }
        let client = try RawHTTPClient(port: UInt16(harness.fake.baseURL.split(separator: ":").last!)!)
        let body = Array("grant_type=refresh_token&refresh_token=unknown&client_id=\(Harness.clientId)&client_secret=\(Harness.clientSecret)".utf8)
        var request = "POST /connect/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        request += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let answer = try client.exchange(Array(request.utf8) + body)
        try expectShape(answer, like: "token-400-invalid-grant")
        #expect(answer.body == Array(#"{"error":"invalid_grant"}"#.utf8))
    }
}
