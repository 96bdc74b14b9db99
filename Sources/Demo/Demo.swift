import ArgumentParser
import ByteJSON
import CLI
import DaemonConfig
import DaemonRuntime
import EventRecord
import FakeXero
import Foundation
import Logging
import SystemSupport
import Worker
import XeroAPI

/// `xero-webhookd demo`: the whole path in under a minute with no Xero account. A simulated
/// Xero (signed webhook deliveries and an API serving made-up invoices and contacts) talks to
/// a real daemon: events in, one record per resource out in the directory sink, then a summary.
package struct Demo: ParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        abstract: "Run the daemon against a built-in simulated Xero and show events becoming records."
    )

    @Option(help: "Where to keep the demo's state and records (default: a new temporary directory).")
    package var stateDirectory: String?

    @Option(help: "How many invoice and contact changes the simulated Xero announces.")
    package var events: Int = 60

    package func validate() throws {
        guard (1...5000).contains(events) else { throw ValidationError("--events must be 1-5000") }
    }

    package func run() throws {
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, level: .init(.warning), journal: false) }
        let logger = Logger(label: "xero-webhookd")
        let state = stateDirectory ?? FileManager.default.temporaryDirectory.path + "/xero-webhookd-demo-\(UUID().uuidString.prefix(8))"
        try DirectorySync.makeDirectory(at: state, mode: 0o750)
        let started = Date()

        // The simulated Xero: two organisations with invoices and contacts.
        let xero = FakeXero()
        let base = try xero.start()
        defer { xero.shutdown() }
        let tenants = ["4a7c9c0e-0000-4000-8000-00000000d001", "4a7c9c0e-0000-4000-8000-00000000d002"]
        for (n, tenant) in tenants.enumerated() { xero.addTenant(tenant, name: "Demo Company \(n + 1)") }
        var changes: [(tenant: String, category: String, id: String)] = []
        var generator = SystemRandomNumberGenerator()
        for n in 0..<events {
            let tenant = tenants[n % tenants.count]
            let contact = n % 4 == 3
            // Some resources change more than once: those events become one record.
            let id = String(format: "%@-0000-4000-8000-%012d", contact ? "c0a7ac70" : "1a701ce0", Int.random(in: 0..<max(1, events * 3 / 4), using: &generator))
            xero.addRecord(tenant: tenant, collection: contact ? "Contacts" : "Invoices", id: id)
            changes.append((tenant, contact ? "CONTACT" : "INVOICE", id))
        }
        let token = xero.issueAccessToken(tenants: tenants, lifetime: 3600)
        let tokenFile = state + "/demo-access-token.json"
        try Data(#"{"access_token":"\#(token)","expires_in":3600}"#.utf8).write(to: URL(fileURLWithPath: tokenFile))

        // The daemon, configured as a user would, pointed at the simulated Xero.
        var config = DaemonConfig()
        config.listenPort = 0
        config.stateDirectory = state
        config.xero.apiBaseURL = base
        config.xero.identityBaseURL = base
        config.xero.auth.mode = .accessToken
        config.xero.auth.accessTokenFile = tokenFile
        config.worker.backoffBaseMilliseconds = 200
        let key = "demo-webhook-key-\(UUID().uuidString)"
        let client = try config.xero.makeClient(stateDirectory: state, environment: [:])
        let sink = try SinkFactory.make(config.worker, stateDirectory: state, environment: [:])
        let daemon = try Daemon(config: config, keys: WebhookKeys(current: key, source: "demo"), logger: logger,
                                fetcher: client.map(XeroFetcher.init), sink: sink)
        let address = try daemon.start()
        defer { daemon.stop() }
        guard let url = DeliveryTarget("http://\(address)\(config.webhookPath)") else {
            throw failure("demo: http://\(address)\(config.webhookPath) is not a URL")
        }
        let signer = WebhookSignature(current: key)
        let poster = DeliveryClient()

        // Xero's intent-to-receive first, then the deliveries, several events each.
        let itr = Selftest.intentToReceiveBody()
        guard case .success(let answer) = poster.post(url, body: itr, signature: signer.signature(for: itr)), answer.status == 200 else {
            throw failure("demo: the intent-to-receive check failed")
        }
        var deliveries = 0
        for start in stride(from: 0, to: changes.count, by: 8) {
            let chunk = changes[start..<min(start + 8, changes.count)]
            let body = Array(Self.delivery(chunk.map { Self.event($0, base: base) }, first: start + 1).utf8)
            guard case .success(let answer) = poster.post(url, body: body, signature: signer.signature(for: body)), answer.status == 200 else {
                throw failure("demo: a delivery was not acknowledged")
            }
            deliveries += 1
        }

        // Wait for the worker to deliver one record per distinct resource.
        let distinct = Set(changes.map { "\($0.tenant)/\($0.id)" }).count
        let recordsDirectory = state + "/records"
        let deadline = Date().addingTimeInterval(60)
        var records: [String] = []
        while Date() < deadline {
            records = Self.lines(in: recordsDirectory)
            if records.count >= distinct { break }
            Thread.sleep(forTimeInterval: 0.05)  // a user-facing progress wait, not test synchronisation
        }
        let calls = xero.stats.callsByTenant.values.flatMap(\.values).reduce(0, +)
        let seconds = Date().timeIntervalSince(started)
        var out = ""
        if let sample = records.first { out += "sample record:\n\(sample)\n\n" }
        out += "demo: \(changes.count) events in \(deliveries) signed deliveries became \(records.count) records "
        out += "(one per changed resource; \(distinct) distinct) in \(recordsDirectory)\n"
        out += "      the simulated Xero API answered \(calls) calls (batched IDs=), \(String(format: "%.1f", seconds)) s in all; "
        out += "state kept in \(state)\n"
        writeOut(Array(out.utf8))
        if records.count < distinct { throw ExitCode.failure }
    }

    package static func event(_ change: (tenant: String, category: String, id: String), base: String) -> String {
        let collection = change.category == "CONTACT" ? "Contacts" : "Invoices"
        let now = UTCTimestamp.format(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)).dropLast()
        return #"{"resourceUrl":"\#(base)/api.xro/2.0/\#(collection)/\#(change.id)","resourceId":"\#(change.id)","eventDateUtc":"\#(now)","eventType":"UPDATE","eventCategory":"\#(change.category)","tenantId":"\#(change.tenant)","tenantType":"ORGANISATION"}"#
    }

    package static func delivery(_ events: [String], first: Int) -> String {
        #"{"events":[\#(events.joined(separator: ","))],"firstEventSequence":\#(first),"lastEventSequence":\#(first + events.count - 1),"entropy":"DEMODEMODEMODEMODEMO"}"#
    }

    package static func lines(in directory: String) -> [String] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        return files.flatMap { file in
            ((try? String(contentsOfFile: directory + "/" + file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
    }
}
