import Foundation

/// Where the postgres sink connects: a `postgres://user:password@host:port/database?sslmode=…`
/// URL taken apart. `?host=/run/postgresql` (as libpq reads it) names a Unix socket directory
/// instead of a TCP host. The password is never part of `description`.
package struct PostgresEndpoint: Sendable, Equatable, CustomStringConvertible {
    /// `sslmode`: `disable` (plain), `prefer` (TLS when the server offers it, the default) or
    /// `require`; `verify-ca` and `verify-full` are `require`. TLS always verifies the
    /// server's certificate against the system's trust store.
    package enum TLSMode: String, Sendable, Equatable { case disable, prefer, require }

    package var host: String
    package var port: Int
    /// The socket file (`<directory>/.s.PGSQL.<port>`) when the URL names a socket directory.
    package var unixSocketPath: String?
    package var user: String
    package var password: String?
    package var database: String
    package var tls: TLSMode

    package var description: String {
        let place = unixSocketPath ?? "\(host.contains(":") ? "[\(host)]" : host):\(port)"
        return "postgres://\(user)\(password == nil ? "" : ":***")@\(place)/\(database) (sslmode \(tls.rawValue))"
    }

    /// Why `text` is not a usable URL, as a sentence; the URL itself is not repeated (it may hold a password).
    package struct Invalid: Error, Equatable {
        package let reason: String
    }

    package static func parse(_ text: String) throws(Invalid) -> PostgresEndpoint {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw Invalid(reason: "is not a URL (postgres://user:password@host:5432/database)")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw Invalid(reason: "scheme \"\(scheme)\" is not postgres or postgresql")
        }
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw Invalid(reason: "names no user (postgres://user@host/database)")
        }
        var port = 5432
        if let given = components.port {
            guard (1...65_535).contains(given) else { throw Invalid(reason: "port \(given) is not a port (1-65535)") }
            port = given
        }
        let path = components.percentEncodedPath.removingPercentEncoding ?? ""
        let database = path.hasPrefix("/") ? String(path.dropFirst()) : path
        guard !database.contains("/") else { throw Invalid(reason: "database name \"\(database)\" contains a slash") }
        var endpoint = PostgresEndpoint(
            host: (components.host ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port, unixSocketPath: nil, user: user,
            password: components.percentEncodedPassword.flatMap { $0.removingPercentEncoding },
            database: database.isEmpty ? user : database, tls: .prefer
        )
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                switch item.value ?? "" {
                case "disable": endpoint.tls = .disable
                case "allow", "prefer": endpoint.tls = .prefer
                case "require", "verify-ca", "verify-full": endpoint.tls = .require
                case let other: throw Invalid(reason: "sslmode \"\(other)\" is not one of disable, prefer, require, verify-ca, verify-full")
                }
            case "host":
                guard let directory = item.value, directory.hasPrefix("/") else {
                    throw Invalid(reason: "the host parameter must be a socket directory (an absolute path)")
                }
                endpoint.unixSocketPath = directory + "/.s.PGSQL.\(port)"
            case "application_name", "connect_timeout":
                break  // accepted for compatibility with libpq URLs; the sink sets its own
            default:
                throw Invalid(reason: "parameter \"\(item.name)\" is not supported (sslmode, host)")
            }
        }
        guard endpoint.unixSocketPath != nil || !endpoint.host.isEmpty else {
            throw Invalid(reason: "names no host (postgres://user@host/database, or ?host=/socket/directory)")
        }
        return endpoint
    }
}
