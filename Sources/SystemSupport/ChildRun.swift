import Foundation
import Glibc

/// One run of a program to its end, on the calling thread, with one `poll` loop: the bytes for
/// its stdin written as it takes them, its stdout (if wanted) and stderr read as they come, and
/// a deadline. The token commands and the command sink both run their programs through it.
///
/// The thread that calls `run` blocks until the program ends; callers bound how many runs they
/// make at once. No other thread and no Dispatch source is involved: a run owns its three
/// descriptors from creation to close.
///
/// On the deadline the program's whole process group gets SIGTERM, and SIGKILL a second later,
/// so helpers it started stop with it. A second after that the run stops waiting for its
/// pipes (something outside the group may hold one open) and reaps the program.
package enum ChildRun {
    /// What a run produced.
    package struct Outcome: Sendable, Equatable {
        /// How the program ended.
        package var ending: ChildProcess.Ending
        /// Its standard output, up to the limit (empty when not captured).
        package var stdout: [UInt8] = []
        /// The start of its standard error, up to the limit.
        package var stderr: [UInt8] = []
        /// It printed more than the stdout limit; the rest was read and dropped.
        package var stdoutOverflowed = false
        /// The deadline passed and the group was signalled.
        package var timedOut = false
        /// The program itself had ended by the deadline, but something it started still held its
        /// stdout open (so the run could not know the output was complete).
        package var outputHeldOpen = false

        /// The first line of `stderr`, for a one-line error message: at most 200 characters,
        /// control characters (tabs and terminal escapes among them) replaced by `?`, so the
        /// line fits in a log line or a tab-separated listing as one field.
        package var firstErrorLine: String {
            let line = String(decoding: stderr, as: UTF8.self).split(whereSeparator: \.isNewline).first ?? ""
            return String(String.UnicodeScalarView(line.unicodeScalars.prefix(200).map {
                $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? "?" : $0
            }))
        }
    }

    /// Wraps the spawn call: `try $0()`. Tests serialise spawns with their own checks through it.
    package typealias SpawnGate = @Sendable (() -> Void) throws -> Void

    /// Runs `executable` (a path) with `arguments` (argv, the program name first) and exactly
    /// `environment`, in a clean signal state and a process group of its own (`ChildProcess`).
    ///
    /// - Parameters:
    ///   - stdin: bytes for its standard input, through a socket pair (a program that exits
    ///     without reading makes the write fail with EPIPE, not raise SIGPIPE here); nil means
    ///     /dev/null.
    ///   - captureStdout: read its standard output (at most `maxStdout` bytes kept); else /dev/null.
    ///   - maxStderr: how much of the start of its standard error is kept.
    /// - Returns: the outcome, or the system call that kept it from starting.
    package static func run(_ executable: String, arguments: [String], environment: ChildEnvironment,
                            stdin: [UInt8]? = nil, captureStdout: Bool, maxStdout: Int = 1 << 20, maxStderr: Int = 4096,
                            timeout: Duration, spawnGate: SpawnGate = { $0() }) -> Result<Outcome, SystemCallError> {
        var input = Stream.none, output = Stream.none, errors = Stream.none
        // The child's ends, closed here once the child has its own copies (or it did not start).
        var childIn: Int32?, childOut: Int32?, childErr: Int32?
        func closeChildEnds() {
            for fd in [childIn, childOut, childErr].compactMap({ $0 }) { close(fd) }
            childIn = nil; childOut = nil; childErr = nil
        }
        defer { closeChildEnds() }
        func opened() -> Result<Void, SystemCallError> {
            if stdin != nil {
                var ends: [Int32] = [-1, -1]
                guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
                    return .failure(.last("socketpair"))
                }
                input = Stream(ends[0]); childIn = ends[1]
            }
            if captureStdout {
                guard let ends = pipeEnds() else { return .failure(.last("pipe")) }
                output = Stream(ends.read); childOut = ends.write
            }
            guard let ends = pipeEnds() else { return .failure(.last("pipe")) }
            errors = Stream(ends.read); childErr = ends.write
            return .success(())
        }
        if case let .failure(error) = opened() {
            input.close(); output.close(); errors.close()
            return .failure(error)
        }
        var spawned: Result<pid_t, SystemCallError> = .failure(SystemCallError(call: "posix_spawn", errno: EPERM, path: executable))
        do {
            try spawnGate {
                spawned = ChildProcess.spawn(executable, arguments: arguments, environment: environment,
                                             stdin: childIn, stdout: childOut, stderr: childErr)
            }
        } catch {
            spawned = .failure(SystemCallError(call: "posix_spawn", errno: EPERM, path: executable))
        }
        closeChildEnds()
        let pid: pid_t
        switch spawned {
        case let .success(started):
            pid = started
        case let .failure(error):
            input.close(); output.close(); errors.close()
            return .failure(error)
        }
        var run = Loop(pid: pid, input: input, pending: stdin ?? [], output: output, errors: errors,
                       maxStdout: maxStdout, maxStderr: maxStderr, timeout: timeout)
        return .success(run.toTheEnd())
    }

    /// The name of the threads `runDetached` makes (what `ps -L` and /proc show; 15 bytes at most).
    package static let threadName = "webhookd-child"

    /// `run` on a thread of its own (the run blocks it), for async callers; resumes when the
    /// program has ended.
    package static func runDetached(_ executable: String, arguments: [String], environment: ChildEnvironment,
                                    stdin: [UInt8]? = nil, captureStdout: Bool, maxStdout: Int = 1 << 20, maxStderr: Int = 4096,
                                    timeout: Duration,
                                    spawnGate: @escaping SpawnGate = { $0() }) async -> Result<Outcome, SystemCallError> {
        await withCheckedContinuation { continuation in
            let started = startThread {
                _ = setThreadName.map { $0(pthread_self(), threadName) }
                continuation.resume(returning: run(executable, arguments: arguments, environment: environment, stdin: stdin,
                                                   captureStdout: captureStdout, maxStdout: maxStdout, maxStderr: maxStderr,
                                                   timeout: timeout, spawnGate: spawnGate))
            }
            // No thread (RLIMIT_NPROC, the unit's TasksMax): the run fails now rather than
            // waiting for ever; callers retry it like any failed start.
            if let started { continuation.resume(returning: .failure(started)) }
        }
    }

    /// Starts `body` on a new detached thread; nil when started, else why not.
    fileprivate static func startThread(_ body: @escaping @Sendable () -> Void) -> SystemCallError? {
        final class Body {
            let run: @Sendable () -> Void
            init(_ run: @escaping @Sendable () -> Void) { self.run = run }
        }
        let context = Unmanaged.passRetained(Body(body))
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
            body.run()
            return nil
        }, context.toOpaque())
        guard result == 0 else {
            context.release()
            return SystemCallError(call: "pthread_create", errno: result)
        }
        pthread_detach(thread)
        return nil
    }

    /// `pthread_setname_np`, looked up at run time: Swift's Glibc module does not declare it.
    private typealias SetThreadName = @convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32
    private static let setThreadName: SetThreadName? = dlsym(nil, "pthread_setname_np").map { unsafeBitCast($0, to: SetThreadName.self) }

    /// `pidfd_open`, looked up at run time: Swift's Glibc module does not declare it.
    private typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
    private static let pidfdOpen: PidfdOpen? = dlsym(nil, "pidfd_open").map { unsafeBitCast($0, to: PidfdOpen.self) }

    /// pipe(2) with both ends close-on-exec and the read end non-blocking.
    private static func pipeEnds() -> (read: Int32, write: Int32)? {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return nil }
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (ends[0], ends[1])
    }

    /// One of the parent's ends, non-blocking, or none.
    private struct Stream {
        static let none = Stream(-1)
        private(set) var fd: Int32

        init(_ fd: Int32) {
            self.fd = fd
            if fd >= 0 { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        }

        var isOpen: Bool { fd >= 0 }

        mutating func close() {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }

    private struct Loop {
        let pid: pid_t
        var input: Stream
        var pending: [UInt8]
        var written = 0
        var output: Stream
        var errors: Stream
        let maxStdout: Int
        let maxStderr: Int
        let timeout: Duration
        var outcome = Outcome(ending: .exited(0))
        var status: Int32?
        /// waitpid could not report the status (ECHILD: reaped by someone else).
        var lost = false

        init(pid: pid_t, input: Stream, pending: [UInt8], output: Stream, errors: Stream, maxStdout: Int, maxStderr: Int,
             timeout: Duration) {
            self.pid = pid
            self.input = input
            self.pending = pending
            self.output = output
            self.errors = errors
            self.maxStdout = maxStdout
            self.maxStderr = maxStderr
            self.timeout = timeout
        }

        mutating func toTheEnd() -> Outcome {
            if pending.isEmpty { finishInput() }
            // Readable when the program has exited (Linux 5.3, glibc 2.36); without it the exit
            // is looked for every few milliseconds.
            var exit = Stream(ChildRun.pidfdOpen.map { $0(pid, 0) } ?? -1)
            defer { exit.close() }
            var stage = 0  // 0 running, 1 SIGTERM sent, 2 SIGKILL sent
            var stageEnd = Self.now() + UInt64(max(0, timeout.nanoseconds))
            var recheck: Int32 = 0  // ms until the next waitpid when there is no pidfd
            while true {
                if status == nil && !lost && !exit.isOpen {
                    _ = reaped()
                }
                if status != nil || lost {
                    finishInput()  // nobody is left to read it
                    // Done once its stdout has ended (a helper may still hold it open, and a
                    // token command's answer is all of it); stderr is read as far as it has come.
                    if !output.isOpen {
                        var ignored = false
                        if errors.isOpen { drain(&errors, into: &outcome.stderr, limit: maxStderr, overflowed: &ignored) }
                        return finished()
                    }
                }
                let now = Self.now()
                if now >= stageEnd {
                    switch stage {
                    case 0:
                        outcome.timedOut = true
                        outcome.outputHeldOpen = status != nil || lost
                        signal(SIGTERM)
                    case 1:
                        signal(SIGKILL)
                    default:
                        // Something outside the group holds a pipe, or the program cannot be
                        // reaped yet (stuck in the kernel): stop waiting. A thread of its own
                        // reaps it whenever it ends, so no zombie stays behind.
                        if status == nil && !lost {
                            let pid = self.pid
                            lost = true
                            _ = ChildRun.startThread { _ = ChildProcess.wait(pid) }
                        }
                        return finished()
                    }
                    stage += 1
                    stageEnd = now + 1_000_000_000
                    continue
                }
                var wait = Int32(min(UInt64(Int32.max), (stageEnd - now + 999_999) / 1_000_000))
                var fds: [pollfd] = []
                if input.isOpen { fds.append(pollfd(fd: input.fd, events: Int16(POLLOUT), revents: 0)) }
                if output.isOpen { fds.append(pollfd(fd: output.fd, events: Int16(POLLIN), revents: 0)) }
                if errors.isOpen { fds.append(pollfd(fd: errors.fd, events: Int16(POLLIN), revents: 0)) }
                if status == nil && !lost {
                    if exit.isOpen {
                        fds.append(pollfd(fd: exit.fd, events: Int16(POLLIN), revents: 0))
                    } else {
                        wait = min(wait, recheck)
                        recheck = min(max(recheck * 2, 1), 20)
                    }
                }
                let ready = fds.isEmpty ? poll(nil, 0, wait) : poll(&fds, nfds_t(fds.count), wait)
                if ready < 0 && errno != EINTR { return abandon() }
                for entry in fds where entry.revents != 0 {
                    if entry.fd == input.fd {
                        writeInput()
                    } else if entry.fd == output.fd {
                        drain(&output, into: &outcome.stdout, limit: maxStdout, overflowed: &outcome.stdoutOverflowed)
                    } else if entry.fd == errors.fd {
                        var ignored = false
                        drain(&errors, into: &outcome.stderr, limit: maxStderr, overflowed: &ignored)
                    } else if entry.fd == exit.fd {
                        _ = reaped()
                    }
                }
            }
        }

        private mutating func reaped() -> Bool {
            guard status == nil && !lost else { return true }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid {
                status = raw
                return true
            }
            if result < 0 && errno != EINTR {
                lost = true  // ECHILD: reaped by someone else; its status is unknown, not 0
                return true
            }
            return false
        }

        /// The program's process group, and the program itself should it have left the group.
        /// Not once it has been reaped (its pid may belong to another process by then).
        private func signal(_ number: Int32) {
            kill(-pid, number)
            if status == nil && !lost { kill(pid, number) }
        }

        /// A poll failure that is not EINTR (it cannot happen with valid descriptors): the
        /// group is killed and reaped, and the run counts as timed out.
        private mutating func abandon() -> Outcome {
            signal(SIGKILL)
            input.close(); output.close(); errors.close()
            if status == nil && !lost { status = ChildProcess.wait(pid) }
            outcome.timedOut = true
            return finished()
        }

        private mutating func finished() -> Outcome {
            input.close(); output.close(); errors.close()
            outcome.ending = status.map(ChildProcess.Ending.init(waitStatus:)) ?? .unknown
            return outcome
        }

        private mutating func writeInput() {
            while written < pending.count {
                let n = pending.withUnsafeBytes { buffer in
                    send(input.fd, buffer.baseAddress! + written, buffer.count - written, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
                if n > 0 {
                    written += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    return
                } else {
                    break  // EPIPE: the program stopped reading; its exit status decides
                }
            }
            finishInput()
        }

        private mutating func finishInput() {
            if input.isOpen { shutdown(input.fd, Int32(SHUT_WR)) }
            input.close()
        }

        /// Reads what `stream` has now; at its end, closes it. Bytes past `limit` are dropped.
        private func drain(_ stream: inout Stream, into kept: inout [UInt8], limit: Int, overflowed: inout Bool) {
            var chunk = [UInt8](repeating: 0, count: 16_384)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(stream.fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    let room = max(0, limit - kept.count)
                    if n > room { overflowed = true }
                    kept.append(contentsOf: chunk[0..<min(n, room)])
                } else if n < 0 && errno == EINTR {
                    continue
                } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    return
                } else {
                    stream.close()  // end of stream (or an error, which ends it too)
                    return
                }
            }
        }

        private static func now() -> UInt64 {
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        }
    }
}

private extension Duration {
    /// Whole nanoseconds, 0 for a negative duration, `Int64.max` for one too long to count.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 && attoseconds >= 0 else { return 0 }
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return Int64.max }
        let (sum, sumOverflow) = product.addingReportingOverflow(attoseconds / 1_000_000_000)
        return sumOverflow ? Int64.max : sum
    }
}
