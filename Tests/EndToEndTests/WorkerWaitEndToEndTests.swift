import ByteJSON
import FakeXero
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The worker against Xero's waits with the real binary: rate limits, paused credentials,
/// disconnected tenants and restarts (each test reproduces a failure seen on a release build).
@Suite(.serialized) struct WorkerWaitEndToEndTests {
    typealias Setup = WorkerEndToEndTests.Setup

    static func deadLetters(_ setup: Setup) -> String {
        (try? Binary.run(["dead", "list", "--config", setup.config]).stdout) ?? ""
    }

    static func queueStatus(_ setup: Setup) -> String {
        (try? Binary.run(["queue", "status", "--config", setup.config]).stdout) ?? ""
    }

    static func readyz(_ port: UInt16) throws -> (status: Int, body: String) {
        let client = try RawHTTPClient(port: port)
        let answer = try client.exchange(Array("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        return (answer.status, String(decoding: answer.body, as: UTF8.self))
    }

    static func subscriptionEvent(_ setup: Setup, id: String) -> String {
        #"{"resourceUrl":"\#(setup.baseURL)/appstore/2.0/subscriptions/\#(id)","resourceId":"\#(id)","eventDateUtc":"2026-11-29T01:15:39.902","eventType":"UPDATE","eventCategory":"SUBSCRIPTION","tenantId":"a0000000-0000-0000-0000-00000000a4b1","tenantType":"APPLICATION"}"#
    }

    static func creditNoteEvent(_ setup: Setup, tenant: String, id: String) -> String {
        #"{"resourceUrl":"\#(setup.baseURL)/api.xro/2.0/CreditNotes/\#(id)","resourceId":"\#(id)","eventDateUtc":"2026-11-29T01:15:39.902","eventType":"UPDATE","eventCategory":"CREDITNOTE","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#
    }

    /// 429 `minute` with `Retry-After: 1` more times than `maxAttempts`: waiting is not failing,
    /// so both events are delivered and none is dead-lettered.
    @Test func minuteRateLimitsBeyondMaxAttemptsStillDeliver() throws {
        let setup = try Setup(tenants: ["t-429"])
        let ids = ["60000000-0000-0000-0000-000000000001", "60000000-0000-0000-0000-000000000002"]
        for id in ids { setup.fake.addRecord(tenant: "t-429", collection: "Invoices", id: id) }
        setup.fake.force429(tenant: "t-429", problem: "minute", retryAfter: 1, times: 4)  // maxAttempts is 3
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try setup.post(client, ids.map { setup.event(tenant: "t-429", category: "INVOICE", id: $0) }) == 200)
        let expected = Set(ids.map { "t-429/\($0)" })
        #expect(waitUntil(seconds: 60) { setup.deliveredResources() == expected }, "\(daemon.stderr)")
        #expect(setup.fake.stats.tooManyRequests == 4)
        #expect(Self.deadLetters(setup).contains("0 dead letters"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(!daemon.stderr.contains("event dead-lettered"))
    }

    /// The token endpoint answering 503 more times than `maxAttempts`: a credential outage is a
    /// wait, so the event is delivered once it answers again.
    @Test func identityOutageBeyondMaxAttemptsStillDelivers() throws {
        let setup = try Setup(tenants: ["t-cc"], auth: #"{"mode": "clientCredentials"}"#)
        setup.fake.registerClient(id: "cc-id", secret: "cc-secret", customConnectionTenant: "t-cc")
        let id = "61000000-0000-0000-0000-000000000001"
        setup.fake.addRecord(tenant: "t-cc", collection: "Invoices", id: id)
        setup.fake.failTokenRequests(status: 503, times: 4)  // maxAttempts is 3
        var environment = setup.environment
        environment["PAN_SEC_XERO_CLIENT_ID"] = "cc-id"
        environment["PAN_SEC_XERO_CLIENT_SECRET"] = "cc-secret"
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: environment)
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try setup.post(client, [setup.event(tenant: "t-cc", category: "INVOICE", id: id)]) == 200)
        #expect(waitUntil(seconds: 60) { setup.deliveredResources() == ["t-cc/\(id)"] }, "\(daemon.stderr)")
        #expect(setup.fake.stats.failedTokenRequests == 4)
        #expect(Self.deadLetters(setup).contains("0 dead letters"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
    }

    /// A billing credential refused (`invalid_scope`) pauses SUBSCRIPTION events only: invoices
    /// of three organisations posted after it are delivered at once, `/readyz` and `queue status`
    /// name the paused credential until it is fixed (then SIGHUP delivers the subscription).
    @Test func pausedBillingCredentialHoldsBackOnlySubscriptions() throws {
        let tenants = ["t-s1", "t-s2", "t-s3"]
        let setup = try Setup(tenants: tenants)
        setup.fake.registerClient(id: "store-id", secret: "store-secret", appStore: false)
        var environment = setup.environment
        environment["PAN_SEC_XERO_CLIENT_ID"] = "store-id"
        environment["PAN_SEC_XERO_CLIENT_SECRET"] = "store-secret"
        let subscription = "62000000-0000-0000-0000-000000000001"
        setup.fake.addSubscription(id: subscription, json: #"{"id":"\#(subscription)","status":"ACTIVE","plans":[]}"#)
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: environment)
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try setup.post(client, [Self.subscriptionEvent(setup, id: subscription)]) == 200)
        #expect(waitUntil(seconds: 30) { daemon.stderr.contains("worker paused") })
        var expected = Set<String>()
        for tenant in tenants {
            let id = "62000000-0000-0000-0000-0000000000\(tenant.suffix(1))0"
            setup.fake.addRecord(tenant: tenant, collection: "Invoices", id: id)
            #expect(try setup.post(client, [setup.event(tenant: tenant, category: "INVOICE", id: id)]) == 200)
            expected.insert("\(tenant)/\(id)")
        }
        // The pause rechecks every 30 s; a pause of everything would hold these that long.
        #expect(waitUntil(seconds: 15) { setup.deliveredResources() == expected }, "\(daemon.stderr)")
        let ready = try Self.readyz(daemon.port)
        #expect(ready.status == 503)
        #expect(ready.body.contains("App Store billing token") && ready.body.contains("invalid_scope"), "\(ready.body)")
        let status = Self.queueStatus(setup)
        #expect(status.contains("paused credential App Store billing token") && status.contains("invalid_scope"), "\(status)")
        #expect(!daemon.stderr.contains("worker resumed"), "other lanes do not end the pause")
        #expect(Self.deadLetters(setup).contains("0 dead letters"))

        // Fixed (the app may now use marketplace.billing), then SIGHUP: delivered, pause gone.
        setup.fake.registerClient(id: "store-id", secret: "store-secret", appStore: true)
        daemon.signal(SIGHUP)
        let all = expected.union(["a0000000-0000-0000-0000-00000000a4b1/\(subscription)"])
        #expect(waitUntil(seconds: 20) { setup.deliveredResources() == all }, "\(daemon.stderr)")
        #expect(waitUntil(seconds: 10) { (try? Self.readyz(daemon.port))?.status == 200 })
        #expect(waitUntil(seconds: 10) { !Self.queueStatus(setup).contains("paused") })
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(daemon.stderr.contains("worker resumed"))
    }

    /// A 403 parks the tenant, not the event: no dead letter, the others flow, `/readyz` (still
    /// ready) and `queue status` name the tenant; reconnected and SIGHUP, it is delivered.
    @Test func disconnectedTenantIsParkedAndResumesWhenConnectedAgain() throws {
        let setup = try Setup(tenants: ["t-gone", "t-ok"])
        setup.fake.disconnect(tenant: "t-gone")
        let gone = "63000000-0000-0000-0000-000000000001", ok = "63000000-0000-0000-0000-000000000002"
        setup.fake.addRecord(tenant: "t-gone", collection: "Invoices", id: gone)
        setup.fake.addRecord(tenant: "t-ok", collection: "Invoices", id: ok)
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try setup.post(client, [setup.event(tenant: "t-gone", category: "INVOICE", id: gone),
                                        setup.event(tenant: "t-ok", category: "INVOICE", id: ok)]) == 200)
        #expect(waitUntil(seconds: 30) { setup.deliveredResources() == ["t-ok/\(ok)"] })
        #expect(waitUntil(seconds: 30) { Self.queueStatus(setup).contains("paused tenant t-gone") }, "\(daemon.stderr)")
        let ready = try Self.readyz(daemon.port)
        #expect(ready.status == 200)
        #expect(ready.body.contains("tenant t-gone") && ready.body.contains("403"), "\(ready.body)")
        #expect(Self.deadLetters(setup).contains("0 dead letters"))
        #expect(setup.fake.stats.forbidden == 1, "a paused tenant is not called again")

        setup.fake.reconnect(tenant: "t-gone")
        daemon.signal(SIGHUP)
        #expect(waitUntil(seconds: 20) { setup.deliveredResources() == ["t-ok/\(ok)", "t-gone/\(gone)"] }, "\(daemon.stderr)")
        #expect(waitUntil(seconds: 10) { !Self.queueStatus(setup).contains("paused") })
        #expect(!(try Self.readyz(daemon.port)).body.contains("paused"))
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(daemon.stderr.contains("worker resumed"))
    }

    /// An invoice waits for its retry while two credit notes after it are delivered; the day
    /// limit is 3 calls. A restart neither fetches the credit notes again nor forgets the day's
    /// calls: the invoice's retry waits for the next day instead of making a fourth call.
    @Test func restartDoesNotFetchFinishedWorkAgainNorForgetTheDay() throws {
        let setup = try Setup(tenants: ["t-day"],
                              worker: #"{"backoffBaseMilliseconds": 8000, "backoffCapMilliseconds": 8000, "maxAttempts": 10}"#,
                              limits: #"{"perDayPerTenant": 3}"#)
        let invoice = "64000000-0000-0000-0000-000000000001"
        let notes = ["64000000-0000-0000-0000-000000000002", "64000000-0000-0000-0000-000000000003"]
        setup.fake.addRecord(tenant: "t-day", collection: "Invoices", id: invoice)
        setup.fake.fail(id: invoice, status: 500, times: 1)
        for note in notes { setup.fake.addRecord(tenant: "t-day", collection: "CreditNotes", id: note) }
        let first = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        let client = try RawHTTPClient(port: first.port)
        #expect(try setup.post(client, [setup.event(tenant: "t-day", category: "INVOICE", id: invoice)]) == 200)
        #expect(waitUntil(seconds: 30) { first.stderr.contains("delivery will be retried") })
        #expect(try setup.post(client, notes.map { Self.creditNoteEvent(setup, tenant: "t-day", id: $0) }) == 200)
        #expect(waitUntil(seconds: 30) { setup.deliveredResources() == Set(notes.map { "t-day/\($0)" }) })
        first.signal(SIGTERM)
        #expect(first.waitForExit() == 0)
        #expect(setup.fake.stats.callsByTenant["t-day"]?.values.reduce(0, +) == 3)

        let second = try DaemonProcess(["serve", "--config", setup.config], environment: setup.environment)
        // The invoice's retry comes due (4-8 s after its failure) and waits for the day instead.
        #expect(waitUntil(seconds: 30) { second.stderr.contains("delivery waits") && second.stderr.contains("daily limit") },
                "\(second.stderr)")
        #expect(setup.fake.stats.callsByTenant["t-day"]?.values.reduce(0, +) == 3, "no call beyond the day's 3")
        let ids = setup.deliveredEventIDs()
        #expect(ids.count == 2 && Set(ids).count == 2, "each credit note delivered once")
        #expect(!setup.deliveredResources().contains("t-day/\(invoice)"))
        #expect(Self.deadLetters(setup).contains("0 dead letters"))
        second.signal(SIGTERM)
        #expect(second.waitForExit() == 0)
    }
}
