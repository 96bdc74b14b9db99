import FakeXero
import Foundation
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport

@Suite struct StaticTokenTests {
    @Test func tokenFromTheEnvironmentWorksUntilItExpires() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let tenant = newID(), id = newID()
        harness.fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
        let token = harness.fake.issueAccessToken(tenants: [tenant])
        let provider = StaticTokenProvider(source: .value(accessToken: token, expiresIn: 1800, scope: "accounting.transactions.read",
                                                          origin: "environment PAN_SEC_XERO_ACCESS_TOKEN"), now: harness.clock.now)
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "INVOICE", id)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found") }
        harness.clock.advance(seconds: 1800)
        let outcome = try #require(await client.fetch([ref])[ref.key])
        guard case let .paused(reason) = outcome else { throw Failure("expected paused, got \(outcome)") }
        #expect(reason.contains("expired"))
        #expect(harness.fake.stats.totalCalls == 1)  // nothing sent with the expired token
        guard case .paused = await provider.status().state else { throw Failure("status must say paused") }
    }

    @Test func expiredFileTokenPausesThenANewFileWorks() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Contacts")
        let dir = harness.dir
        let path = dir.file("access-token.json")
        let old = harness.fake.issueAccessToken(tenants: [tenant], lifetime: -5400)
        try writeFile(path, #"{"access_token":"\#(old)","expires_in":1800,"scope":"accounting.contacts.read"}"#)
        // Written two hours ago: expired 90 minutes ago.
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: path)
        let provider = StaticTokenProvider(source: .file(path: path, origin: "file \(path)"))
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "CONTACT", id)
        let outcome = try #require(await client.fetch([ref])[ref.key])
        guard case let .paused(reason) = outcome else { throw Failure("expected paused, got \(outcome)") }
        #expect(reason.contains("expired") && reason.contains(path))
        #expect(harness.fake.stats.totalCalls == 0)

        let fresh = harness.fake.issueAccessToken(tenants: [tenant])
        try writeFile(path, #"{"access_token":"\#(fresh)","expires_in":1800}"#)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("the new file must be used") }
        #expect(await provider.status().state == .ready)
    }

    @Test func bareTokenRefusedByXeroPausesUntilReload() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Invoices")
        let dir = harness.dir
        let path = dir.file("token")
        try writeFile(path, "at-not-issued-by-xero\n")
        let provider = StaticTokenProvider(source: .file(path: path, origin: "file \(path)"))
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "INVOICE", id)
        let outcome = try #require(await client.fetch([ref])[ref.key])
        guard case let .paused(reason) = outcome else { throw Failure("expected paused, got \(outcome)") }
        #expect(reason.contains("401"))
        #expect(harness.fake.stats.unauthorized == 1)
        _ = await client.fetch([ref])
        #expect(harness.fake.stats.unauthorized == 1)  // not sent again

        // The same path rewritten and SIGHUP (reload) picks up the new token.
        let good = harness.fake.issueAccessToken(tenants: [tenant])
        try writeFile(path, good)
        await client.reloadCredentials()
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("reload must pick up the file") }
    }

    /// `PAN_SEC_XERO_EXPIRES_IN` counts from the token's issue, not from when the daemon read
    /// it: a token issued 25 minutes before the daemon started has 5 minutes left, whatever
    /// EXPIRES_IN says. The JWT's own `exp` claim tells the truth.
    @Test func theTokensOwnExpClaimWinsOverExpiresIn() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Invoices")
        let token = harness.fake.issueAccessToken(tenants: [tenant], lifetime: 300)
        #expect(token.split(separator: ".").count == 3)
        let expiry = try #require(AccessTokenClaims.expiry(of: token))
        #expect(abs(expiry.timeIntervalSince(harness.clock.now()) - 300) < 2)
        let provider = StaticTokenProvider(source: .value(accessToken: token, expiresIn: 1800, scope: nil,
                                                          origin: "environment PAN_SEC_XERO_ACCESS_TOKEN"), now: harness.clock.now)
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "INVOICE", id)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found") }
        harness.clock.advance(seconds: 600)  // past exp, well within "1800 s from reading"
        let outcome = try #require(await client.fetch([ref])[ref.key])
        guard case let .paused(reason) = outcome else { throw Failure("expected paused, got \(outcome)") }
        #expect(reason.contains("expired"))
        #expect(harness.fake.stats.unauthorized == 0)  // the dead token was never sent
        #expect(harness.fake.stats.totalCalls == 1)
        #expect(AccessTokenClaims.expiry(of: "at-not-a-jwt") == nil)
    }

    /// Xero refuses the token from the environment; a newer one is waiting in the configured
    /// file. The provider re-reads its sources on the 401 and goes on, instead of pausing.
    @Test func a401RereadsTheTokenSourcesBeforePausing() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, id) = harness.seededTenant("Invoices")
        let (provider, path) = try harness.environmentAndFileTokens(tenant: tenant, fileRefused: false)
        let client = try harness.makeClient(provider)
        let ref = harness.ref(tenant, "INVOICE", id)
        let outcome = try #require(await client.fetch([ref])[ref.key])
        guard case .found = outcome else { throw Failure("expected found after re-reading the sources, got \(outcome)") }
        #expect(harness.fake.stats.unauthorized == 1)
        #expect(await provider.status().source == "file \(path)")
        // Both refused: paused, naming each source.
        harness.fake.revokeAccessTokens()
        let paused = try #require(await client.fetch([ref])[ref.key])
        guard case let .paused(reason) = paused else { throw Failure("expected paused, got \(paused)") }
        #expect(reason.contains("PAN_SEC_XERO_ACCESS_TOKEN") && reason.contains(path) && reason.contains("401"))
    }
}
