import ArgumentParser
import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XeroWebhooks

struct Selftest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Play Xero's intent-to-receive check against a running endpoint and report each check.",
        discussion: """
        Sends correctly signed, wrongly signed (one character changed, as Xero does) and unsigned \
        payloads with no events, and checks what Xero checks: 200 or 401, an empty body, no \
        Set-Cookie, and an answer within 5 seconds. Works against a public https URL too.
        """
    )

    @Argument(help: "The Delivery URL, e.g. https://hooks.example.com/webhooks/xero")
    var url: String

    @Option(help: "File holding the webhook key (first line). Default: PAN_SEC_XERO_WEBHOOK_KEY.")
    var keyFile: String?

    func run() throws {
        guard let target = URL(string: url), let scheme = target.scheme, ["http", "https"].contains(scheme), target.host != nil else {
            printError("selftest: \(url) is not an http(s) URL")
            throw ExitCode.validationFailure
        }
        let key: String
        do {
            key = try KeyArgument.resolve(keyFile: keyFile)
        } catch {
            printError(error.description)
            throw configErrorExit
        }
        let signer = WebhookSignature(keys: [key])
        let client = SelftestClient()
        defer { client.invalidate() }
        var failures = 0
        func check(_ ok: Bool, _ text: String) {
            writeOut(Array(((ok ? "PASS  " : "FAIL  ") + text + "\n").utf8))
            if !ok { failures += 1 }
        }
        if scheme != "https" {
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
    static func intentToReceiveBody() -> [UInt8] {
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        let entropy = String((0..<20).map { _ in letters.randomElement()! })
        return Array(#"{"events":[],"firstEventSequence": 0,"lastEventSequence": 0, "entropy": "\#(entropy)"}"#.utf8)
    }

    /// Changes the first character, the way Xero's deliberately wrong signatures do.
    static func corrupt(_ signature: String) -> String {
        let first = signature.first == "A" ? "B" : "A"
        return first + signature.dropFirst()
    }
}

/// One POST at a time, redirects not followed, cookies not stored.
final class SelftestClient: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    struct Answer {
        var status: Int
        var bodyLength: Int
        var setsCookie: Bool
        var seconds: Double
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private lazy var session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        configuration.timeoutIntervalForRequest = 10
        return URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
    }()

    func post(_ url: URL, body: [UInt8], signature: String?) -> Result<Answer, Failure> {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = Data(body)
        request.setValue("application/json; charset=utf-8", forHTTPHeaderField: "Content-Type")
        if let signature { request.setValue(signature, forHTTPHeaderField: "x-xero-signature") }
        let done = DispatchSemaphore(value: 0)
        let outcome = LockedBox<Result<Answer, Failure>>(.failure(Failure(description: "no response")))
        let started = DispatchTime.now().uptimeNanoseconds
        let task = session.dataTask(with: request) { data, response, error in
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            if let http = response as? HTTPURLResponse {
                let cookie = http.allHeaderFields.keys.contains { "\($0)".lowercased() == "set-cookie" }
                outcome.set(.success(Answer(status: http.statusCode, bodyLength: data?.count ?? 0, setsCookie: cookie, seconds: seconds)))
            } else {
                outcome.set(.failure(Failure(description: error.map { "\($0.localizedDescription)" } ?? "no HTTP response")))
            }
            done.signal()
        }
        task.resume()
        done.wait()
        return outcome.get()
    }

    /// Ends the session; it holds its delegate (this client) strongly until then.
    func invalidate() {
        session.finishTasksAndInvalidate()
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)  // Xero does not follow redirects either; report the 3xx as it is.
    }
}

/// A value handed from a callback thread to a waiting one.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ newValue: Value) { lock.lock(); value = newValue; lock.unlock() }
    func get() -> Value { lock.lock(); defer { lock.unlock() }; return value }
}
