import DaemonConfig
import FakeXero
import Foundation
import PostgresNIO
import PostgresSupport
import PostgresTestSupport
import ResourceFetch
import Testing
import XeroAPI
import XeroTestSupport

/// A final test of the shared rate budget: slow calls from three daemons.
@Suite(.enabled(if: TestPostgres.runs, "needs a PostgreSQL server"))
struct SlowCallBudgetTests {
    /// Xero takes 1.5 s per call; three daemons ask for 75 calls of one tenant at once. Calls in
    /// progress and the minute window must both hold: Xero sees at most 5 at once and 60 in any
    /// minute, and answers no 429.
    @Test func slowCallsFromThreeDaemonsKeepXerosLimits() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        harness.fake.setResponseDelay(.milliseconds(1500))
        let (tenant, invoice) = harness.seededTenant("Invoices")
        let tokens = StaticTokenProvider(sources: [.value(accessToken: harness.fake.issueAccessToken(tenants: [tenant]), expiresIn: 1800, scope: nil,
                                                          origin: "test")], now: harness.clock.now)
        let schema = TestPostgres.uniqueTable("revbud")
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let setup = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await setup.run() }
        try await setup.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"))
        runner.cancel()
        let budgets = (0..<3).map { _ in
            PostgresRateBudget(endpoint: endpoint, limits: RateLimits(), callLease: .seconds(12), maxWait: .seconds(1), schema: schema)
        }
        let clients = try budgets.map { try harness.makeClient(tokens, rateBudget: $0) }
        let ref = harness.ref(tenant, "INVOICE", invoice)
        let outcomes: [FetchOutcome] = await withTaskGroup(of: FetchOutcome?.self) { group in
            for client in clients {
                for _ in 0..<25 { group.addTask { await client.fetch([ref])[ref.key] } }
            }
            return await group.reduce(into: []) { if let outcome = $1 { $0.append(outcome) } }
        }
        let found = outcomes.filter { if case .found = $0 { true } else { false } }.count
        let stats = harness.fake.stats
        print("slow budget: found \(found), maxInFlight \(stats.maxInFlightByTenant[tenant] ?? -1), maxPerMinute \(stats.maxPerMinuteByTenant[tenant] ?? -1), 429s \(stats.tooManyRequests)")
        #expect((stats.maxInFlightByTenant[tenant] ?? 0) <= 5, "\(stats.maxInFlightByTenant)")
        #expect((stats.maxPerMinuteByTenant[tenant] ?? 0) <= 60, "\(stats.maxPerMinuteByTenant)")
        #expect(stats.tooManyRequests == 0, "\(stats.tooManyRequestsByProblem)")
        #expect(found > 0)
        for budget in budgets { await budget.close() }
    }

    /// The fake answers 429 (minute, Retry-After 30) although the shared budget had room (another
    /// client of the tenant used Xero's minute). The other two daemons must not call Xero for the
    /// tenant until the Retry-After has passed.
    @Test func aXero429WhileTheBudgetHadRoomHoldsBackTheOtherDaemons() async throws {
        let harness = try Harness()
        defer { harness.stop() }
        let (tenant, invoice) = harness.seededTenant("Invoices")
        let tokens = StaticTokenProvider(sources: [.value(accessToken: harness.fake.issueAccessToken(tenants: [tenant]), expiresIn: 1800, scope: nil,
                                                          origin: "test")], now: harness.clock.now)
        let schema = TestPostgres.uniqueTable("revbud")
        let endpoint = try PostgresEndpoint.parse(try TestPostgres.server().url())
        let setup = PostgresClient(configuration: endpoint.clientConfiguration())
        let runner = Task { await setup.run() }
        try await setup.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"))
        runner.cancel()
        let budgets = (0..<3).map { _ in
            PostgresRateBudget(endpoint: endpoint, limits: RateLimits(), callLease: .seconds(12), maxWait: .seconds(1), schema: schema)
        }
        let clients = try budgets.map { try harness.makeClient(tokens, rateBudget: $0) }
        let ref = harness.ref(tenant, "INVOICE", invoice)
        harness.fake.force429(tenant: tenant, problem: "minute", retryAfter: 30)
        let first = await clients[0].fetch([ref])[ref.key]
        let afterFirst = harness.fake.stats.totalCalls
        var others: [FetchOutcome?] = []
        for client in clients.dropFirst() { for _ in 0..<3 { others.append(await client.fetch([ref])[ref.key]) } }
        let calls = harness.fake.stats.totalCalls - afterFirst
        #expect(harness.fake.stats.tooManyRequests == 1)
        if case .waiting = first {} else { Issue.record("the 429 was not a wait: \(String(describing: first))") }
        #expect(calls == 0, "the other daemons called Xero \(calls) times for a tenant Xero had just parked for 30 s: \(others)")
        for budget in budgets { await budget.close() }
    }
}
