import Foundation
import ResourceFetch

/// Decides, for one event, which record to fetch and from where, or why it must not be fetched.
///
/// Only what the event names is fetched: the request URL is built from the category's
/// collection and the event's `resourceId` against the configured API base, never taken from
/// the event. A non-empty `resourceUrl` must name that same resource: the configured origin
/// (scheme and host compared without regard to case), a path without dot segments, empty
/// segments or percent-encoding, no query or fragment, and exactly `…/{collection}/{resourceId}`;
/// an unknown category may not name a known category's collection. Anything else is refused
/// before a token is used, so a forged or odd event can neither send the token elsewhere nor
/// make the client deliver another resource as this one.
enum ResourceAddress {
    enum Resolution: Sendable, Equatable {
        /// GET `url` (or batch it with others of the same kind).
        case fetch(kind: ResourceKind, url: String)
        /// Decided without a request.
        case decided(FetchOutcome)
    }

    static func resolve(_ request: FetchRequest, configuration: XeroAPIConfiguration, origin: URLOrigin) -> Resolution {
        let key = request.key
        guard XeroIdentifier.isSafe(key.tenantID) else {
            return .decided(.refused("the tenant id is not a Xero id (letters, digits and '-' only), so it is not sent"))
        }
        guard XeroIdentifier.isGUID(key.resourceID) else {
            return .decided(.refused("the resource id is not a GUID (Xero ids are 8-4-4-4-12 hexadecimal digits), so it is not sent"))
        }
        let category = key.category
        let known = ResourceKind.known[category]
        guard !request.resourceURL.isEmpty else {
            guard let known else {
                return .decided(.permanent("the event has no resourceUrl and category \(category) has no known address"))
            }
            return .fetch(kind: known, url: known.singleURL(key.resourceID, configuration: configuration))
        }
        guard let target = URLOrigin(request.resourceURL), let components = URLComponents(string: request.resourceURL) else {
            return .decided(.refused("the resourceUrl is not an absolute http(s) URL without user info"))
        }
        guard target == origin else {
            return .decided(.refused("the resourceUrl points to \(target), not to the configured API origin \(origin); "
                + "no token is sent there"))
        }
        let path = components.percentEncodedPath
        let shown = String(path.prefix(200))
        guard components.percentEncodedQuery == nil, components.fragment == nil else {
            return .decided(.refused("the resourceUrl has a query or a fragment; a Xero resource URL has neither"))
        }
        guard !path.contains("%") else {
            return .decided(.refused("the resourceUrl path \(shown) is percent-encoded; a Xero resource path never is"))
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard !segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            return .decided(.refused("the resourceUrl path \(shown) has dot or empty segments"))
        }
        let kind: ResourceKind
        if let known {
            kind = known
        } else {
            // An unknown category (Xero adds categories): accept only `/api.xro/2.0/{Letters}/{resourceId}`.
            let collection = segments.count >= 2 ? String(segments[segments.endIndex - 2]) : ""
            guard !collection.isEmpty, collection.utf8.allSatisfy({ ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A }) else {
                return .decided(.refused("the resourceUrl path \(shown) does not name a collection and the \(category) \(key.resourceID)"))
            }
            // A known category's collection holds that category's records: an event of another
            // category naming it would deliver, say, an invoice as something else.
            if let owner = ResourceKind.known.first(where: { $0.value.collection.lowercased() == collection.lowercased() }) {
                return .decided(.refused("the resourceUrl names the \(owner.value.collection) collection, which holds \(owner.key) "
                    + "records, for an event of category \(category); it is not fetched"))
            }
            kind = ResourceKind(api: .accounting, collection: collection, idKey: nil)
        }
        let url = kind.singleURL(key.resourceID, configuration: configuration)
        let expected = URLComponents(string: url)?.percentEncodedPath ?? url
        guard path.lowercased() == expected.lowercased() else {
            return .decided(.refused("the resourceUrl path \(shown) does not name the \(category) \(key.resourceID) "
                + "(expected \(expected)); it is not fetched"))
        }
        return .fetch(kind: kind, url: url)
    }
}
