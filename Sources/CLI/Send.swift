import ArgumentParser
import DaemonConfig
import DaemonRuntime
import EventRecord
import Foundation

/// `xero-webhookd send URL`: posts correctly signed sample deliveries, in the shape Xero sends
/// them (the spec's example, its field order and indentation), to any Delivery URL, so a user can
/// try the whole path (this daemon, a proxy in front, their own receiver) without writing JSON.
package struct Send: ParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        abstract: "Post correctly signed sample deliveries, shaped as Xero sends them, to a Delivery URL.",
        discussion: """
        Each delivery carries one event for a new resource id (a random UUID) of the given category, \
        signed with the webhook key (--key-file, else PAN_SEC_XERO_WEBHOOK_KEY). Prints one line per \
        delivery and exits 1 if any answer was not 200.
        """
    )

    @Argument(help: ArgumentHelp("The Delivery URL, e.g. http://127.0.0.1:8080/webhooks/xero.", valueName: "url"))
    package var url: String

    @Option(help: "INVOICE, CONTACT, CREDITNOTE or SUBSCRIPTION.")
    package var category = "INVOICE"

    @Option(name: .customLong("type"), help: "CREATE or UPDATE.")
    package var eventType = "UPDATE"

    @Option(help: ArgumentHelp("The tenantId (an organisation, or the application for SUBSCRIPTION); default: a random UUID.", valueName: "id"))
    package var tenant: String?

    @Option(help: "How many deliveries to send.")
    package var count = 1

    @Option(help: ArgumentHelp("File holding the webhook key (first key line). Default: PAN_SEC_XERO_WEBHOOK_KEY.", valueName: "path"))
    package var keyFile: String?

    @Option(name: .customLong("cacert"), help: ArgumentHelp("PEM file of CA certificates to verify an https endpoint with, instead of the system's.", valueName: "path"))
    package var caFile: String?

    /// Where each category's resources live at Xero.
    package static let collections = ["INVOICE": "api.xro/2.0/Invoices", "CONTACT": "api.xro/2.0/Contacts",
                              "CREDITNOTE": "api.xro/2.0/CreditNotes", "SUBSCRIPTION": "appstore/2.0/Subscriptions"]

    package func validate() throws {
        guard Self.collections[category] != nil else { throw ValidationError("--category must be one of INVOICE, CONTACT, CREDITNOTE, SUBSCRIPTION") }
        guard ["CREATE", "UPDATE"].contains(eventType) else { throw ValidationError("--type must be CREATE or UPDATE") }
        guard (1...10_000).contains(count) else { throw ValidationError("--count must be between 1 and 10000") }
    }

    package func run() throws {
        let target = try DeliveryTarget.required(url, command: "send")
        let signer = try KeyArgument.signer(keyFile: keyFile)
        let client = DeliveryClient(caFile: caFile)
        let tenantID = tenant ?? UUID().uuidString.lowercased()
        var failures = 0
        for number in 1...count {
            let resourceID = UUID().uuidString.lowercased()
            let body = Self.delivery(category: category, type: eventType, tenant: tenantID, resource: resourceID, sequence: number)
            switch client.post(target, body: body, signature: signer.signature(for: body)) {
            case let .success(answer):
                if answer.status != 200 { failures += 1 }
                writeOut(Array("sent \(number)/\(count): \(answer.status) in \(Int(answer.seconds * 1000)) ms (\(category) \(eventType) \(resourceID), tenant \(tenantID))\n".utf8))
            case let .failure(error):
                failures += 1
                writeOut(Array("sent \(number)/\(count): no answer (\(error))\n".utf8))
            }
        }
        if failures > 0 {
            throw failure("send: \(failures) of \(count) deliveries were not answered 200")
        }
    }

    /// One delivery as Xero's spec example has it: indented, `lastEventSequence` before
    /// `firstEventSequence`, `eventDateUtc` without a zone designator.
    package static func delivery(category: String, type: String, tenant: String, resource: String, sequence: Int) -> [UInt8] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSS"
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        let entropy = String((0..<20).map { _ in letters.randomElement()! })
        let text = """
        {
          "events": [
            {
              "resourceUrl": "https://api.xero.com/\(collections[category]!)/\(resource)",
              "resourceId": "\(resource)",
              "eventDateUtc": "\(formatter.string(from: Date()))",
              "eventType": "\(type)",
              "eventCategory": "\(category)",
              "tenantId": "\(tenant)",
              "tenantType": "\(category == "SUBSCRIPTION" ? "APPLICATION" : "ORGANISATION")"
            }
          ],
          "lastEventSequence": \(sequence),
          "firstEventSequence": \(sequence),
          "entropy": "\(entropy)"
        }
        """
        return Array(text.utf8)
    }
}
