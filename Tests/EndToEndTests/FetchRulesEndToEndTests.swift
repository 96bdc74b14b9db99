import ByteJSON
import FakeXero
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The real binary fetches only what each event names, for the tenant `PAN_SEC_XERO_TENANT_URL`
/// names, and delivers archived contacts as records.
@Suite(.serialized) struct FetchRulesEndToEndTests {
    @Test func onlyTheNamedTenantAndTheNamedResourceAreFetched() throws {
        let mine = "a1b2c3d4-0000-4000-8000-000000000001", other = "a1b2c3d4-0000-4000-8000-000000000002"
        let setup = try WorkerEndToEndTests.Setup(tenants: [mine, other])
        let archived = "c0a7ac70-0000-4000-8000-000000000001", invoice = "1a701ce0-0000-4000-8000-000000000001"
        let credit = "c4ed1700-0000-4000-8000-000000000001", foreign = "1a701ce0-0000-4000-8000-000000000002"
        setup.fake.addContact(tenant: mine, id: archived, status: "ARCHIVED")
        setup.fake.addRecord(tenant: mine, collection: "Invoices", id: invoice)
        setup.fake.addRecord(tenant: mine, collection: "CreditNotes", id: credit)
        setup.fake.addRecord(tenant: other, collection: "Invoices", id: foreign)
        func event(_ tenant: String, _ category: String, _ id: String, url: String) -> String {
            #"{"resourceUrl":"\#(url)","resourceId":"\#(id)","eventDateUtc":"2026-11-29T01:15:39.902","eventType":"UPDATE","eventCategory":"\#(category)","tenantId":"\#(tenant)","tenantType":"ORGANISATION"}"#
        }
        let api = "\(setup.baseURL)/api.xro/2.0"
        let events = [
            event(mine, "CONTACT", archived, url: "\(api)/Contacts/\(archived)"),
            event(mine, "INVOICE", invoice, url: "\(api)/Invoices/\(invoice)"),
            event(mine, "CREDITNOTE", credit, url: "\(api)/../../_stats?ID"),
            event(other, "INVOICE", foreign, url: "\(api)/Invoices/\(foreign)"),
        ]
        let environment = setup.environment.merging(["PAN_SEC_XERO_TENANT_URL": mine]) { _, new in new }
        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: environment)
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try setup.post(client, events) == 200)
        #expect(waitUntil(seconds: 30) { setup.deliveredResources() == ["\(mine)/\(archived)", "\(mine)/\(invoice)"] },
                "delivered \(setup.deliveredResources())")
        let contact = try #require(setup.records().first { $0["resourceId"]?.stringValue == archived })
        #expect(contact["resource"]?["ContactStatus"]?.stringValue == "ARCHIVED")
        #expect(waitUntil(seconds: 30) {
            ((try? Binary.run(["dead", "list", "--config", setup.config]).stdout) ?? "").contains("2 dead letters")
        })
        let dead = try Binary.run(["dead", "list", "--config", setup.config]).stdout
        #expect(dead.contains("PAN_SEC_XERO_TENANT_URL") && dead.contains("resourceUrl"))
        // Neither the other tenant nor anything but the named records was asked for.
        #expect(setup.fake.stats.callsByTenant[other] == nil)
        #expect(setup.fake.stats.requestsByEndpoint.keys.sorted() == ["Contacts?IDs", "Invoices?IDs"])
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(daemon.stderr.contains("xero tenants") && daemon.stderr.contains("only tenant \(mine)"))
    }

    /// A tenant URL with user info and an EXPIRES_IN that is not a number (beside a token with
    /// its own exp): check-config and serve neither stop nor show the password; no event is
    /// fetched, each is dead-lettered naming the variable.
    @Test func oddTenantURLAndExpiresInAreReportedNotFatal() throws {
        let tenant = "a1b2c3d4-0000-4000-8000-000000000003", invoice = "1a701ce0-0000-4000-8000-000000000003"
        let setup = try WorkerEndToEndTests.Setup(tenants: [tenant])
        setup.fake.addRecord(tenant: tenant, collection: "Invoices", id: invoice)
        let listing = setup.baseURL.replacingOccurrences(of: "://", with: "://pandium:s3cretpw@") + "/connections"
        let environment = setup.environment.merging([
            "PAN_SEC_XERO_TENANT_URL": listing, "PAN_SEC_XERO_EXPIRES_IN": "soon\n",
            "PAN_SEC_XERO_ACCESS_TOKEN": setup.fake.issueAccessToken(tenants: [tenant], lifetime: 3600),
        ]) { _, new in new }
        let check = try Binary.run(["check-config", "--config", setup.config], environment: environment)
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("xero.auth.tenants: no tenant: PAN_SEC_XERO_TENANT_URL"))
        #expect(check.stdout.contains("PAN_SEC_XERO_EXPIRES_IN"))
        #expect(!(check.stdout + check.stderr).contains("s3cretpw"))

        let daemon = try DaemonProcess(["serve", "--config", setup.config], environment: environment)
        let client = try RawHTTPClient(port: daemon.port)
        #expect(try setup.post(client, [setup.event(tenant: tenant, category: "INVOICE", id: invoice)]) == 200)
        #expect(waitUntil(seconds: 30) {
            ((try? Binary.run(["dead", "list", "--config", setup.config]).stdout) ?? "").contains("1 dead letter")
        })
        let dead = try Binary.run(["dead", "list", "--config", setup.config]).stdout
        #expect(dead.contains("PAN_SEC_XERO_TENANT_URL") && !dead.contains("s3cretpw"))
        #expect(setup.fake.stats.totalCalls == 0)
        daemon.signal(SIGTERM)
        #expect(daemon.waitForExit() == 0)
        #expect(daemon.stderr.contains("tenant url not used") && daemon.stderr.contains("expires in not used"))
        #expect(!daemon.stderr.contains("s3cretpw"))
    }
}
