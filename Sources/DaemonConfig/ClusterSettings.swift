/// Cluster mode (`cluster` in the config): several daemons behind one load balancer share
/// state through PostgreSQL. Today that is the refresh-token set (`xero.auth.mode: refreshToken`):
/// one row, renewed under a row lock, so exactly one refresh is in flight across all daemons.
/// The URL comes from `cluster.postgresURL`, else `XERO_WEBHOOKD_POSTGRES_URL`, else the systemd
/// credential `postgres-url`.
package struct ClusterSettings: Sendable, Equatable {
    package var postgresURL: String?
    /// The table holding the token set.
    package var tokenTable = "xero_webhookd_tokens"

    package init() {}

    /// The schema of `tokenTable` (nil: none named, the search path's first): cluster mode's
    /// other tables (queue, rate budget) go beside it.
    package var schema: String? {
        tokenTable.split(separator: ".").dropLast().first.map(String.init)
    }

    /// The endpoint and where its URL came from; a ConfigError names that source and the problem.
    package func endpoint(environment: [String: String]) throws(ConfigError) -> (endpoint: PostgresEndpoint, source: String) {
        let (text, source) = try PostgresSinkSettings.url(configured: postgresURL, key: "cluster.postgresURL", for: "cluster mode",
                                                          environment: environment)
        do {
            return (try PostgresEndpoint.parse(text), source)
        } catch {
            throw ConfigError(source, error.reason)
        }
    }

    static func apply(_ o: ConfigObject, to config: inout DaemonConfig) throws(ConfigError) {
        try o.rejectUnknown(["postgresURL", "tokenTable"])
        var cluster = ClusterSettings()
        if let url = try o.string("postgresURL") {
            guard !url.isEmpty else { throw ConfigError("cluster.postgresURL", "is empty") }
            cluster.postgresURL = url
        }
        if let table = try o.string("tokenTable") {
            if let problem = PostgresSinkSettings.tableProblem(table) { throw ConfigError("cluster.tokenTable", problem) }
            cluster.tokenTable = table
        }
        config.cluster = cluster
    }
}
