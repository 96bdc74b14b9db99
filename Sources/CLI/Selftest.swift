import ArgumentParser
import DaemonConfig
import DaemonRuntime
import EventRecord

package struct Selftest: ParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        abstract: "Play Xero's intent-to-receive check against a running endpoint and report each check.",
        discussion: """
        Sends correctly signed, wrongly signed (one character changed, as Xero does) and unsigned \
        payloads with no events, and checks what Xero checks: 200 or 401, an empty body, no \
        Set-Cookie, and an answer within 5 seconds. Works against a public https URL too: the \
        certificate is checked against the system's CAs, or against --cacert for a private CA.
        """
    )

    @Argument(help: ArgumentHelp("The Delivery URL, e.g. https://hooks.example.com/webhooks/xero.", valueName: "url"))
    package var url: String

    @Option(help: ArgumentHelp("File holding the webhook key (first key line). Default: PAN_SEC_XERO_WEBHOOK_KEY.", valueName: "path"))
    package var keyFile: String?

    @Option(name: .customLong("cacert"), help: ArgumentHelp("PEM file of CA certificates to verify an https endpoint with, instead of the system's.", valueName: "path"))
    package var caFile: String?

    package func run() throws {
        let target = try DeliveryTarget.required(url, command: "selftest")
        let signer = try KeyArgument.signer(keyFile: keyFile)
        let client = DeliveryClient(caFile: caFile)
        var failures = 0
        func check(_ ok: Bool, _ text: String) {
            writeOut(Array(((ok ? "PASS  " : "FAIL  ") + text + "\n").utf8))
            if !ok { failures += 1 }
        }
        if !target.https {
            writeOut(Array("note  Xero delivers only to https on port 443; this checks the endpoint behind it\n".utf8))
        }
        let cases: [(name: String, signature: (([UInt8]) -> String?), expected: Int)] = [
            ("correctly signed", { signer.signature(for: $0) }, 200),
            ("wrongly signed (one character changed)", { Self.corrupt(signer.signature(for: $0)) }, 401),
            ("unsigned", { _ in nil }, 401),
            ("correctly signed, again", { signer.signature(for: $0) }, 200),
        ]
        for item in cases {
            let body = Self.intentToReceiveBody()
            let result = client.post(target, body: body, signature: item.signature(body))
            switch result {
            case let .failure(error):
                check(false, "\(item.name): no answer (\(error))")
            case let .success(answer):
                check(answer.status == item.expected, "\(item.name): status \(answer.status), want \(item.expected)")
                check(answer.bodyLength == 0, "\(item.name): empty body (got \(answer.bodyLength) bytes)")
                check(!answer.setsCookie, "\(item.name): no Set-Cookie")
                let ms = Int(answer.seconds * 1000)
                check(answer.seconds < 5, "\(item.name): answered in \(ms) ms (Xero allows 5000)")
            }
        }
        writeOut(Array((failures == 0 ? "selftest passed\n" : "selftest failed: \(failures) check(s)\n").utf8))
        if failures > 0 { throw ExitCode.failure }
    }

    /// An intent-to-receive body with Xero's exact spacing and a fresh 20-letter entropy.
    package static func intentToReceiveBody() -> [UInt8] {
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        let entropy = String((0..<20).map { _ in letters.randomElement()! })
        return Array(#"{"events":[],"firstEventSequence": 0,"lastEventSequence": 0, "entropy": "\#(entropy)"}"#.utf8)
    }

    /// Changes the first character, the way Xero's deliberately wrong signatures do.
    package static func corrupt(_ signature: String) -> String {
        let first = signature.first == "A" ? "B" : "A"
        return first + signature.dropFirst()
    }
}
