import PostgresNIO

/// What went wrong at the server, in one line: its message and SQLSTATE (PSQLError's own
/// description hides them), or for a transaction the step that failed.
package enum PostgresErrorText {
    package static func describe(_ error: any Error) -> String {
        if let error = error as? PostgresTransactionError {
            // What failed inside the transaction, not the whole record of BEGIN, body, ROLLBACK.
            if let inner = error.beginError ?? error.closureError ?? error.commitError { return describe(inner) }
        }
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            }
            // A connection that failed: the system's reason (refused, unreachable, timed out).
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }

    /// Whether `error` refuses the data of the statement (SQLSTATE class 22, data exception; 23,
    /// integrity constraint; 54, a limit such as an oversized value), with the session still usable:
    /// the same statement with other rows could succeed.
    package static func refusesData(_ error: any Error) -> Bool {
        let inner = (error as? PostgresTransactionError)?.closureError ?? error
        guard let error = inner as? PSQLError, PostgresSession.continues(after: error), let state = error.serverInfo?[.sqlState] else { return false }
        return ["22", "23", "54"].contains(String(state.prefix(2)))
    }
}
