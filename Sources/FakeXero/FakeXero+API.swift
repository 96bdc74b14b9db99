import Foundation
import HTTPServer

/// The accounting API, `/connections` and the App Store API (xero-facts §5, §7.3).
extension FakeXero {
    static let collections = ["invoices": "Invoices", "contacts": "Contacts", "creditnotes": "CreditNotes"]
    static let batchable: Set<String> = ["Invoices", "Contacts"]
    static let singular = ["Invoices": "Invoice", "Contacts": "Contact", "CreditNotes": "CreditNote"]
    static let idKeys = ["Invoices": "InvoiceID", "Contacts": "ContactID", "CreditNotes": "CreditNoteID"]

    /// Checks the bearer token. Returns it and its record, or the 401 to send.
    func authenticate(_ request: HTTPRequest, state: inout FakeXeroState)
        -> Gate<(token: String, record: FakeXeroState.AccessToken, checkIssuedWith: String?)> {
        let header = request.head.headers["Authorization"] ?? ""
        let token = header.lowercased().hasPrefix("bearer ") ? String(header.dropFirst(7)) : ""
        guard var record = state.accessTokens[token] else {
            state.stats.unauthorized += 1
            return .stop(Self.problem(401, title: "Unauthorized", detail: "AuthenticationUnsuccessful"))
        }
        guard record.expiresAt > now() else {
            state.stats.unauthorized += 1
            return .stop(Self.problem(401, title: "Unauthorized", detail: "TokenExpired: token expired at \(Self.usDateTime(record.expiresAt))"))
        }
        var check: String?
        if !record.used {
            record.used = true
            state.accessTokens[token] = record
            check = record.issuedWith
        }
        return .pass((token, record, check))
    }

    /// Runs the test's first-use check outside the lock.
    func runFirstUseCheck(_ refreshToken: String?) {
        guard let refreshToken, let check = firstUseCheck.withLock({ $0 }) else { return }
        let holds = check(refreshToken)
        state.withLock {
            $0.stats.firstUseChecks += 1
            if !holds { $0.stats.firstUseViolations += 1 }
        }
    }

    func connections(_ request: HTTPRequest) -> HTTPResponse {
        let (answer, check) = state.withLock { state -> (HTTPResponse, String?) in
            switch authenticate(request, state: &state) {
            case let .stop(response): return (response, nil)
            case let .pass((_, record, check)):
                if let canned = state.takeCanned("connections") { return (canned.response, check) }
                let items = state.tenants(of: record).map { tenant in
                    let name = state.tenantNames[tenant] ?? "Organisation \(tenant.prefix(8))"
                    return #"{"id":"\#(UUID().uuidString.lowercased())","authEventId":"\#(UUID().uuidString.lowercased())","tenantId":"\#(tenant)","tenantType":"ORGANISATION","tenantName":\#(FakeXeroWire.quoted(name)),"createdDateUtc":"2019-12-07T18:46:19.5165400","updatedDateUtc":"2019-12-07T18:46:19.5187840"}"#
                }
                // Tenantless: only the app-wide counter applies (xero-answers/connections-200.http).
                let remaining = (name: "x-appminlimit-remaining", value: "\(max(0, state.options.limits.perMinuteApp - state.appArrivals.count))")
                return (Self.jsonResponse(200, "[" + items.joined(separator: ",") + "]", headers: [remaining]), check)
            }
        }
        runFirstUseCheck(check)
        return answer
    }

    func handleAccounting(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let target = request.head.target
        let url = baseURL + target
        let segments = request.head.path.dropFirst("/api.xro/2.0/".count).split(separator: "/").map(String.init)
        let collection = segments.first.flatMap { Self.collections[$0.lowercased()] }
        let single = segments.count == 2
        let endpoint = (collection ?? "?") + (single ? "/{id}" : "?IDs")
        count(endpoint)
        state.withLock { $0.stats.longestURL = max($0.stats.longestURL, url.utf8.count) }

        // Xero's front end refuses long URLs before looking at anything else.
        if url.utf8.count > state.withLock({ $0.options.maxURLLength }) {
            let tenant = request.head.headers["xero-tenant-id"]?.lowercased() ?? ""
            let headers = state.withLock { state in
                state.stats.urlTooLong += 1
                return remainingHeaders(tenant: tenant, state: state)
            }
            return responder.send(Self.notFoundPage(headers: headers))
        }
        guard let collection, segments.count <= 2, single || Self.batchable.contains(collection) else {
            return responder.send(Self.notFoundPage())
        }
        let (admitted, check) = state.withLock { state -> (Gate<(tenant: String, headers: [(name: String, value: String)])>, String?) in
            switch authenticate(request, state: &state) {
            case let .stop(response): return (.stop(response), nil)
            case let .pass((_, record, check)):
                let reachable = state.tenants(of: record)
                let tenant = request.head.headers["xero-tenant-id"]?.lowercased()
                    ?? (record.grant == nil && !record.billing && reachable.count == 1 ? reachable[0] : nil)
                guard let tenant, reachable.contains(tenant) else {
                    state.stats.forbidden += 1
                    return (.stop(Self.problem(403, title: "Forbidden", detail: "AuthenticationUnsuccessful")), check)
                }
                switch admit(tenant: tenant, state: &state) {
                case let .stop(response): return (.stop(response), check)
                case let .pass(headers):
                    state.stats.callsByTenant[tenant, default: [:]][endpoint, default: 0] += 1
                    if let canned = state.takeCanned(tenant) {
                        state.load[tenant]?.inFlight -= 1
                        return (.stop(canned.response), check)
                    }
                    return (.pass((tenant, headers)), check)
                }
            }
        }
        runFirstUseCheck(check)
        switch admitted {
        case let .stop(response):
            responder.send(response)
        case let .pass((tenant, headers)):
            let ids = single ? [segments[1]] : nil
            let response = accountingAnswer(request, tenant: tenant, collection: collection, singleIDs: ids, headers: headers)
            send(response, to: responder) { [self] in finished(tenant: tenant) }
        }
    }

    private func accountingAnswer(_ request: HTTPRequest, tenant: String, collection: String, singleIDs: [String]?,
                                  headers: [(name: String, value: String)]) -> HTTPResponse {
        let query = FakeXeroWire.query(request.head.target)
        let ids: [String]
        if let singleIDs {
            ids = singleIDs
        } else {
            let params = FakeXeroWire.pairs(query, plusIsSpace: false).filter { $0.0.lowercased() == "ids" }
            // Xero's parser wants one IDs parameter with literal commas (xero-facts §5.2).
            guard params.count == 1, !query.lowercased().contains("%2c") else {
                state.withLock { $0.stats.unparseableIDs += 1 }
                return Self.plainText(400, "Supplied parameter 'Ids' cannot be parsed.", headers: headers)
            }
            ids = params[0].1.split(separator: ",").map { String($0).lowercased() }
            // Xero parses every id as a GUID: one that is not fails the whole request.
            guard ids.allSatisfy(FakeXeroWire.isGUID) else {
                state.withLock { $0.stats.malformedIDs += 1 }
                return Self.plainText(400, "Supplied parameter 'Ids' cannot be parsed - must be of type UUID.", headers: headers)
            }
        }
        // Like Xero, a list leaves archived contacts out unless asked for them (xero-facts §5.2).
        let hideArchived = singleIDs == nil && !FakeXeroWire.pairs(query, plusIsSpace: false)
            .contains { $0.0.lowercased() == "includearchived" && $0.1.lowercased() == "true" }
        return state.withLock { state -> HTTPResponse in
            for id in ids {
                if let failure = state.failures[id.lowercased()], failure.remaining > 0 {
                    state.failures[id.lowercased()] = (failure.status, failure.remaining - 1)
                    return Self.failureAnswer(failure.status, headers: headers)
                }
            }
            if singleIDs != nil, let location = state.redirects[ids[0].lowercased()] {
                return HTTPResponse(status: 302, headers: headers + [(name: "Location", value: location)])
            }
            let found = ids.compactMap { id in state.record(tenant: tenant, collection: collection, id: id, hidingArchived: hideArchived).map { (id, $0) } }
            if singleIDs != nil && found.isEmpty {
                return Self.notFoundPage(headers: headers)
            }
            let json = (request.head.headers["Accept"] ?? "").lowercased().contains("application/json")
            if !json {
                state.stats.xmlAnswers += 1
                return xmlAnswer(collection: collection, ids: found.map(\.0), headers: headers)
            }
            let pagination = singleIDs == nil && query.lowercased().contains("page=") ? found.count : nil
            return envelope(collection: collection, records: found.map(\.1), pagination: pagination, headers: headers)
        }
    }

    private func xmlAnswer(collection: String, ids: [String], headers: [(name: String, value: String)]) -> HTTPResponse {
        let element = Self.singular[collection] ?? "Item"
        let idKey = Self.idKeys[collection] ?? "ID"
        var xml = #"<Response xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><Id>\#(UUID().uuidString.lowercased())</Id><Status>OK</Status><ProviderName>xero-webhookd</ProviderName><\#(collection)>"#
        for id in ids { xml += "<\(element)><\(idKey)>\(id)</\(idKey)></\(element)>" }
        xml += "</\(collection)></Response>"
        return HTTPResponse(status: 200, headers: [(name: "Content-Type", value: "text/xml; charset=utf-8")] + headers, body: Array(xml.utf8))
    }

    func handleSubscription(_ request: HTTPRequest, _ responder: HTTPResponder) {
        count("subscriptions/{id}")
        let id = request.head.path.split(separator: "/").last.map { String($0).lowercased() } ?? ""
        let (answer, admittedKey) = state.withLock { state -> (HTTPResponse, String?) in
            switch authenticate(request, state: &state) {
            case let .stop(response): return (response, nil)
            case let .pass((_, record, _)):
                guard record.billing else {
                    state.stats.forbidden += 1
                    return (Self.problem(403, title: "Forbidden", detail: "The token lacks the marketplace.billing scope"), nil)
                }
                switch admit(tenant: "appstore", state: &state) {
                case let .stop(response): return (response, nil)
                case let .pass(headers):
                    state.stats.callsByTenant["appstore", default: [:]]["subscriptions/{id}", default: 0] += 1
                    if let canned = state.takeCanned("appstore") { return (canned.response, "appstore") }
                    guard let body = state.subscriptions[id] else {
                        return (Self.jsonResponse(404, #"{"type":null,"title":"Not Found","status":404,"detail":"Subscription not found","instance":"\#(UUID().uuidString.lowercased())","extensions":{}}"#,
                                                  headers: headers), "appstore")
                    }
                    return (HTTPResponse(status: 200, headers: [Self.jsonContentType] + headers, body: body), "appstore")
                }
            }
        }
        if let admittedKey {
            send(answer, to: responder) { [self] in finished(tenant: admittedKey) }
        } else {
            responder.send(answer)
        }
    }
}
