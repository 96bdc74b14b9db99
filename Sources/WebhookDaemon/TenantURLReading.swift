import Foundation
import XeroAPI

/// How the daemon reads `PAN_SEC_XERO_TENANT_URL`. Pandium does not define this secret, so the
/// reading is ours (README, "Pandium secrets"):
/// - a tenant id (a GUID) on its own, in a `tenantId` (or `xero-tenant-id`) query parameter, or
///   as the last path segment of a URL that is not a `/connections` URL: fetch only for that
///   tenant; events of other tenants are refused, naming the variable;
/// - any other URL on the configured API origin (`https://api.xero.com/connections`): GET it
///   with the access token to list the tenants the token may act for; events of unlisted
///   tenants are refused;
/// - anything else (another host naming no tenant): not used, with a warning; nothing is sent there.
enum TenantURLReading {
    static let variable = "PAN_SEC_XERO_TENANT_URL"

    /// The scope and, when the value was not used or needs a word, a note for logs and check-config.
    static func read(environment: [String: String], apiBaseURL: String) -> (scope: TenantScope, note: String?) {
        guard let raw = environment[variable] else { return (.all, nil) }
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        let origin = "environment \(variable)"
        guard !text.isEmpty else { return (.all, "\(variable) is empty: events of every tenant are fetched") }
        if isGUID(text) { return (.only(tenantId: text.lowercased(), origin: origin), nil) }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "https" || scheme == "http", components.host?.isEmpty == false else {
            return (.all, "\(variable) is neither a URL nor a tenant id: not used; events of every tenant are fetched")
        }
        let named = components.queryItems?.first { item in
            ["tenantid", "xero-tenant-id", "tenant_id"].contains(item.name.lowercased()) && isGUID(item.value ?? "")
        }?.value
        let segments = components.path.split(separator: "/")
        let lastSegment = segments.last.map(String.init).flatMap { isGUID($0) ? $0 : nil }
        let isConnections = segments.contains { $0.lowercased() == "connections" }
        if let tenant = named ?? (isConnections ? nil : lastSegment) {
            return (.only(tenantId: tenant.lowercased(), origin: origin), nil)
        }
        let apiOrigin = URLComponents(string: apiBaseURL).map { ($0.scheme?.lowercased(), $0.host?.lowercased(), $0.port) }
        if let apiOrigin, apiOrigin.0 == scheme, apiOrigin.1 == components.host?.lowercased(), apiOrigin.2 == components.port {
            return (.listed(url: text, origin: origin), nil)
        }
        return (.all, "\(variable) is on another host than the Xero API and names no tenant id: not used (no token is "
            + "sent there); events of every tenant are fetched")
    }

    private static func isGUID(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return parts.map(\.count) == [8, 4, 4, 4, 12] && parts.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }
}
