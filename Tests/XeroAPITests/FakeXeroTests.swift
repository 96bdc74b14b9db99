import ByteJSON
import FakeXero
import Foundation
import TestSupport
import Testing
import XeroTestSupport

/// The fake itself obeys Xero's rules; checked with raw HTTP so no client code is involved.
@Suite struct FakeXeroTests {
    func get(_ port: UInt16, _ target: String, token: String, tenant: String?, accept: String? = "application/json") throws -> RawHTTPClient.Response {
        let client = try RawHTTPClient(port: port)
        var head = "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
        if let tenant { head += "xero-tenant-id: \(tenant)\r\n" }
        if let accept { head += "Accept: \(accept)\r\n" }
        return try client.exchange(Array((head + "Connection: close\r\n\r\n").utf8))
    }

    func port(_ fake: FakeXero) -> UInt16 { UInt16(fake.baseURL.split(separator: ":").last!)! }

    @Test func answersXMLWithoutAcceptJSONAndJSONWithIt() throws {
        let fake = FakeXero()
        try fake.start()
        defer { fake.shutdown() }
        let tenant = newID(), id = newID()
        fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
        let token = fake.issueAccessToken(tenants: [tenant])
        let xml = try get(port(fake), "/api.xro/2.0/Invoices/\(id)", token: token, tenant: tenant, accept: nil)
        #expect(xml.status == 200)
        #expect(xml.header("content-type")?.hasPrefix("text/xml") == true)
        #expect(String(decoding: xml.body, as: UTF8.self).hasPrefix("<Response"))
        let json = try get(port(fake), "/api.xro/2.0/Invoices/\(id)", token: token, tenant: tenant)
        #expect(json.header("content-type")?.hasPrefix("application/json") == true)
        #expect(String(decoding: json.body, as: UTF8.self).hasPrefix("{\r\n  \"Id\": \""), "indented with CRLF, as Xero answers")
        #expect(String(decoding: json.body, as: UTF8.self).contains("\r\n  \"Status\": \"OK\",\r\n"))
        #expect(fake.stats.xmlAnswers == 1)
    }

    @Test func everyAPIAnswerCarriesTheRateLimitHeaders() throws {
        let fake = FakeXero()
        try fake.start()
        defer { fake.shutdown() }
        let tenant = newID()
        let token = fake.issueAccessToken(tenants: [tenant])
        let answer = try get(port(fake), "/api.xro/2.0/Invoices/\(newID())", token: token, tenant: tenant)
        #expect(answer.status == 404)
        #expect(answer.header("x-minlimit-remaining") == "59")
        #expect(answer.header("x-daylimit-remaining") == "4999")
        #expect(answer.header("x-appminlimit-remaining") == "9999")
    }

    @Test func batchWantsLiteralCommasAndShortURLs() throws {
        let fake = FakeXero()
        try fake.start()
        defer { fake.shutdown() }
        let tenant = newID(), a = newID(), b = newID()
        fake.addRecord(tenant: tenant, collection: "Contacts", id: a)
        let token = fake.issueAccessToken(tenants: [tenant])
        let ok = try get(port(fake), "/api.xro/2.0/Contacts?IDs=\(a),\(b)", token: token, tenant: tenant)
        #expect(ok.status == 200)
        let text = String(decoding: JSONText.compacted(ok.body), as: UTF8.self)
        #expect(text.contains(#""Contacts":[{"ContactID":"\#(a)""#) && !text.contains(b))
        let encoded = try get(port(fake), "/api.xro/2.0/Contacts?IDs=\(a)%2C\(b)", token: token, tenant: tenant)
        #expect(encoded.status == 400)
        let repeated = try get(port(fake), "/api.xro/2.0/Contacts?IDs=\(a)&IDs=\(b)", token: token, tenant: tenant)
        #expect(repeated.status == 400)
        let many = (0..<53).map { _ in newID() }.joined(separator: ",")
        let long = try get(port(fake), "/api.xro/2.0/Contacts?IDs=\(many)", token: token, tenant: tenant)
        #expect(long.status == 404)
        #expect(fake.stats.unparseableIDs == 2)
        #expect(fake.stats.urlTooLong == 1)
    }

    @Test func anIdThatIsNotAGUIDFailsTheWholeBatchWith400() throws {
        let fake = FakeXero()
        try fake.start()
        defer { fake.shutdown() }
        let tenant = newID(), a = newID()
        fake.addRecord(tenant: tenant, collection: "Invoices", id: a)
        let token = fake.issueAccessToken(tenants: [tenant])
        let answer = try get(port(fake), "/api.xro/2.0/Invoices?IDs=\(a),not-a-guid&page=1", token: token, tenant: tenant)
        #expect(answer.status == 400)
        let text = String(decoding: answer.body, as: UTF8.self)
        // Xero's plain-text answer (xero-answers/error-400-ids-not-uuid.http).
        #expect(text == "Supplied parameter 'Ids' cannot be parsed - must be of type UUID.")
        #expect(answer.header("content-type") == "text/html; charset=utf-8")
        #expect(fake.stats.malformedIDs == 1)
        #expect(try get(port(fake), "/api.xro/2.0/Invoices?IDs=\(a.uppercased())&page=1", token: token, tenant: tenant).status == 200)
    }

    @Test func archivedContactsAreListedOnlyWithIncludeArchived() throws {
        let fake = FakeXero()
        try fake.start()
        defer { fake.shutdown() }
        let tenant = newID(), archived = newID(), active = newID()
        fake.addContact(tenant: tenant, id: archived, status: "ARCHIVED")
        fake.addContact(tenant: tenant, id: active, status: "ACTIVE")
        let token = fake.issueAccessToken(tenants: [tenant])
        let plain = String(decoding: try get(port(fake), "/api.xro/2.0/Contacts?IDs=\(archived),\(active)&page=1",
                                             token: token, tenant: tenant).body, as: UTF8.self)
        #expect(plain.contains(active) && !plain.contains(archived))
        let all = String(decoding: JSONText.compacted(try get(port(fake), "/api.xro/2.0/Contacts?IDs=\(archived),\(active)&page=1&includeArchived=true",
                                                              token: token, tenant: tenant).body), as: UTF8.self)
        #expect(all.contains(active) && all.contains(archived) && all.contains(#""ContactStatus":"ARCHIVED""#))
        // A GET of the one contact finds it either way.
        #expect(try get(port(fake), "/api.xro/2.0/Contacts/\(archived)", token: token, tenant: tenant).status == 200)
    }

    @Test func unknownOrExpiredTokens401AndForeignTenants403() throws {
        let clock = ManualClock()
        let fake = FakeXero(now: clock.now)
        try fake.start()
        defer { fake.shutdown() }
        let tenant = newID()
        let token = fake.issueAccessToken(tenants: [tenant], lifetime: 60)
        #expect(try get(port(fake), "/api.xro/2.0/Invoices/\(newID())", token: "nope", tenant: tenant).status == 401)
        #expect(try get(port(fake), "/api.xro/2.0/Invoices/\(newID())", token: token, tenant: newID()).status == 403)
        fake.disconnect(tenant: tenant)
        #expect(try get(port(fake), "/api.xro/2.0/Invoices/\(newID())", token: token, tenant: tenant).status == 403)
        clock.advance(seconds: 61)
        let expired = try get(port(fake), "/api.xro/2.0/Invoices/\(newID())", token: token, tenant: tenant)
        #expect(expired.status == 401)
        // Xero's compact problem JSON, the expiry written month first (xero-answers/error-401-token-expired.http).
        let detail = try JSONParser.parse(expired.body)["Detail"]?.stringValue ?? ""
        #expect(detail.hasPrefix("TokenExpired: token expired at "), "\(detail)")
        #expect(detail.range(of: #"at \d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$"#, options: .regularExpression) != nil, "\(detail)")
    }

    @Test func minuteLimitAnswers429WithRetryAfterAndProblem() throws {
        var options = FakeXeroOptions()
        options.limits.perMinutePerTenant = 2
        let fake = FakeXero(options: options)
        try fake.start()
        defer { fake.shutdown() }
        let tenant = newID()
        let token = fake.issueAccessToken(tenants: [tenant])
        for _ in 0..<2 { #expect(try get(port(fake), "/api.xro/2.0/Invoices/\(newID())", token: token, tenant: tenant).status == 404) }
        let limited = try get(port(fake), "/api.xro/2.0/Invoices/\(newID())", token: token, tenant: tenant)
        #expect(limited.status == 429)
        #expect(limited.header("x-rate-limit-problem") == "minute")
        #expect(Int(limited.header("retry-after") ?? "") ?? 0 >= 1)
        #expect(limited.header("x-minlimit-remaining") == "0")
        fake.force429(tenant: tenant, problem: "day", retryAfter: 66_975)
        let other = newID()
        let otherToken = fake.issueAccessToken(tenants: [other])
        #expect(try get(port(fake), "/api.xro/2.0/Invoices/\(newID())", token: otherToken, tenant: other).status == 404)
        #expect(fake.stats.tooManyRequestsByProblem == ["minute": 1])
    }

    @Test func refreshTokensRotateAndWorkOnceExceptInTheGraceWindow() throws {
        let clock = ManualClock()
        let fake = FakeXero(now: clock.now)
        try fake.start()
        defer { fake.shutdown() }
        fake.registerClient(id: "c", secret: "s")
        let first = fake.issueRefreshToken(clientId: "c", tenants: [newID()])
        func refresh(_ token: String, basic: Bool = true) throws -> RawHTTPClient.Response {
            let client = try RawHTTPClient(port: port(fake))
            var body = "grant_type=refresh_token&refresh_token=\(token)"
            var headers: [(String, String)] = [("Content-Type", "application/x-www-form-urlencoded")]
            if basic {
                headers.append(("Authorization", "Basic " + Data("c:s".utf8).base64EncodedString()))
            } else {
                body += "&client_id=c&client_secret=s"
            }
            return try client.exchange(RawHTTPClient.post("/connect/token", body: Array(body.utf8), headers: headers, close: true))
        }
        let answer = try refresh(first)
        #expect(answer.status == 200)
        let text = String(decoding: answer.body, as: UTF8.self)
        #expect(text.contains(#""expires_in":1800"#) && text.contains(#""refresh_token":"rt-"#))
        // The old token still works inside the grace window (client auth in the body this time) …
        #expect(try refresh(first, basic: false).status == 200)
        #expect(fake.stats.graceReuses == 1)
        // … and not after it.
        clock.advance(seconds: 1801)
        let late = try refresh(first)
        #expect(late.status == 400)
        #expect(String(decoding: late.body, as: UTF8.self) == #"{"error":"invalid_grant"}"#)
        #expect(try refresh("rt-unknown").status == 400)
        #expect(fake.stats.tokenGrants["refresh_token"] == 2)
    }

    /// With a token delay, refreshes sent at once overlap and the fake counts them; sent one
    /// after the other, they never do.
    @Test func tokenRequestsInFlightAreCounted() throws {
        let fake = FakeXero()
        try fake.start()
        defer { fake.shutdown() }
        fake.registerClient(id: "c", secret: "s")
        fake.setTokenDelay(.seconds(1))
        func request(_ token: String) -> [UInt8] {
            RawHTTPClient.post("/connect/token", body: Array("grant_type=refresh_token&refresh_token=\(token)".utf8),
                               headers: [("Content-Type", "application/x-www-form-urlencoded"),
                                         ("Authorization", "Basic " + Data("c:s".utf8).base64EncodedString())], close: true)
        }
        let one = try RawHTTPClient(port: port(fake))
        #expect(try one.exchange(request(fake.issueRefreshToken(clientId: "c", tenants: [newID()]))).status == 200)
        #expect(try RawHTTPClient(port: port(fake)).exchange(request(fake.issueRefreshToken(clientId: "c", tenants: [newID()]))).status == 200)
        #expect(fake.stats.maxTokenRequestsInFlight == 1)
        // Both sent before either is answered (each answer waits a second).
        let first = try RawHTTPClient(port: port(fake))
        let second = try RawHTTPClient(port: port(fake))
        try first.send(request(fake.issueRefreshToken(clientId: "c", tenants: [newID()])))
        try second.send(request(fake.issueRefreshToken(clientId: "c", tenants: [newID()])))
        #expect(try first.readResponse().status == 200)
        #expect(try second.readResponse().status == 200)
        #expect(fake.stats.maxTokenRequestsInFlight == 2)
    }
}
