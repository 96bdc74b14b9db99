import ByteJSON
import Foundation

/// What tests arrange before and during a run.
extension FakeXero {
    /// Registers an app's client id and secret. `customConnectionTenant` makes it a Custom
    /// Connection for that organisation (client_credentials); `appStore` lets it get
    /// `marketplace.billing` tokens.
    package func registerClient(id: String, secret: String, customConnectionTenant: String? = nil, appStore: Bool = false) {
        state.withLock {
            $0.clients[id] = .init(secret: secret, customConnectionTenant: customConnectionTenant?.lowercased(), appStore: appStore)
            if let tenant = customConnectionTenant?.lowercased(), $0.tenantNames[tenant] == nil {
                $0.tenantNames[tenant] = "Custom Connection"
            }
        }
    }

    /// Adds an organisation (its name shows in `/connections`).
    package func addTenant(_ id: String, name: String) {
        state.withLock { $0.tenantNames[id.lowercased()] = name }
    }

    /// Registers an authorization code, as if a user had consented for `tenants` in a browser
    /// and Xero had redirected to `redirectURI` with it.
    package func registerAuthorizationCode(_ code: String, clientId: String, redirectURI: String, tenants: [String],
                                          scopes: String = "offline_access accounting.transactions.read accounting.contacts.read") {
        state.withLock {
            $0.codes[code] = .init(clientId: clientId, redirectURI: redirectURI, tenants: tenants.map { $0.lowercased() }, scopes: scopes)
        }
    }

    /// Creates an authorisation for `tenants` and returns its first refresh token, as if the
    /// authorization-code flow had already run.
    package func issueRefreshToken(clientId: String, tenants: [String],
                                  scopes: String = "offline_access accounting.transactions.read accounting.contacts.read") -> String {
        state.withLock { state in
            let grant = state.nextGrant
            state.nextGrant += 1
            state.grants[grant] = .init(clientId: clientId, tenants: tenants.map { $0.lowercased() }, scopes: scopes)
            let token = FakeXeroWire.randomToken("rt")
            state.refreshTokens[token] = .init(grant: grant)
            return token
        }
    }

    /// An access token for `tenants` that lives `lifetime` seconds from now (default: the
    /// configured lifetime; negative: already expired), as another system (Pandium) would hand
    /// one over. Like Xero's, it is a JWT whose `exp` claim is its expiry.
    package func issueAccessToken(tenants: [String], lifetime: Int? = nil, scopes: String = "accounting.transactions.read accounting.contacts.read") -> String {
        state.withLock { state in
            let seconds = lifetime ?? state.options.accessTokenLifetime
            let issued = now()
            let expiry = issued.addingTimeInterval(Double(seconds))
            let token = FakeXeroWire.accessToken(issuedAt: issued, expiresAt: expiry, clientId: nil, scopes: scopes)
            state.accessTokens[token] = .init(grant: nil, tenants: tenants.map { $0.lowercased() }, scopes: scopes, expiresAt: expiry)
            return token
        }
    }

    /// Stores a record. `json` is returned byte for byte inside Xero's wrapper.
    /// `collection` is `Invoices`, `Contacts` or `CreditNotes`.
    package func addRecord(tenant: String, collection: String, id: String, json: String) {
        state.withLock { state in
            var list = state.records[tenant.lowercased(), default: [:]][collection.lowercased(), default: []]
            list.removeAll { $0.id == id.lowercased() }
            list.append((id: id.lowercased(), bytes: Array(json.utf8)))
            state.records[tenant.lowercased(), default: [:]][collection.lowercased()] = list
            let key = FakeXeroState.statusKey(tenant: tenant, collection: collection, id: id)
            let status = (try? JSONParser.parse(Array(json.utf8)))?["ContactStatus"]?.stringValue  // not JSON: no status
            if status?.uppercased() == "ARCHIVED" { state.archived.insert(key) } else { state.archived.remove(key) }
        }
    }

    /// Stores a contact shaped like Xero's with `ContactStatus` (`ACTIVE`, `ARCHIVED`, …).
    /// An archived contact is left out of `GET /Contacts?IDs=…` unless the request has
    /// `includeArchived=true`, as Xero does.
    package func addContact(tenant: String, id: String, status: String) {
        let json = #"{"ContactID":"\#(id)","ContactStatus":"\#(status)","Name":"Contact \#(id.prefix(8))","UpdatedDateUTC":"\#(FakeXeroWire.dotNetDate(now()))"}"#
        addRecord(tenant: tenant, collection: "Contacts", id: id, json: json)
    }

    /// Stores a record shaped like Xero's (member names and order of the captured answers in
    /// `Tests/Fixtures/xero-answers/`, dates as `\/Date(ms+0000)\/`, amounts with two decimals):
    /// an invoice for Invoices, an active contact for Contacts, a credit note for CreditNotes.
    package func addRecord(tenant: String, collection: String, id: String) {
        let updated = FakeXeroWire.dotNetDate(now(), offset: true)
        let day = FakeXeroWire.dotNetDate(Date(timeIntervalSince1970: 1_796_256_000), offset: true)
        let contact = #"{"ContactID":"9b1e7c5d-2a4f-4c6e-a8b0-3d5f7e9c1a24","Name":"Harbour Freight Ltd"}"#
        let line = #"{"Description":"Consulting, \"on site\"","UnitAmount":100.00,"TaxType":"OUTPUT2","TaxAmount":15.00,"LineAmount":100.00,"AccountCode":"200","Quantity":1.0000,"LineItemID":"\#(id)"}"#
        let json = switch collection.lowercased() {
        case "invoices":
            #"{"Type":"ACCREC","InvoiceID":"\#(id)","InvoiceNumber":"INV-\#(id.prefix(4))","Reference":"ref \#(id.prefix(8))","Payments":[],"CreditNotes":[],"AmountDue":115.00,"AmountPaid":0.00,"HasAttachments":false,"Contact":\#(contact),"DateString":"2026-12-03T00:00:00","Date":"\#(day)","Status":"AUTHORISED","LineAmountTypes":"Exclusive","LineItems":[\#(line)],"SubTotal":100.00,"TotalTax":15.00,"Total":115.00,"UpdatedDateUTC":"\#(updated)","CurrencyCode":"NZD"}"#
        case "contacts":
            #"{"ContactID":"\#(id)","ContactStatus":"ACTIVE","Name":"Contact \#(id.prefix(8))","EmailAddress":"accounts@example.com","Addresses":[],"Phones":[],"UpdatedDateUTC":"\#(updated)","IsSupplier":false,"IsCustomer":true}"#
        case "creditnotes":
            #"{"CreditNoteID":"\#(id)","CreditNoteNumber":"CN-\#(id.prefix(4))","Type":"ACCRECCREDIT","Reference":"ref \#(id.prefix(8))","RemainingCredit":115.00,"Contact":\#(contact),"DateString":"2026-12-03T00:00:00","Date":"\#(day)","Status":"AUTHORISED","LineAmountTypes":"Exclusive","LineItems":[\#(line)],"SubTotal":100.00,"TotalTax":15.00,"Total":115.00,"UpdatedDateUTC":"\#(updated)","CurrencyCode":"NZD"}"#
        default:
            #"{"ID":"\#(id)","Status":"AUTHORISED","UpdatedDateUTC":"\#(updated)"}"#
        }
        addRecord(tenant: tenant, collection: collection, id: id, json: json)
    }

    /// Stores an App Store subscription (returned as the whole body).
    package func addSubscription(id: String, json: String) {
        state.withLock { $0.subscriptions[id.lowercased()] = Array(json.utf8) }
    }

    /// Disconnects a tenant from every authorisation: its calls get 403 and `/connections`
    /// stops listing it.
    package func disconnect(tenant: String) {
        state.withLock { _ = $0.disconnected.insert(tenant.lowercased()) }
    }

    /// Connects a disconnected tenant again (as when the user re-authorises it): its calls work
    /// and `/connections` lists it again.
    package func reconnect(tenant: String) {
        state.withLock { _ = $0.disconnected.remove(tenant.lowercased()) }
    }

    /// Answers the next `times` token requests with `status` (the identity server is down).
    package func failTokenRequests(status: Int = 503, times: Int) {
        state.withLock { $0.tokenFailures = (status, times) }
    }

    /// Makes requests that include `id` fail with `status` the next `times` times.
    package func fail(id: String, status: Int = 500, times: Int) {
        state.withLock { $0.failures[id.lowercased()] = (status, times) }
    }

    /// Answers a single GET of `id` with a 302 to `location`.
    package func redirect(id: String, to location: String) {
        state.withLock { $0.redirects[id.lowercased()] = location }
    }

    /// Answers the next `times` accepted calls of `tenant` with 429 and this problem.
    package func force429(tenant: String, problem: String, retryAfter: Int, times: Int = 1) {
        state.withLock { $0.forced429[tenant.lowercased()] = (problem, retryAfter, times) }
    }

    /// Answers the next `times` admitted API calls for `tenant` with `answer`, byte for byte
    /// (e.g. a captured Xero answer). `tenant` may also be `appstore` (App Store calls) or
    /// `connections` (`GET /connections`).
    package func serve(_ answer: CannedAnswer, tenant: String, times: Int = 1) {
        state.withLock { $0.canned[tenant.lowercased(), default: []] += Array(repeating: answer, count: times) }
    }

    /// Processes the next token request (rotating tokens if it is a refresh) but sends no answer,
    /// as when a response is lost on the way; the client's timeout ends the wait.
    package func loseNextTokenResponse() {
        state.withLock { $0.loseTokenResponses += 1 }
    }

    /// Delays every answer (to keep calls in flight for a while).
    package func setResponseDelay(_ delay: Duration) {
        state.withLock { $0.options.responseDelay = delay }
    }

    /// Delays every token answer (so concurrent refreshes overlap).
    package func setTokenDelay(_ delay: Duration) {
        state.withLock { $0.options.tokenDelay = delay }
    }

    /// Sets the lifetime, in seconds, of access tokens issued from now on.
    package func setAccessTokenLifetime(_ seconds: Int) {
        state.withLock { $0.options.accessTokenLifetime = seconds }
    }

    /// Sets the grace window of used refresh tokens.
    package func setRefreshTokenGrace(seconds: Double) {
        state.withLock { $0.options.refreshTokenGraceSeconds = seconds }
    }

    /// Replaces the rate limits.
    package func setLimits(_ limits: FakeXeroOptions.Limits) {
        state.withLock { $0.options.limits = limits }
    }
}

extension FakeXero {
    /// Invalidates every access token issued so far (as when Xero revokes them); refresh
    /// tokens keep working.
    package func revokeAccessTokens() {
        state.withLock { $0.accessTokens.removeAll() }
    }

    /// Invalidates every refresh token issued so far (as when the user revokes the app's
    /// connection): each is then answered with `invalid_grant`.
    package func revokeRefreshTokens() {
        state.withLock { $0.refreshTokens.removeAll() }
    }
}
