import Foundation
import XeroAPI

/// How the daemon reads `PAN_SEC_XERO_TENANT_URL`. Pandium does not define this secret, so the
/// reading is ours (README, "Pandium secrets"):
/// - a tenant id (a GUID, bare or in braces) on its own, in a `tenantId` (or `xero-tenant-id`)
///   query parameter, or as the last path segment of a URL (`/connections/{id}` included): fetch
///   only for that tenant; events of other tenants are refused, naming the variable;
/// - any other http(s) URL on the configured API origin (`URLOrigin`, the rule the client uses,
///   so `:443` is the default port), such as `https://api.xero.com/connections`: GET it with the
///   access token to list the tenants the token may act for; events of unlisted tenants are
///   refused, and nothing is fetched while no listing has succeeded;
/// - anything else (user info in the URL, another host or scheme naming no tenant, not a URL):
///   fetch for no tenant, with a reason that shows the value masked; nothing is sent there.
/// An unset or empty variable means every tenant.
package enum TenantURLReading {
    package static let variable = "PAN_SEC_XERO_TENANT_URL"

    /// The scope and, when the value was not used or needs a word, a note for logs and
    /// check-config. Neither ever holds the value's user info or query values.
    package static func read(environment: [String: String], apiBaseURL: String) -> (scope: TenantScope, note: String?) {
        guard let raw = environment[variable] else { return (.all, nil) }
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        let origin = "environment \(variable)"
        guard !text.isEmpty else { return (.all, "\(variable) is empty: events of every tenant are fetched") }
        func unusable(_ why: String) -> (TenantScope, String?) {
            let reason = "\(variable) (\(masked(text))) \(why): it is not used, and no organisation's events are fetched "
                + "until it is fixed"
            return (.noTenant(reason: reason), reason)
        }
        if let tenant = guid(text) { return (.only(tenantId: tenant, origin: origin), nil) }
        guard let components = URLComponents(string: text) else {
            return unusable("is neither a URL nor a tenant id")
        }
        guard components.percentEncodedUser == nil && components.percentEncodedPassword == nil else {
            return unusable("carries user info (a name or password) in the URL")
        }
        let named = components.queryItems?.lazy.filter { item in
            ["tenantid", "xero-tenant-id", "tenant_id"].contains(item.name.lowercased())
        }.compactMap { guid($0.value ?? "") }.first
        let lastSegment = components.path.split(separator: "/").last.flatMap { guid(String($0)) }
        if let tenant = named ?? lastSegment {
            return (.only(tenantId: tenant, origin: origin), nil)
        }
        guard let apiOrigin = URLOrigin(apiBaseURL) else {
            return unusable("cannot be checked against xero.apiBaseURL, which is not an http(s) URL")
        }
        guard let target = URLOrigin(text) else {
            return unusable("is not an absolute http(s) URL and names no tenant id")
        }
        guard target == apiOrigin else {
            return unusable("is on \(target), not on the Xero API origin \(apiOrigin), and names no tenant id "
                + "(no token is sent there)")
        }
        return (.listed(url: text, origin: origin), nil)
    }

    /// The value as it may be shown: scheme, host, port and path of a URL (at most 100
    /// characters), with user info and the query replaced by `…`; anything else only by length.
    package static func masked(_ text: String) -> String {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              let host = components.percentEncodedHost, !host.isEmpty else {
            return "a value of \(text.count) characters, not shown"
        }
        let user = components.percentEncodedUser != nil || components.percentEncodedPassword != nil ? "…@" : ""
        let port = components.port.map { ":\($0)" } ?? ""
        let query = components.percentEncodedQuery != nil ? "?…" : ""
        return String("\(scheme)://\(user)\(host)\(port)\(components.percentEncodedPath)".prefix(100)) + query
    }

    /// The lower-cased tenant id `text` is: a GUID, bare or in braces (`{…}`, the registry form).
    private static func guid(_ text: String) -> String? {
        var text = Substring(text)
        if text.hasPrefix("{") && text.hasSuffix("}") && text.count >= 2 { text = text.dropFirst().dropLast() }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [8, 4, 4, 4, 12],
              parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isHexDigit } }) else { return nil }
        return text.lowercased()
    }
}
