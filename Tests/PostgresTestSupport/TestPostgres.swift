import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The one throwaway cluster a test process shares, started at first use and stopped at exit.
/// Tests that need it take `.enabled(if: TestPostgres.runs)`: they are skipped, with the reason
/// printed, only when no server could be started — and never under `CI=true`, where they run
/// and fail on `server()` instead, so CI cannot pass without PostgreSQL.
package enum TestPostgres {
    private static let shared: Result<ThrowawayPostgres, ThrowawayPostgres.Unavailable> = {
        let result = Result { () throws(ThrowawayPostgres.Unavailable) in try ThrowawayPostgres.start() }
        switch result {
        case let .success(cluster):
            started.withLock { $0 = cluster }
            atexit { TestPostgres.stopAtExit() }
        case let .failure(problem):
            let line = "PostgreSQL tests: no server could be started: \(problem)\n"
            _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        }
        return result
    }()

    private static let started = Mutex<ThrowawayPostgres?>(nil)

    private static func stopAtExit() {
        started.withLock { cluster in
            cluster?.stop()
            cluster = nil
        }
    }

    /// Whether CI is running this (`CI=true`): then a missing server fails the tests.
    package static var underCI: Bool {
        let value = ProcessInfo.processInfo.environment["CI"]?.lowercased() ?? ""
        return !value.isEmpty && value != "false" && value != "0"
    }

    /// For `.enabled(if:)`: true when a server runs, and always under CI.
    package static var runs: Bool {
        if underCI { return true }
        if case .success = shared { return true }
        return false
    }

    /// The shared server; throws the reason none could be started.
    package static func server() throws -> ThrowawayPostgres {
        try shared.get()
    }

    /// A table name no other test uses: `<prefix>_<random>`.
    package static func uniqueTable(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }
}
