import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command once per record with the record's JSON on stdin. Exit status 0 accepts the
/// record; any other status, or running longer than `timeout` (then SIGTERM to its process
/// group, and SIGKILL a second later), is a failure the worker retries, with the first line
/// the command wrote to stderr. At most `concurrency` commands run at once, each on a thread
/// of its own (`ChildRun`); records waiting for a turn hold no thread. No shell is involved.
/// The command gets `environment` only (see `ChildEnvironment`: not the daemon's secrets).
package final class CommandSink: Sink, Sendable {
    private let command: [String]
    private let timeout: Duration
    private let environment: ChildEnvironment
    private let turns: Turns

    /// Nil when `command` is empty (no program to run).
    /// - Parameter environment: the command's whole environment; by default the base variables
    ///   of this process's (`ChildEnvironment`), none of its secrets.
    package init?(command: [String], timeout: Duration = .seconds(30), concurrency: Int = 4,
                 environment: ChildEnvironment = ChildEnvironment(from: ProcessInfo.processInfo.environment)) {
        guard !command.isEmpty else { return nil }
        self.command = command
        self.timeout = timeout
        self.environment = environment
        turns = Turns(max(1, concurrency))
    }

    package func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>] {
        await withTaskGroup(of: (Int, Result<Void, SinkError>).self) { group in
            for (index, record) in records.enumerated() {
                group.addTask {
                    await self.turns.take()
                    let result = await self.run(record)
                    await self.turns.give()
                    return (index, result)
                }
            }
            var results = [Result<Void, SinkError>](repeating: .failure(SinkError("not run")), count: records.count)
            for await (index, result) in group { results[index] = result }
            return results
        }
    }

    private func run(_ record: DeliveryRecord) async -> Result<Void, SinkError> {
        // A path is run as given (posix_spawn then names what is wrong with it: ENOENT, EACCES);
        // a bare name is looked up on PATH.
        guard let executable = command[0].contains("/") ? command[0] : ChildProcess.resolve(command[0]) else {
            return .failure(SinkError("\(command[0]) was not found on PATH (give an absolute path or a name on PATH)"))
        }
        let ran = await ChildRun.runDetached(executable, arguments: command, environment: environment,
                                             stdin: record.json() + [UInt8(ascii: "\n")], captureStdout: false, timeout: timeout)
        switch ran {
        case let .failure(error):
            return .failure(SinkError(error, context: "cannot run \(command[0])"))
        case let .success(outcome):
            let line = outcome.firstErrorLine.isEmpty ? "" : ": \(outcome.firstErrorLine)"
            if outcome.timedOut { return .failure(SinkError("\(command[0]) ran longer than \(timeout)")) }
            switch outcome.ending {
            case .exited(0): return .success(())
            case let .exited(status): return .failure(SinkError("\(command[0]) exited with status \(status)\(line)"))
            case let .killed(signal): return .failure(SinkError("\(command[0]) was killed by signal \(signal)\(line)"))
            case .unknown: return .failure(SinkError("\(command[0]) ended with a status that could not be learned\(line)"))
            }
        }
    }
}

/// At most `count` holders at once; the others wait, suspended (no thread), in arrival order.
private actor Turns {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) {
        free = count
    }

    func take() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func give() {
        if waiting.isEmpty {
            free += 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
