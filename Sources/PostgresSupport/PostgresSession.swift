import Logging
import NIOCore
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
///
/// A call whose task is cancelled (a `Deadline` that passed: a server that stopped answering, a
/// network that dropped the packets) closes its connection too, so the statement waiting on it
/// fails and the pool gets the slot back instead of losing it for good.
package enum PostgresSession {
    /// Runs `body` on a pooled connection, closing it when `body` fails in a way that ends the
    /// session or the caller is cancelled. With `idempotent` (a read, or a write that may be
    /// applied twice), a failure that ended the session is tried again on another connection, up
    /// to nine times: the server may have ended idle pooled sessions.
    package static func with<T: Sendable>(_ client: PostgresClient, idempotent: Bool = false,
                                          _ body: (PostgresConnection) async throws -> T) async throws -> T {
        var tries = 0
        while true {
            tries += 1
            do {
                return try await once(client, body)
            } catch where idempotent && tries < 9 && !continues(after: error) && !Task.isCancelled && !(error is CancellationError) {
                continue
            }
        }
    }

    private static func once<T: Sendable>(_ client: PostgresClient, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await withTaskCancellationHandler {
                do {
                    return try await body(connection)
                } catch {
                    if !continues(after: error) { try? await connection.close() }
                    throw error
                }
            } onCancel: {
                let close: () -> EventLoopFuture<Void> = connection.close
                _ = close()
            }
        }
    }

    /// `BEGIN`, `body`, `COMMIT`; on a failure that leaves the session usable, `ROLLBACK`
    /// (and when that fails too, the connection is closed). A `BEGIN` that fails because its
    /// pooled connection was dead (the server ended the idle session) is tried again on another,
    /// up to nine times: nothing of the transaction had been sent.
    package static func transaction<T: Sendable>(_ client: PostgresClient, logger: Logger,
                                                 _ body: (PostgresConnection) async throws -> T) async throws -> T {
        // As many tries as a pool may hold dead connections, and one more.
        var tries = 0
        while true {
            tries += 1
            do {
                return try await attempt(client, logger: logger, body)
            } catch let failed as BeginFailed {
                guard tries < 9, !continues(after: failed.error) else { throw failed.error }
            }
        }
    }

    private struct BeginFailed: Error {
        let error: any Error
    }

    private static func attempt<T: Sendable>(_ client: PostgresClient, logger: Logger,
                                             _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await once(client) { connection in
            do {
                try await connection.query("BEGIN", logger: logger)
            } catch {
                if !continues(after: error) { try? await connection.close() }
                throw BeginFailed(error: error)
            }
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
