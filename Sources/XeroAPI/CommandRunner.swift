import Dispatch
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
/// helpers the command started die with it. The pipes are read with `DispatchIO`; a run ends
/// at the latest two seconds after its timeout even if something outside the group still
/// holds a pipe open.
package enum CommandRunner {
    /// Wraps the spawn call (`try $0()`); lets tests serialise spawns with their own checks.
    package typealias SpawnGate = @Sendable (() throws -> Void) throws -> Void

    /// Why a run failed. The description is a phrase: "exited with status 3: <stderr line>".
    package enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case notFound
        case cannotStart(String)
        case exited(status: Int32, stderr: String)
        case killed(signal: Int32, stderr: String)
        case timedOut(Duration)
        case outputTooLarge

        package var description: String {
            switch self {
            case .notFound: "was not found (give an absolute path or a name on PATH)"
            case let .cannotStart(reason): "could not start: \(reason)"
            case let .exited(status, line): "exited with status \(status)" + (line.isEmpty ? "" : ": \(line)")
            case let .killed(signal, line): "was killed by signal \(signal)" + (line.isEmpty ? "" : ": \(line)")
            case let .timedOut(limit): "did not finish within \(limit)"
            case .outputTooLarge: "printed more than 1 MiB"
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
        guard let name = argv.first, let executable = resolve(name) else { return .failure(.notFound) }
        return await withCheckedContinuation { continuation in
            CommandRun(timeout: timeout) { continuation.resume(returning: $0) }
                .start(executable: executable, argv: argv, environment: environment, spawnGate: spawnGate)
        }
    }

    static func resolve(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

/// One run of a command. All mutable state is confined to `queue`, hence `@unchecked Sendable`.
/// The pipe descriptors are owned here until handed to their `DispatchIO` channel, which
/// closes them in its cleanup handler.
private final class CommandRun: @unchecked Sendable {
    private let queue = DispatchQueue(label: "xero-webhookd.token-command")
    /// `waitpid` blocks; it runs on this run's own serial queue, never on a global queue.
    private let reaper = DispatchQueue(label: "xero-webhookd.token-command.wait")
    private let timeout: Duration
    private let finish: @Sendable (Result<[UInt8], CommandRunner.Failure>) -> Void

    private var pid: pid_t = 0
    private var stdout: [UInt8] = []
    private var stderr: [UInt8] = []
    private var openStreams = 2
    private var waitStatus: Int32?
    private var timedOut = false
    private var tooLarge = false
    private var finished = false
    private var readers: [DispatchIO] = []

    init(timeout: Duration, finish: @escaping @Sendable (Result<[UInt8], CommandRunner.Failure>) -> Void) {
        self.timeout = timeout
        self.finish = finish
    }

    func start(executable: String, argv: [String], environment: ChildEnvironment, spawnGate: CommandRunner.SpawnGate) {
        // pipe2 is not visible from Glibc: pipe, then FD_CLOEXEC at once (as for accept).
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        guard pipe(&out) == 0 else { return finish(.failure(.cannotStart("pipe: errno \(errno)"))) }
        guard pipe(&err) == 0 else {
            close(out[0]); close(out[1])
            return finish(.failure(.cannotStart("pipe: errno \(errno)")))
        }
        for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var spawnError: Int32 = 0
        do {
            try spawnGate { spawnError = self.spawn(executable, argv, environment: environment, stdout: out[1], stderr: err[1]) }
        } catch {
            spawnError = EPERM
        }
        close(out[1])
        close(err[1])
        guard spawnError == 0 else {
            close(out[0]); close(err[0])
            return finish(.failure(.cannotStart(String(cString: strerror(spawnError)))))
        }
        let pid = self.pid
        let (outRead, errRead) = (out[0], err[0])
        queue.async { [self] in
            readers = [read(outRead, isStdout: true), read(errRead, isStdout: false)]
        }
        reaper.async { [self] in
            let final = ChildProcess.wait(pid)
            queue.async { [self] in
                waitStatus = final
                complete(force: false)
            }
        }
        queue.asyncAfter(deadline: .now() + max(timeout.seconds, 0.001)) { [self] in
            guard waitStatus == nil else { return }
            timedOut = true
            kill(-pid, SIGTERM)
            queue.asyncAfter(deadline: .now() + 1) { [self] in
                if waitStatus == nil { kill(-pid, SIGKILL) }
                // Something outside the group may still hold a pipe: stop waiting for it.
                queue.asyncAfter(deadline: .now() + 1) { [self] in complete(force: true) }
            }
        }
    }

    /// Starts the command with stdin from /dev/null and the pipes as stdout and stderr (a clean
    /// signal state, a new process group: see `ChildProcess`). Returns 0 or an errno.
    private func spawn(_ executable: String, _ argv: [String], environment: ChildEnvironment, stdout: Int32, stderr: Int32) -> Int32 {
        switch ChildProcess.spawn(executable, arguments: argv, environment: environment, stdout: stdout, stderr: stderr) {
        case let .success(child):
            pid = child
            return 0
        case let .failure(error):
            return error.errno
        }
    }

    /// On `queue`: a channel that reads `fd` to its end and closes it afterwards.
    private func read(_ fd: Int32, isStdout: Bool) -> DispatchIO {
        let io = DispatchIO(type: .stream, fileDescriptor: fd, queue: queue, cleanupHandler: { _ in close(fd) })
        io.setLimit(lowWater: 1)
        io.read(offset: 0, length: Int.max, queue: queue) { [self] done, data, _ in
            if let data, !data.isEmpty {
                if isStdout {
                    if stdout.count + data.count > CommandRunner.maxOutput { tooLarge = true } else { stdout.append(contentsOf: data) }
                } else if stderr.count < 4096 {
                    stderr.append(contentsOf: data.prefix(4096 - stderr.count))
                }
            }
            if done {
                openStreams -= 1
                complete(force: false)
            }
        }
        return io
    }

    /// On `queue`: reports once the process has been reaped and both streams ended (or, with
    /// `force`, at once).
    private func complete(force: Bool) {
        guard !finished, force || (waitStatus != nil && openStreams == 0) else { return }
        finished = true
        for reader in readers { reader.close(flags: .stop) }
        let firstLine = String(decoding: stderr, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let result: Result<[UInt8], CommandRunner.Failure>
        if timedOut {
            result = .failure(.timedOut(timeout))
        } else if tooLarge {
            result = .failure(.outputTooLarge)
        } else {
            switch ChildProcess.Ending(waitStatus: waitStatus ?? 0) {
            case let .killed(signal): result = .failure(.killed(signal: signal, stderr: firstLine))
            case let .exited(status) where status != 0: result = .failure(.exited(status: status, stderr: firstLine))
            case .exited: result = .success(stdout)
            }
        }
        finish(result)
    }
}
