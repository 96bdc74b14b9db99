import DaemonConfig
import PostgresNIO
import Logging

extension PostgresEndpoint {
    /// The client configuration for this endpoint: TLS as `sslmode` says, at most `connections`
    /// connections, none kept open while idle beyond the pool's timeout. Every session commits
    /// synchronously (a server or role default of `synchronous_commit = off` would let a
    /// committed row vanish in a crash) and takes `settings` (further server parameters); its
    /// `application_name` in `pg_stat_activity` is `name`.
    package func clientConfiguration(connections: Int = 4, settings: [(String, String)] = [], name: String = "xero-webhookd") -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let unixSocketPath {
            configuration = .init(unixSocketPath: unixSocketPath, username: user, password: password, database: database)
        } else {
            let mode: PostgresClient.Configuration.TLS = switch tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: mode)
        }
        configuration.options.maximumConnections = connections
        configuration.options.minimumConnections = 0
        configuration.options.additionalStartupParameters = [("application_name", name), ("synchronous_commit", "on")] + settings
        return configuration
    }

    /// Server limits for cluster mode's own sessions, whose statements and transactions are all
    /// short: a lock waited for 10 s, a statement running 30 s or a transaction left idle 30 s
    /// means something is wrong, and the server ends it.
    package static let shortWaits: [(String, String)] = [
        ("lock_timeout", "10000"), ("statement_timeout", "30000"), ("idle_in_transaction_session_timeout", "30000"),
    ]
}

extension PostgresEndpoint {
    /// Opens one connection and closes it again, so a caller learns at once why the server is
    /// out of reach (refused, unknown role, wrong password, no such database). A pool does not
    /// say: its queries wait while it tries again.
    package func probe(name: String = "xero-webhookd", within limit: Duration = .seconds(10)) async throws {
        var configuration: PostgresConnection.Configuration
        if let unixSocketPath {
            configuration = .init(unixSocketPath: unixSocketPath, username: user, password: password, database: database)
        } else {
            let mode: PostgresConnection.Configuration.TLS = switch tls {
            case .disable: .disable
            case .prefer: .prefer(try .init(configuration: .makeClientConfiguration()))
            case .require: .require(try .init(configuration: .makeClientConfiguration()))
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: mode)
        }
        configuration.options.connectTimeout = .milliseconds(Int64(limit.components.seconds * 1000))
        configuration.options.additionalStartupParameters = [("application_name", name)]
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: Logger(label: "xero-webhookd"))
        try await connection.close()
    }
}
