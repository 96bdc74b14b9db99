import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `HTTPTransport` over FoundationNetworking's `URLSession`: no cookies, no cache, no
/// redirects followed (the 3xx answer itself is returned).
package final class URLSessionTransport: HTTPTransport {
    private let session: URLSession

    /// - Parameter maxConnectionsPerHost: parallel connections to one host. The rate limiter
    ///   already bounds calls in flight per tenant; this only bounds sockets.
    package init(maxConnectionsPerHost: Int = 16) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieAcceptPolicy = .never
        configuration.httpShouldSetCookies = false
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpMaximumConnectionsPerHost = maxConnectionsPerHost
        session = URLSession(configuration: configuration, delegate: RedirectRefuser(), delegateQueue: nil)
    }

    deinit { session.finishTasksAndInvalidate() }

    package func send(_ request: OutboundRequest) async -> Result<InboundResponse, TransportFailure> {
        guard let url = URL(string: request.url), url.host != nil else { return .failure(.invalidURL(request.url)) }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        // FoundationNetworking on Linux truncates the interval to whole seconds (0.5 s becomes an
        // immediate timeout), so round up to at least one second.
        urlRequest.timeoutInterval = max(1, request.timeout.seconds.rounded(.up))
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        if !request.body.isEmpty { urlRequest.httpBody = Data(request.body) }
        do {
            let (data, response) = try await session.data(for: urlRequest)
            guard let http = response as? HTTPURLResponse else { return .failure(.connection("not an HTTP response")) }
            var headers: [(name: String, value: String)] = []
            for (name, value) in http.allHeaderFields {
                headers.append((name: "\(name)", value: "\(value)"))
            }
            return .success(InboundResponse(status: http.statusCode, headers: headers, body: Array(data)))
        } catch let error as URLError where error.code == .timedOut {
            return .failure(.timedOut)
        } catch let error as URLError {
            return .failure(.connection("URLError \(error.code.rawValue)"))
        } catch {
            return .failure(.connection("\(type(of: error))"))
        }
    }
}

/// Answers every redirect with "do not follow", so the 3xx response is what the caller sees.
private final class RedirectRefuser: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    // No state: the @unchecked is only for the NSObject base class.
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}
