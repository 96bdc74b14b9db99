import Foundation
import Synchronization
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command once per record with the record's JSON on stdin. Exit status 0 accepts the
/// record; any other status, or running longer than `timeout` (then SIGTERM to its process
/// group, and SIGKILL a second later), is a failure the worker retries. At most `concurrency` commands run at once. No shell is involved.
/// The command gets `environment` only (see `ChildEnvironment`: not the daemon's secrets).
package final class CommandSink: Sink, @unchecked Sendable {
    // @unchecked: immutable apart from `slots`, which is a semaphore.
    private let command: [String]
    private let timeout: Duration
    private let environment: ChildEnvironment
    private let slots: DispatchSemaphore

    /// Nil when `command` is empty (no program to run).
    /// - Parameter environment: the command's whole environment; by default the base variables
    ///   of this process's (`ChildEnvironment`), none of its secrets.
    package init?(command: [String], timeout: Duration = .seconds(30), concurrency: Int = 4,
                 environment: ChildEnvironment = ChildEnvironment(from: ProcessInfo.processInfo.environment)) {
        guard !command.isEmpty else { return nil }
        self.command = command
        self.timeout = timeout
        self.environment = environment
        slots = DispatchSemaphore(value: max(1, concurrency))
    }

    package func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>] {
        await withTaskGroup(of: (Int, Result<Void, SinkError>).self) { group in
            for (index, record) in records.enumerated() {
                group.addTask { (index, await self.run(record)) }
            }
            var results = [Result<Void, SinkError>](repeating: .failure(SinkError("not run")), count: records.count)
            for await (index, result) in group { results[index] = result }
            return results
        }
    }

    private func run(_ record: DeliveryRecord) async -> Result<Void, SinkError> {
        await withCheckedContinuation { continuation in
            // Waiting for a slot blocks, so it happens on a dispatch thread of its own, not on
            // the concurrency pool.
            DispatchQueue(label: "xero-webhookd.sink.command").async {
                self.slots.wait()
                let result = self.runBlocking(record)
                self.slots.signal()
                continuation.resume(returning: result)
            }
        }
    }

    private func runBlocking(_ record: DeliveryRecord) -> Result<Void, SinkError> {
        // The record goes to the command's stdin through a socket pair, not a pipe: a command
        // that exits without reading would make a pipe write raise SIGPIPE in this process,
        // while send(MSG_NOSIGNAL) just fails with EPIPE.
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            return .failure(SinkError("socketpair: \(String(cString: strerror(errno)))"))
        }
        let ours = ends[0]
        // A clean signal state and a process group of its own (see ChildProcess).
        let spawned = ChildProcess.spawn(command[0], arguments: command, environment: environment, stdin: ends[1])
        close(ends[1])  // the child has its own copy
        guard case let .success(pid) = spawned, pid > 0 else {
            close(ours)
            let reason = if case let .failure(error) = spawned { "\(error)" } else { "no pid" }
            return .failure(SinkError("cannot run \(command[0]): \(reason)"))
        }
        // A command that does not read its input must not block us: write from another thread.
        let body = record.json() + [UInt8(ascii: "\n")]
        DispatchQueue(label: "xero-webhookd.sink.command.stdin").async {
            body.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = send(ours, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }  // EPIPE: the command stopped reading; its exit status decides
                    offset += n
                }
            }
            shutdown(ours, Int32(SHUT_WR))
            close(ours)
        }
        // waitpid blocks, so it runs on a thread of its own; the status comes back through `ended`.
        let ended = Mutex<Int32?>(nil)
        let exited = DispatchSemaphore(value: 0)
        DispatchQueue(label: "xero-webhookd.sink.command.wait").async {
            let status = ChildProcess.wait(pid)
            ended.withLock { $0 = status }
            exited.signal()
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        if exited.wait(timeout: .now() + seconds) == .timedOut {
            // The whole group: helpers the command started stop with it. SIGKILL if SIGTERM is not enough.
            kill(-pid, SIGTERM)
            if exited.wait(timeout: .now() + .seconds(1)) == .timedOut {
                kill(-pid, SIGKILL)
                exited.wait()
            }
            return .failure(SinkError("\(command[0]) ran longer than \(timeout)"))
        }
        switch ChildProcess.Ending(waitStatus: ended.withLock { $0 } ?? 0) {
        case .exited(0): return .success(())
        case let .exited(status): return .failure(SinkError("\(command[0]) exited with status \(status)"))
        case let .killed(signal): return .failure(SinkError("\(command[0]) was killed by signal \(signal)"))
        }
    }
}
