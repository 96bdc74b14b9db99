import ByteJSON
import FakeXero
import Foundation
import TestSupport
import Testing

/// Where the fake accepts what Xero refuses, per `Tests/Fixtures/xero-answers/`.
@Suite struct FakeLeniencyTests {
    /// `error-400-ids-not-uuid.http`: Xero answers 400 (text) to a batch whose `IDs` holds a
    /// value that is not a GUID. The fake looks the ids up and answers 200 with the others, so
    /// no test sees what the daemon does when one odd `resourceId` (letters, digits and `-`
    /// pass `XeroIdentifier.isSafe`) shares a batch with good ones: with Xero, a 400 is
    /// `.permanent` for every resource of the batch.
    @Test func batchWithANonUUIDIdIsRefusedAsXeroDoes() throws {
        let fake = FakeXero()
        try fake.start()
        defer { fake.shutdown() }
        let tenant = UUID().uuidString.lowercased(), good = UUID().uuidString.lowercased()
        fake.addTenant(tenant, name: "Leniency Ltd")
        fake.addRecord(tenant: tenant, collection: "Invoices", id: good)
        let token = fake.issueAccessToken(tenants: [tenant], lifetime: 60)
        let client = try RawHTTPClient(port: UInt16(fake.baseURL.split(separator: ":").last!)!)
        let head = "GET /api.xro/2.0/Invoices?IDs=\(good),not-a-uuid HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
            + "Accept: application/json\r\nxero-tenant-id: \(tenant)\r\nConnection: close\r\n\r\n"
        let answer = try client.exchange(Array(head.utf8))
        let fixture = try CannedAnswer(rawHTTP: XeroAnswers.raw("error-400-ids-not-uuid"))
        #expect(answer.status == fixture.status)
        #expect(answer.body == fixture.body)
    }
}
