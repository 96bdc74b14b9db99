import EventRecord
import FakeXero
import Foundation
import PostgresTestSupport
import TestSupport
import Testing
import XeroAPI
#if canImport(Glibc)
import Glibc
#endif

/// Three built daemons in cluster mode (refresh-token mode, state directories of their own, one
/// token table) fetching for the same tenant at once, round after round, Xero revoking the
/// access token between rounds: each round all three need a new token at once, and exactly one
/// refresh is made, never two in flight, none refused.
@Suite(.enabled(if: TestPostgres.runs, "needs a PostgreSQL server; the reason none could be started is printed above"))
struct ClusterTokenEndToEndTests {
    static let key = "cluster-e2e-key-0123456789"

    @Test func threeDaemonsRenewOneTokenOneAtATime() async throws {
        let server = try TestPostgres.server()
        let table = TestPostgres.uniqueTable("tokens")
        let dir = try TemporaryDirectory("xero-webhookd-cluster-e2e")
        defer { dir.remove() }
        let fake = FakeXero()
        defer { fake.shutdown() }
        let baseURL = try fake.start()
        fake.registerClient(id: "cluster-client", secret: "cluster-secret")
        fake.setTokenDelay(.milliseconds(200))
        let tenant = "7c1e0000-0000-0000-0000-0000000000c1"
        fake.addTenant(tenant, name: "Cluster Org")
        // What `authorize` leaves on the first node only.
        let refresh = fake.issueRefreshToken(clientId: "cluster-client", tenants: [tenant])
        try FileManager.default.createDirectory(atPath: dir.file("state-0"), withIntermediateDirectories: true)
        try TokenFile(stateDirectory: dir.file("state-0")).save(StoredTokenSet(refreshToken: refresh, accessToken: nil, expiresAt: nil,
                                                                               scopes: [], updatedAt: Date()))
        let environment = ["PAN_SEC_XERO_WEBHOOK_KEY": Self.key, "PAN_SEC_XERO_CLIENT_ID": "cluster-client",
                           "PAN_SEC_XERO_CLIENT_SECRET": "cluster-secret"]
        var daemons: [DaemonProcess] = []
        for node in 0..<3 {
            let config = dir.file("config-\(node).json")
            try writeFile(config, #"""
            {"stateDirectory": "\#(dir.file("state-\(node)"))", "listen": {"port": 0},
             "xero": {"apiBaseURL": "\#(baseURL)", "identityBaseURL": "\#(baseURL)", "auth": {"mode": "refreshToken"}},
             "worker": {"backoffBaseMilliseconds": 20, "backoffCapMilliseconds": 200},
             "sink": {"directory": "\#(dir.file("records-\(node)"))"},
             "cluster": {"postgresURL": "\#(server.url())", "tokenTable": "\#(table)"}}
            """#)
            if node == 0 {
                let checked = try Binary.run(["check-config", "--config", config], environment: environment)
                #expect(checked.stdout.contains("cluster.tokenTable: \(table)  [config file]"), "\(checked.stdout)\(checked.stderr)")
            }
            daemons.append(try await DaemonProcess.started(["serve", "--config", config], environment: environment))
        }
        func delivered() -> Int {
            (0..<3).reduce(0) { total, node in
                let directory = dir.file("records-\(node)")
                let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
                return total + files.reduce(0) { count, name in
                    count + ((try? String(contentsOfFile: directory + "/" + name, encoding: .utf8))?.split(separator: "\n").count ?? 0)
                }
            }
        }
        var expected = 0
        func deliver(round: Int, to nodes: [Int]) throws {
            for node in nodes {
                let id = String(format: "00000000-0000-0000-%04d-%012d", node, round)
                fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
                let event = #"{"resourceUrl":"\#(baseURL)/api.xro/2.0/Invoices/\#(id)","resourceId":"\#(id)","eventDateUtc":"2026-12-04T01:15:39.902","eventType":"UPDATE","eventCategory":"INVOICE","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#
                let body = Array(#"{"events":[\#(event)],"firstEventSequence":1,"lastEventSequence":1,"entropy":"CL"}"#.utf8)
                let signature = WebhookSignature(current: Self.key).signature(for: body)
                let client = try RawHTTPClient(port: daemons[node].port)
                #expect(try client.exchange(RawHTTPClient.post("/webhooks/xero", body: body, headers: [("x-xero-signature", signature)])).status == 200)
                expected += 1
            }
        }
        // The first node brings the authorisation into the table (its first token).
        try deliver(round: 0, to: [0])
        #expect(await poll(seconds: 60) { delivered() == expected }, "\(daemons[0].stderr.suffix(2000))")
        #expect(fake.stats.tokenGrants["refresh_token"] == 1)
        // Then rounds: the token revoked, one delivery to each node at once; all three get a 401
        // and want a new token together.
        let rounds = 5
        for round in 1...rounds {
            fake.revokeAccessTokens()
            try deliver(round: round, to: [0, 1, 2])
            #expect(await poll(seconds: 60) { delivered() == expected }, "round \(round): delivered \(delivered()) of \(expected)")
        }
        let stats = fake.stats
        #expect(stats.maxTokenRequestsInFlight == 1, "refreshes overlapped")
        #expect(stats.invalidGrants == 0 && stats.graceReuses == 0)
        // One refresh per round at most (a node may fetch after another already renewed).
        #expect((2...rounds + 1).contains(stats.tokenGrants["refresh_token"] ?? 0), "\(stats.tokenGrants)")
        for daemon in daemons {
            daemon.signal(SIGTERM)
            #expect(await daemon.exited() == 0)
            #expect(!daemon.stderr.contains(refresh))
        }
    }
}

/// Polls `condition` until it holds or `seconds` pass, without holding a thread of the
/// concurrency pool between looks.
private func poll(seconds: Double, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
