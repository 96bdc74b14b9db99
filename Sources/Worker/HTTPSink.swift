import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import EventRecord

/// POSTs each record as JSON to a URL. The receiving service can check
/// `x-xero-webhookd-signature`: base64(HMAC-SHA256(body, secret)), the same scheme Xero uses
/// for its own webhooks. Any 2xx answer accepts the record; anything else, a timeout or a
/// connection error is a failure the worker retries with backoff.
package final class HTTPSink: Sink, @unchecked Sendable {
    // @unchecked: every stored property is immutable; URLSession is thread-safe.
    package static let signatureHeader = "x-xero-webhookd-signature"
    private let url: URL
    private let signer: WebhookSignature
    private let session: URLSession
    private let timeout: TimeInterval

    package init(url: URL, secret: String, timeout: Duration = .seconds(30)) {
        self.url = url
        signer = WebhookSignature(current: secret)
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        self.timeout = seconds
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = seconds
        configuration.httpShouldSetCookies = false
        session = URLSession(configuration: configuration)
    }

    package func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>] {
        var results: [Result<Void, SinkError>] = []
        for record in records {
            results.append(await post(record))
        }
        return results
    }

    private func post(_ record: DeliveryRecord) async -> Result<Void, SinkError> {
        let body = record.json()
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.httpBody = Data(body)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue(signer.signature(for: body), forHTTPHeaderField: Self.signatureHeader)
        request.setValue(record.items.map(\.eventID).joined(separator: ","), forHTTPHeaderField: "x-xero-webhookd-event-ids")
        do {
            let (_, response) = try await session.data(for: request)
            guard let http = response as? HTTPURLResponse else { return .failure(SinkError("no HTTP answer from \(url)")) }
            guard (200..<300).contains(http.statusCode) else {
                return .failure(SinkError("\(url) answered \(http.statusCode)"))
            }
            return .success(())
        } catch {
            return .failure(SinkError("POST \(url) failed: \(error.localizedDescription)"))
        }
    }
}
