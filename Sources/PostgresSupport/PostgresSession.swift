import Logging
import PostgresNIO

/// Every statement the daemon sends goes through here, on a pooled connection.
///
/// When the server ends a session while a statement runs (`pg_terminate_backend`, a shutdown,
/// a failover: an error of severity FATAL before the socket closes), postgres-nio 1.33 keeps
/// that connection waiting for a `ReadyForQuery` that never comes: the next statement sent on
/// it, such as PostgresClient's own `ROLLBACK`, or the next lease's first query, is never
/// answered. So a failure that leaves the session usable (severity ERROR) is handled as usual,
/// and any other closes the connection before it goes back to the pool, without another
/// statement; the server ends an open transaction with the session.
package enum PostgresSession {
    /// Runs `body` on a pooled connection, closing it when `body` fails in a way that ends the session.
    package static func with<T: Sendable>(_ client: PostgresClient, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            do {
                return try await body(connection)
            } catch {
                if !continues(after: error) { try? await connection.close() }
                throw error
            }
        }
    }

    /// `BEGIN`, `body`, `COMMIT`; on a failure that leaves the session usable, `ROLLBACK`
    /// (and when that fails too, the connection is closed).
    package static func transaction<T: Sendable>(_ client: PostgresClient, logger: Logger,
                                                 _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await with(client) { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                let value = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return value
            } catch {
                guard continues(after: error) else { throw error }
                do {
                    try await connection.query("ROLLBACK", logger: logger)
                } catch {
                    try? await connection.close()
                }
                throw error
            }
        }
    }

    /// Whether a session can take another statement after `error`: only when the server refused
    /// a statement with severity ERROR (a constraint, a timeout, a lock it could not take).
    /// A FATAL or PANIC refusal, a closed connection or a cancelled task end it.
    package static func continues(after error: any Error) -> Bool {
        guard let error = error as? PSQLError, error.code == .server, let severity = error.serverInfo?[.severity] else { return false }
        return severity == "ERROR"
    }
}
