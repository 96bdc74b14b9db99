import ByteJSON

/// One entry of `GET {api}/connections` (xero-facts §7.3): a tenant the token reaches.
package struct XeroConnection: Sendable, Equatable {
    /// The connection id (used to disconnect).
    package var id: String
    /// The organisation's id: the `tenantId` of its webhook events and the `xero-tenant-id` header.
    package var tenantId: String
    /// `ORGANISATION`, `PRACTICE`, …
    package var tenantType: String
    package var tenantName: String
    /// As Xero sends it (no zone designator).
    package var createdDateUtc: String?
    package var updatedDateUtc: String?

    package init(id: String, tenantId: String, tenantType: String, tenantName: String,
                createdDateUtc: String? = nil, updatedDateUtc: String? = nil) {
        self.id = id
        self.tenantId = tenantId
        self.tenantType = tenantType
        self.tenantName = tenantName
        self.createdDateUtc = createdDateUtc
        self.updatedDateUtc = updatedDateUtc
    }

    /// Parses the `/connections` answer (a JSON array). Nil when it is not one.
    package static func parseList(_ body: [UInt8]) -> [XeroConnection]? {
        guard let root = try? JSONParser.parse(body), let items = root.arrayValue else { return nil }  // reported by the caller
        return items.compactMap { item in
            guard let tenantId = item["tenantId"]?.stringValue else { return nil }
            return XeroConnection(
                id: item["id"]?.stringValue ?? "",
                tenantId: tenantId,
                tenantType: item["tenantType"]?.stringValue ?? "",
                tenantName: item["tenantName"]?.stringValue ?? "",
                createdDateUtc: item["createdDateUtc"]?.stringValue,
                updatedDateUtc: item["updatedDateUtc"]?.stringValue
            )
        }
    }

    /// `GET {api}/connections` (or `url`, another listing on the API origin) with `token`
    /// (Bearer only, no tenant header).
    package static func list(token: XeroToken, configuration: XeroAPIConfiguration, url: String? = nil,
                            transport: any HTTPTransport) async -> Result<[XeroConnection], XeroAPIError> {
        let request = OutboundRequest(
            method: "GET", url: url ?? configuration.connectionsEndpoint,
            headers: [(name: "Authorization", value: "Bearer \(token.accessToken)"), (name: "Accept", value: "application/json")],
            timeout: configuration.requestTimeout
        )
        switch await transport.send(request) {
        case let .failure(failure):
            return .failure(.transport(failure))
        case let .success(response):
            guard response.status == 200 else {
                return .failure(.http(status: response.status, detail: ResponseRecords.errorDetail(response.body)))
            }
            guard let list = parseList(response.body) else {
                return .failure(.unexpectedAnswer("/connections did not answer with a JSON array"))
            }
            return .success(list)
        }
    }
}
