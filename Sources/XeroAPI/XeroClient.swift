import Foundation
import ResourceFetch
import Synchronization

/// Fetches the records named by webhook events from Xero's API, within Xero's rate limits.
///
/// One client serves every tenant. It never sends a token anywhere but the configured API
/// origin, never sends a call that the rate limiter has not admitted, and renews tokens through
/// its `TokenProvider` (after each 401, while it offers a token not yet refused). Safe to use
/// from many tasks at once; counters live in a `Mutex`.
package final class XeroClient: Sendable {
    package let configuration: XeroAPIConfiguration
    private let tokens: any TokenProvider
    private let billingTokens: (any TokenProvider)?
    private let transport: any HTTPTransport
    private let limiter: any RateBudget
    private let origin: URLOrigin
    private let counters = Mutex(XeroClientMetrics())
    /// Which tenants events are fetched for.
    package let tenantScope: TenantScope
    let directory: TenantDirectory?

    /// - Parameters:
    ///   - tokens: the organisation token provider (any mode).
    ///   - billingTokens: a client-credentials provider with scope `marketplace.billing` for
    ///     SUBSCRIPTION events; without it those events are `.permanent`.
    ///   - transport: defaults to `URLSessionTransport`.
    ///   - tenantScope: which tenants to fetch for; a `.listed` URL must be on the API origin.
    ///   - relistInterval: for `.listed`, the shortest time between two listings.
    ///   - rateLimitStateFile: where each tenant's calls of the day and its parks are kept across
    ///     restarts (nil: in memory only).
    ///   - rateBudget: a budget shared with other daemons (cluster mode); without it, a
    ///     `RateLimiter` of this client's own (with `rateLimitStateFile`).
    package init(configuration: XeroAPIConfiguration, tokens: any TokenProvider, billingTokens: (any TokenProvider)? = nil,
                transport: any HTTPTransport = URLSessionTransport(), tenantScope: TenantScope = .all,
                relistInterval: Duration = .seconds(60), rateLimitStateFile: String? = nil,
                rateBudget: (any RateBudget)? = nil) throws(XeroAPIError) {
        guard let origin = URLOrigin(configuration.apiBaseURL) else {
            throw .invalidConfiguration("apiBaseURL \(configuration.apiBaseURL) is not an absolute http(s) URL")
        }
        if case let .listed(url, _) = tenantScope {
            // The organisation token goes with the listing: only to the API origin.
            // Not echoed: a URL that fails here may carry user info.
            guard URLOrigin(url) == origin else {
                throw .invalidConfiguration("the tenant listing URL is not an http(s) URL on the API origin \(origin) "
                    + "without user info")
            }
            directory = TenantDirectory(url: url, relistInterval: relistInterval)
        } else {
            directory = nil
        }
        self.tenantScope = tenantScope
        self.configuration = configuration
        self.tokens = tokens
        self.billingTokens = billingTokens
        self.transport = transport
        self.origin = origin
        self.limiter = rateBudget ?? RateLimiter(limits: configuration.limits, stateFile: rateLimitStateFile)
    }

    /// Fetches every requested resource, as few calls as the API allows, and returns one
    /// outcome per distinct resource (`ResourceKey`). Never throws: every failure is an outcome.
    /// Calls for different tenants run in parallel; calls for one tenant are held to its limits.
    package func fetch(_ requests: [FetchRequest]) async -> [ResourceKey: FetchOutcome] {
        let (inScope, outOfScope) = await scoped(requests)
        let plan = FetchPlan(inScope, configuration: configuration, origin: origin)
        var results = plan.decided.merging(outOfScope) { first, _ in first }
        await withTaskGroup(of: [ResourceKey: FetchOutcome].self) { group in
            for call in plan.calls {
                group.addTask { await self.performSplitting(call) }
            }
            for await outcomes in group {
                results.merge(outcomes) { first, _ in first }
            }
        }
        counters.withLock { metrics in
            for outcome in results.values { metrics.outcomes[outcome.label, default: 0] += 1 }
        }
        return results
    }

    /// Why `request` is refused without a request to Xero (its `resourceUrl`, resource id or
    /// tenant id), or nil when it may be fetched; the same check `fetch` makes.
    package func refusal(for request: FetchRequest) -> String? {
        guard case let .decided(.refused(reason)) = ResourceAddress.resolve(request, configuration: configuration, origin: origin) else {
            return nil
        }
        return reason
    }

    /// The tenants the organisation token reaches (`GET {api}/connections`, or `url`, another
    /// listing on the API origin).
    package func connections(url: String? = nil) async -> Result<[XeroConnection], XeroAPIError> {
        if let url, URLOrigin(url) != origin {
            return .failure(.invalidConfiguration("the listing URL is not an http(s) URL on the API origin \(origin) "
                + "without user info"))
        }
        switch await tokens.token() {
        case let .paused(reason): return .failure(.paused(reason))
        case let .unavailable(reason, _): return .failure(.unavailable(reason))
        case let .ready(token):
            return await XeroConnection.list(token: token, configuration: configuration, url: url, transport: transport)
        }
    }

    /// The organisation token provider's state (never a secret).
    package func tokenStatus() async -> TokenStatus { await tokens.status() }

    /// Re-reads credentials (SIGHUP).
    package func reloadCredentials() async {
        await tokens.reload()
        await billingTokens?.reload()
    }

    /// Returns once the rate-limit state is on disk (at shutdown).
    package func flushState() async {
        await limiter.flush()
    }

    /// A snapshot of the counters.
    package func metrics() async -> XeroClientMetrics {
        var snapshot = counters.withLock { $0 }
        snapshot.tokenRenewals = await tokens.status().renewals + (await billingTokens?.status().renewals ?? 0)
        snapshot.parkedTenants = await limiter.parkedTenants()
        return snapshot
    }

    // MARK: One call

    /// Performs `call`; a multi-id batch Xero refused with 400 (one id it cannot take spoils
    /// the whole batch) is split in halves, so only the id Xero cannot take ends `.permanent`.
    private func performSplitting(_ call: FetchPlan.Call) async -> [ResourceKey: FetchOutcome] {
        let outcomes = await perform(call)
        guard call.isSplittable, Self.refusedWhole(call, outcomes) else { return outcomes }
        return await split(call)
    }

    /// Performs both halves of a batch refused whole. A half refused whole is split again; when
    /// both are, the request rather than one id is what Xero refuses, and splitting further
    /// would cost about two calls per id (16 ids: 31 calls), so that part ends `.permanent`.
    /// One bad id among good ones is still found in about 2·log2 N calls.
    private func split(_ call: FetchPlan.Call) async -> [ResourceKey: FetchOutcome] {
        counters.withLock { $0.batchSplits += 1 }
        let halves = FetchPlan.halves(of: call, configuration: configuration)
        var performed: [Int: [ResourceKey: FetchOutcome]] = [:]
        await withTaskGroup(of: (Int, [ResourceKey: FetchOutcome]).self) { group in
            for (index, half) in halves.enumerated() {
                group.addTask { (index, await self.perform(half)) }
            }
            for await (index, part) in group { performed[index] = part }
        }
        let refused = halves.indices.filter { halves[$0].isSplittable && Self.refusedWhole(halves[$0], performed[$0] ?? [:]) }
        if refused.count == halves.count {
            let outcome = FetchOutcome.permanent("Xero refused the IDs batch (400) and both its halves: the request, not "
                + "one id, is refused, so it is not split further")
            return Dictionary(uniqueKeysWithValues: call.keys.map { ($0, outcome) })
        }
        var results: [ResourceKey: FetchOutcome] = [:]
        for index in halves.indices {
            let part = refused.contains(index) ? await split(halves[index]) : performed[index] ?? [:]
            results.merge(part) { first, _ in first }
        }
        return results
    }

    /// Whether Xero refused every id of `call` with the 400 that asks for a split.
    private static func refusedWhole(_ call: FetchPlan.Call, _ outcomes: [ResourceKey: FetchOutcome]) -> Bool {
        let rejected = FetchOutcome.permanent(FetchPlan.Call.rejectedBatch)
        return call.keys.allSatisfy { outcomes[$0] == rejected }
    }

    private func perform(_ call: FetchPlan.Call) async -> [ResourceKey: FetchOutcome] {
        func all(_ outcome: FetchOutcome) -> [ResourceKey: FetchOutcome] {
            Dictionary(uniqueKeysWithValues: call.keys.map { ($0, outcome) })
        }
        let provider: any TokenProvider
        if call.kind == .subscription {
            guard let billingTokens else {
                return all(.permanent("SUBSCRIPTION events need App Store billing credentials (a client id and secret "
                    + "allowed the marketplace.billing scope); none are configured"))
            }
            provider = billingTokens
        } else {
            provider = tokens
        }
        // Checked before waiting for the rate limiter (a paused provider need not queue) and
        // again after it (a wait can outlast a token).
        switch await provider.token() {
        case .ready: break
        case let .paused(reason): return all(.paused(reason))
        case let .unavailable(reason, retryAfter): return all(.waiting(reason, retryAfter: retryAfter))
        }
        var renewed: XeroToken?
        // Access tokens Xero refused (401) during this call; each is reported to the provider,
        // and one it offers again is not sent again.
        var refused: Set<String> = []
        while true {
            let permit: RatePermit
            switch await limiter.admit(tenant: call.tenantId) {
            case let .granted(granted):
                permit = granted
            case let .deferred(retryAfter, reason):
                counters.withLock { $0.deferred += 1 }
                return all(.waiting(reason, retryAfter: retryAfter))
            }
            let availability: TokenAvailability
            if let renewed { availability = .ready(renewed) } else { availability = await provider.token() }
            let token: XeroToken
            switch availability {
            case let .ready(ready):
                token = ready
            case let .paused(reason):
                await limiter.finish(permit, reachedXero: false, headers: nil)
                return all(.paused(reason))
            case let .unavailable(reason, retryAfter):
                await limiter.finish(permit, reachedXero: false, headers: nil)
                return all(.waiting(reason, retryAfter: retryAfter))
            }
            counters.withLock { $0.apiCalls += 1 }
            let answer = await transport.send(request(call, token: token))
            switch answer {
            case let .failure(failure):
                await limiter.finish(permit, reachedXero: !isInvalidURL(failure), headers: nil)
                counters.withLock { $0.transportFailures += 1 }
                if case .invalidURL = failure { return all(.refused("the URL cannot be used: \(call.url)")) }
                return all(.retryable("no answer from Xero: \(failure)", retryAfter: nil))
            case let .success(response):
                let headers = RateLimitHeaders(response)
                await limiter.finish(permit, reachedXero: true, headers: headers)
                counters.withLock { $0.statuses[response.status, default: 0] += 1 }
                if response.status == 401 && refused.count < Self.maxRefusedTokens {
                    counters.withLock { $0.unauthorized += 1 }
                    refused.insert(token.accessToken)
                    switch await provider.tokenRejected(token) {
                    case let .ready(fresh) where !refused.contains(fresh.accessToken):
                        renewed = fresh
                        continue
                    case .ready:
                        return all(.paused("Xero refused every access token on offer (401); provide a working one, then SIGHUP"))
                    case let .paused(reason): return all(.paused(reason))
                    case let .unavailable(reason, retryAfter): return all(.waiting(reason, retryAfter: retryAfter))
                    }
                }
                return await interpret(response, headers: headers, call: call)
            }
        }
    }

    /// How many refused tokens one call tries before it stops: a provider that mints a new
    /// token on every rejection (refresh, client credentials) must not loop for ever.
    static let maxRefusedTokens = 4

    private func isInvalidURL(_ failure: TransportFailure) -> Bool {
        if case .invalidURL = failure { return true }
        return false
    }

    private func request(_ call: FetchPlan.Call, token: XeroToken) -> OutboundRequest {
        var headers: [(name: String, value: String)] = [
            (name: "Authorization", value: "Bearer \(token.accessToken)"),
            (name: "Accept", value: "application/json"),
        ]
        // The App Store API takes no tenant header: the event's tenantId is the ApplicationID.
        if call.kind != .subscription { headers.append((name: "xero-tenant-id", value: call.tenantId)) }
        return OutboundRequest(method: "GET", url: call.url, headers: headers, timeout: configuration.requestTimeout)
    }

    private func interpret(_ response: InboundResponse, headers: RateLimitHeaders,
                           call: FetchPlan.Call) async -> [ResourceKey: FetchOutcome] {
        func all(_ outcome: FetchOutcome) -> [ResourceKey: FetchOutcome] {
            Dictionary(uniqueKeysWithValues: call.keys.map { ($0, outcome) })
        }
        let detail = ResponseRecords.errorDetail(response.body).map { ": \($0)" } ?? ""
        switch response.status {
        case 200:
            return records(response.body, call: call)
        case 401:
            counters.withLock { $0.unauthorized += 1 }
            return all(.retryable("Xero refused \(Self.maxRefusedTokens + 1) access tokens in a row (401)\(detail)",
                                  retryAfter: nil))
        case 403 where call.kind == .subscription:
            // The App Store API's tenant is the app itself: a 403 is about the billing token.
            return all(.paused("Xero refused the App Store billing token (403)\(detail): the client needs the "
                + "marketplace.billing scope; fix the credentials, then SIGHUP"))
        case 403:
            return all(.disconnected("Xero refused access for tenant \(call.tenantId) (403)\(detail): the tenant is not "
                + "connected to the app (or the granted scopes do not cover this resource); reconnect it, then SIGHUP"))
        case 400 where call.isSplittable:
            return all(.permanent(FetchPlan.Call.rejectedBatch))
        case 404 where call.kind != .single && call.kind != .subscription:
            return all(.retryable("Xero answered 404 to a batch request (URL too long?)", retryAfter: nil))
        case 404:
            return all(.notFound)
        case 429:
            counters.withLock { $0.rateLimited += 1 }
            let wait = await limiter.park(tenant: call.tenantId, problem: headers.problem, retryAfter: headers.retryAfter)
            let problem = headers.problem ?? "unspecified"
            return all(.waiting("Xero rate limit reached (\(problem)); the tenant is parked", retryAfter: wait))
        case 500...599:
            return all(.retryable("Xero answered \(response.status)\(detail)", retryAfter: headers.retryAfter))
        case 300...399:
            return all(.permanent("Xero answered a redirect (\(response.status)); redirects are not followed"))
        default:
            return all(.permanent("Xero answered \(response.status)\(detail)"))
        }
    }

    private func records(_ body: [UInt8], call: FetchPlan.Call) -> [ResourceKey: FetchOutcome] {
        var outcomes: [ResourceKey: FetchOutcome] = [:]
        switch call.kind {
        case let .batch(collection, idKey):
            guard let found = ResponseRecords.batch(body, collection: collection, idKey: idKey) else {
                for key in call.keys { outcomes[key] = .retryable("Xero's answer has no \(collection) array", retryAfter: nil) }
                return outcomes
            }
            for key in call.keys { outcomes[key] = found[key.resourceID].map { .found($0) } ?? .notFound }
        case .single, .subscription:
            for key in call.keys {
                outcomes[key] = ResponseRecords.single(body, resource: call.resource, resourceId: key.resourceID)
                    ?? .retryable("Xero's answer is not JSON", retryAfter: nil)
            }
        }
        return outcomes
    }
}
