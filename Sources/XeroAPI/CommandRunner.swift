import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command without a shell and collects its standard output, with a timeout.
///
/// The child starts with an empty signal mask and default signal dispositions (a thread of
/// this process may block or ignore signals, and a child would inherit that), in a process
/// group of its own. On timeout the whole group gets SIGTERM, then SIGKILL a second later, so
/// helpers the command started die with it. A run ends at the latest two seconds after its
/// timeout even if something outside the group still holds a pipe open (see `ChildRun`).
package enum CommandRunner {
    /// Wraps the spawn call (`try $0()`); lets tests serialise spawns with their own checks.
    package typealias SpawnGate = @Sendable (() throws -> Void) throws -> Void

    /// Why a run failed. The description is a phrase: "exited with status 3: <stderr line>".
    package enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case notFound
        case cannotStart(SystemCallError)
        case exited(status: Int32, stderr: String)
        case killed(signal: Int32, stderr: String)
        case timedOut(Duration)
        /// It exited, but something it started kept its stdout open past the timeout.
        case outputHeldOpen(Duration)
        case outputTooLarge
        /// Its exit status could not be learned (something else reaped it): never taken as success.
        case statusUnknown

        package var description: String {
            switch self {
            case .notFound: "was not found (give an absolute path or a name on PATH)"
            case let .cannotStart(error): "could not start: \(error)"
            case let .exited(status, line): "exited with status \(status)" + (line.isEmpty ? "" : ": \(line)")
            case let .killed(signal, line): "was killed by signal \(signal)" + (line.isEmpty ? "" : ": \(line)")
            case let .timedOut(limit): "did not finish within \(limit)"
            case let .outputHeldOpen(limit):
                "exited, but a process it started kept its standard output open for over \(limit) "
                    + "(redirect that process's output, e.g. to /dev/null)"
            case .outputTooLarge: "printed more than 1 MiB"
            case .statusUnknown: "ended with a status that could not be learned (is SIGCHLD ignored?)"
            }
        }
    }

    static let maxOutput = 1 << 20

    /// Runs `argv` (argv[0] is a path, or a name looked up on PATH) with exactly `environment`
    /// (by default the base variables of this process's, none of its secrets: see
    /// `ChildEnvironment`) and returns its standard output when it exits with status 0.
    package static func run(_ argv: [String], timeout: Duration,
                           environment: ChildEnvironment = ChildEnvironment(from: ProcessInfo.processInfo.environment),
                           spawnGate: @escaping SpawnGate = { try $0() }) async -> Result<[UInt8], Failure> {
        guard let name = argv.first, let executable = ChildProcess.resolve(name) else { return .failure(.notFound) }
        let ran = await ChildRun.runDetached(executable, arguments: argv, environment: environment, captureStdout: true,
                                             maxStdout: maxOutput, timeout: timeout, spawnGate: { body in try spawnGate { body() } })
        switch ran {
        case let .failure(error):
            return .failure(.cannotStart(error))
        case let .success(outcome):
            if outcome.timedOut { return .failure(outcome.outputHeldOpen ? .outputHeldOpen(timeout) : .timedOut(timeout)) }
            if outcome.stdoutOverflowed { return .failure(.outputTooLarge) }
            switch outcome.ending {
            case let .killed(signal): return .failure(.killed(signal: signal, stderr: outcome.firstErrorLine))
            case let .exited(status) where status != 0: return .failure(.exited(status: status, stderr: outcome.firstErrorLine))
            case .exited: return .success(outcome.stdout)
            case .unknown: return .failure(.statusUnknown)
            }
        }
    }
}
