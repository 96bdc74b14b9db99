import DaemonConfig
import FakeXero
import Foundation
import PostgresSupport
import PostgresTestSupport
import ResourceFetch
import TestSupport
import Testing
import XeroAPI
import XeroTestSupport

/// Cluster mode's token set: several daemons (here three providers, each with a store and a
/// connection pool of its own, as three processes would have) against the fake Xero, whose token
/// answers take long enough that refreshes sent at once would overlap.
@Suite(.enabled(if: TestPostgres.runs, "needs a PostgreSQL server; the reason none could be started is printed above"))
struct SharedTokenStoreTests {
    private struct Cluster {
        let harness: Harness
        let stores: [PostgresTokenStore]
        let providers: [SharedRefreshTokenProvider]
        let tenant: String
        let invoice: String

        init(nodes: Int = 3, tokenDelay: Duration = .milliseconds(300)) async throws {
            harness = try Harness()
            harness.fake.setTokenDelay(tokenDelay)
            (tenant, invoice) = harness.seededTenant("Invoices")
            let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
            let table = TestPostgres.uniqueTable("tokens")
            stores = (0..<nodes).map { _ in PostgresTokenStore(endpoint: endpoint, table: table) }
            // What `authorize` leaves on the first node: a refresh token, no access token yet.
            let refresh = harness.fake.issueRefreshToken(clientId: Harness.clientId, tenants: [tenant])
            let file = TokenFile(stateDirectory: harness.dir.path)
            try file.save(StoredTokenSet(refreshToken: refresh, accessToken: nil, expiresAt: nil, scopes: [], updatedAt: harness.clock.now()))
            let harness = self.harness
            providers = stores.enumerated().map { index, store in
                SharedRefreshTokenProvider(client: harness.client, store: store, seed: index == 0 ? file : nil, identity: harness.identity,
                                           now: harness.clock.now)
            }
        }

        func close() async {
            for store in stores { await store.close() }
            harness.stop()
        }

        /// Every provider asked `times` times at once.
        func askAll(_ times: Int, _ ask: @escaping @Sendable (SharedRefreshTokenProvider) async -> TokenAvailability) async -> [TokenAvailability] {
            await withTaskGroup(of: TokenAvailability.self) { group in
                for provider in providers {
                    for _ in 0..<times { group.addTask { await ask(provider) } }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
    }

    private func tokens(_ answers: [TokenAvailability]) -> Set<String> {
        Set(answers.compactMap { if case let .ready(token) = $0 { token.accessToken } else { nil } })
    }

    @Test func threeDaemonsNeedingATokenAtOnceShareOneRefresh() async throws {
        let cluster = try await Cluster()
        // The first node offers the file's set to the store; then all ask at once.
        _ = await cluster.providers[0].status()
        let answers = await cluster.askAll(4) { await $0.token() }
        let stats = cluster.harness.fake.stats
        #expect(stats.tokenGrants["refresh_token"] == 1, "\(stats.tokenGrants)")
        #expect(stats.maxTokenRequestsInFlight == 1)
        #expect(stats.invalidGrants == 0)
        #expect(tokens(answers).count == 1 && answers.count == 12, "\(answers)")
        // The token the other nodes took works at Xero.
        let client = try cluster.harness.makeClient(cluster.providers[2])
        let ref = cluster.harness.ref(cluster.tenant, "INVOICE", cluster.invoice)
        guard case .found = try #require(await client.fetch([ref])[ref.key]) else { throw Failure("not found") }

        // Xero refuses that access token (revoked): every node reports it at once; one refresh.
        let rejected = try #require(tokens(answers).first)
        cluster.harness.fake.revokeAccessTokens()
        let again = await cluster.askAll(3) { await $0.tokenRejected(XeroToken(accessToken: rejected, expiresAt: nil)) }
        let after = cluster.harness.fake.stats
        #expect(after.tokenGrants["refresh_token"] == 2, "\(after.tokenGrants)")
        #expect(after.maxTokenRequestsInFlight == 1)
        #expect(after.invalidGrants == 0 && after.graceReuses == 0)
        #expect(tokens(again).count == 1 && !tokens(again).contains(rejected))
        for provider in cluster.providers { #expect(await provider.status().state == .ready) }
        await cluster.close()
    }

    /// A refresh token Xero refuses is sent once: the refusal is stored beside it, so every node
    /// pauses without sending it again; a new authorisation on one node resumes them all.
    @Test func aRefusedRefreshTokenIsSentOnceAndANewAuthorisationResumesAll() async throws {
        let cluster = try await Cluster(tokenDelay: .zero)
        _ = await cluster.providers[0].status()
        let bogus = StoredTokenSet(refreshToken: "rt-revoked", accessToken: nil, expiresAt: nil, scopes: [],
                                   updatedAt: cluster.harness.clock.now().addingTimeInterval(1))
        #expect(try await cluster.stores[1].offer(bogus))
        let answers = await cluster.askAll(2) { await $0.token() }
        #expect(answers.allSatisfy { if case .paused = $0 { true } else { false } }, "\(answers)")
        #expect(cluster.harness.fake.stats.invalidGrants == 1)
        let fresh = cluster.harness.fake.issueRefreshToken(clientId: Harness.clientId, tenants: [cluster.tenant])
        // Stamped after the refusal (which the database stamps with its own clock) and after
        // the refused set's own stamp.
        #expect(try await cluster.stores[0].offer(StoredTokenSet(refreshToken: fresh, accessToken: nil, expiresAt: nil, scopes: [],
                                                               updatedAt: Date().addingTimeInterval(5))))
        // An older set is not taken over a newer one.
        #expect(try await !cluster.stores[0].offer(bogus))
        for provider in cluster.providers { await provider.reload() }
        let resumed = await cluster.askAll(1) { await $0.token() }
        #expect(tokens(resumed).count == 1, "\(resumed)")
        #expect(cluster.harness.fake.stats.tokenGrants["refresh_token"] == 1)
        await cluster.close()
    }

    /// A daemon with a wrong client secret (a rotation rolled out node by node) pauses alone:
    /// Xero's invalid_client says nothing about the shared refresh token.
    @Test func aWrongClientSecretOnOneDaemonPausesOnlyThatDaemon() async throws {
        let cluster = try await Cluster(tokenDelay: .zero)
        _ = await cluster.providers[0].status()  // the first node offers the file's set
        let harness = cluster.harness
        let wrong = SharedRefreshTokenProvider(client: ClientCredentials(id: Harness.clientId, secret: "rotated-away"),
                                               store: cluster.stores[1], seed: nil, identity: harness.identity, now: harness.clock.now)
        guard case let .paused(reason) = await wrong.token() else { throw Failure("the wrong secret was not refused") }
        #expect(reason.contains("client id and secret"), "\(reason)")
        guard case .ready = await cluster.providers[2].token() else { throw Failure("the other daemons were paused too") }
        #expect(harness.fake.stats.tokenGrants["refresh_token"] == 1)
        #expect(try await cluster.stores[0].load().refusal == nil)
        await cluster.close()
    }

    /// Times compared across daemons come from the database: a daemon whose clock runs a day
    /// ahead renews, Xero later refuses the token, and a new authorisation made afterwards on a
    /// daemon with a right clock is still taken.
    @Test func aNewAuthorisationIsTakenAfterARefusalDespiteAFastClockElsewhere() async throws {
        let cluster = try await Cluster(tokenDelay: .zero)
        let harness = cluster.harness
        _ = await cluster.providers[0].status()
        let fast = SharedRefreshTokenProvider(client: harness.client, store: cluster.stores[1], seed: nil, identity: harness.identity,
                                              now: { harness.clock.now().addingTimeInterval(86_400) })
        guard case .ready = await fast.token() else { throw Failure("no token") }
        harness.fake.revokeRefreshTokens()
        harness.fake.revokeAccessTokens()
        let stored = try #require(try await cluster.stores[0].load().set?.accessToken)
        guard case .paused = await cluster.providers[2].tokenRejected(XeroToken(accessToken: stored, expiresAt: nil)) else {
            throw Failure("the revoked refresh token was not refused")
        }
        #expect(try await cluster.stores[0].load().refusal != nil)
        let fresh = harness.fake.issueRefreshToken(clientId: Harness.clientId, tenants: [cluster.tenant])
        #expect(try await cluster.stores[0].offer(StoredTokenSet(refreshToken: fresh, accessToken: nil, expiresAt: nil, scopes: [],
                                                               updatedAt: Date())))
        await cluster.providers[2].reload()
        guard case .ready = await cluster.providers[2].token() else { throw Failure("the new authorisation was not taken") }
        await cluster.close()
    }
}
