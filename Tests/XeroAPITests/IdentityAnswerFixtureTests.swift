import ByteJSON
import FakeXero
import Foundation
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport

/// Xero's captured identity answers (`Tests/Fixtures/xero-answers/`) read by the client as Xero
/// sends them.
@Suite struct IdentityAnswerFixtureTests {
    @Test func tokenAnswerGivesTheTokenItsLifetimeTheRefreshTokenAndTheScopes() throws {
        let fixture = try CannedAnswer(rawHTTP: XeroAnswers.raw("token-200"))
        let root = try JSONParser.parse(fixture.body)
        let parsed = try #require(TokenResponse.parse(fixture.body))
        #expect(parsed.accessToken == root["access_token"]?.stringValue)
        #expect(parsed.refreshToken == root["refresh_token"]?.stringValue)
        #expect(parsed.expiresIn == 1800)
        #expect(parsed.scopes.contains("offline_access"))
    }

    @Test func connectionsAnswerListsItsTenants() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let fixture = try CannedAnswer(rawHTTP: XeroAnswers.raw("connections-200"))
        let expected = try #require(try JSONParser.parse(fixture.body).arrayValue).compactMap { $0["tenantId"]?.stringValue }
        #expect(!expected.isEmpty)
        harness.fake.serve(fixture, tenant: "connections")
        let token = harness.fake.issueAccessToken(tenants: [newID()])
        let client = try harness.makeClient(StaticTokenProvider(source: .value(accessToken: token, expiresIn: nil, scope: nil, origin: "test")))
        let connections = try await client.connections().get()
        #expect(connections.map(\.tenantId) == expected)
        #expect(connections.first?.tenantName.isEmpty == false)
    }
}
