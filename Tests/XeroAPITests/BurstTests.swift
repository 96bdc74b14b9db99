import FakeXero
import Foundation
import ResourceFetch
import Testing
import XeroAPI
import XeroTestSupport

/// A burst like a busy hour of webhooks: many events, many tenants, repeats.
@Suite struct BurstTests {
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func thousandEventsForTwentyTenantsWithinEveryLimit() async throws {
        var options = FakeXeroOptions()
        options.responseDelay = .milliseconds(20)
        let harness = try Harness(options: options)
        defer { harness.stop() }
        var random = SplitMix(state: 42)
        let tenants = (0..<20).map { _ in newID() }
        var pools: [String: [String: [String]]] = [:]
        var missing = Set<String>()
        for tenant in tenants {
            for (category, collection, size) in [("INVOICE", "Invoices", 70), ("CONTACT", "Contacts", 25), ("CREDITNOTE", "CreditNotes", 5)] {
                let ids = (0..<size).map { _ in newID() }
                pools[tenant, default: [:]][category] = ids
                for id in ids {
                    if Int.random(in: 0..<20, using: &random) == 0 { missing.insert(id) } else {
                        harness.fake.addRecord(tenant: tenant, collection: collection, id: id)
                    }
                }
            }
        }
        var events: [FetchRequest] = []
        for _ in 0..<1000 {
            // Two busy organisations get about a third of the events (more than 50 distinct invoices).
            let hot = Int.random(in: 0..<100, using: &random)
            let tenant = hot < 30 ? tenants[hot % 2] : tenants[Int.random(in: 0..<20, using: &random)]
            let roll = Int.random(in: 0..<100, using: &random)
            let category = roll < 55 ? "INVOICE" : roll < 85 ? "CONTACT" : "CREDITNOTE"
            let pool = pools[tenant]![category]!
            events.append(harness.ref(tenant, category, pool[Int.random(in: 0..<pool.count, using: &random)]))
        }
        let token = harness.fake.issueAccessToken(tenants: tenants, lifetime: 100_000)
        let client = try harness.makeClient(StaticTokenProvider(source: .value(accessToken: token, expiresIn: nil, scope: nil, origin: "test")))

        let outcomes = await client.fetch(events)
        /// How many distinct resources of `category` the burst names for `tenant`.
        func distinctCount(_ tenant: String, _ category: String) -> Int {
            Set(events.map(\.key).filter { $0.tenantID == tenant && $0.category == category }.map(\.resourceID)).count
        }

        let stats = harness.fake.stats
        #expect(stats.tooManyRequests == 0)
        #expect(stats.maxInFlightByTenant.values.allSatisfy { $0 <= 5 })
        #expect(stats.maxPerMinuteByTenant.values.allSatisfy { $0 <= 60 })
        for event in events {
            let expected: FetchOutcome? = missing.contains(event.key.resourceID) ? .notFound : nil
            if let expected {
                #expect(outcomes[event.key] == expected)
            } else {
                guard case .found = outcomes[event.key] else { throw Failure("\(event) not found") }
            }
        }
        for tenant in tenants {
            for (category, endpoint) in [("INVOICE", "Invoices?IDs"), ("CONTACT", "Contacts?IDs")] {
                let distinct = distinctCount(tenant, category)
                #expect(stats.calls(tenant: tenant, endpoint: endpoint) <= (distinct + 49) / 50)
            }
            let notes = distinctCount(tenant, "CREDITNOTE")
            #expect(stats.calls(tenant: tenant, endpoint: "CreditNotes/{id}") == notes)
        }
        let perEvent = Double(stats.totalCalls) / Double(events.count)
        let busiest = tenants.max { distinctCount($0, "INVOICE") < distinctCount($1, "INVOICE") }!
        let busiestInvoices = distinctCount(busiest, "INVOICE")
        #expect(busiestInvoices > 50)  // the burst does exercise more than one batch per tenant
        print("burst: busiest tenant had \(busiestInvoices) distinct invoices, fetched in "
            + "\(stats.calls(tenant: busiest, endpoint: "Invoices?IDs")) calls")
        print("burst: \(events.count) events, \(Set(events.map(\.key)).count) distinct resources, \(tenants.count) tenants -> "
            + "\(stats.totalCalls) API calls = \(String(format: "%.3f", perEvent)) calls per event (a naive client: 1.000); "
            + "most in flight for one tenant: \(stats.maxInFlightByTenant.values.max() ?? 0), "
            + "most in one minute for one tenant: \(stats.maxPerMinuteByTenant.values.max() ?? 0), 429s: \(stats.tooManyRequests)")
        #expect(perEvent < 0.25)
    }
}
