import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The built `xero-webhookd` binary, run as a user would run it.
package enum Binary {
    /// `xero-webhookd` next to the test bundle in the build directory (the test target depends
    /// on the executable, so `swift test` builds it).
    package static var path: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // Swift Testing may run from inside `<name>.xctest`; walk up to the build directory.
        while !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("xero-webhookd").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("xero-webhookd").path
    }

    /// Runs the binary to completion and returns its exit status, stdout and stderr.
    /// Standard streams are temporary files, not pipes: no reader threads, nothing left open.
    package static func run(_ arguments: [String], environment: [String: String] = [:], stdin: [UInt8]? = nil,
                           workingDirectory: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        try runProgram(path, arguments, environment: environment, stdin: stdin, workingDirectory: workingDirectory)
    }

    /// Runs `program` (an absolute path, e.g. `/usr/bin/curl`) like `run` runs the daemon's binary.
    package static func runProgram(_ program: String, _ arguments: [String], environment: [String: String] = [:],
                                  stdin: [UInt8]? = nil, workingDirectory: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        guard FileManager.default.isExecutableFile(atPath: program) else {
            throw RawHTTPClient.ClientError(description: "\(program) is needed by this test and is not installed")
        }
        let dir = try TemporaryDirectory("xero-webhookd-run")
        defer { dir.remove() }
        try Data(stdin ?? []).write(to: URL(fileURLWithPath: dir.file("stdin")))
        let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: dir.file("stdin")))
        let output = try StreamFile(dir.file("stdout"))
        let errors = try StreamFile(dir.file("stderr"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.environment = environment
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        process.standardInput = input
        process.standardOutput = output.handle
        process.standardError = errors.handle
        try withProcessSpawnLock { try process.run() }
        process.waitUntilExit()
        try input.close()
        return (process.terminationStatus, output.contents(), errors.contents())
    }
}

extension Binary {
    /// Runs another program (e.g. `/bin/mount`) to completion and returns its exit status.
    package static func runTool(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try withProcessSpawnLock { try process.run() }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// A file that a child process writes one of its standard streams to.
final class StreamFile {
    let path: String
    let handle: FileHandle

    init(_ path: String) throws {
        self.path = path
        FileManager.default.createFile(atPath: path, contents: nil)
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    func contents() -> String {
        String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    }

    deinit { try? handle.close() }  // closing twice is harmless here: FileHandle tracks it
}

/// A running `xero-webhookd serve`, with its stderr collected in a file for inspection.
package final class DaemonProcess {
    package let process = Process()
    private let logDirectory: TemporaryDirectory
    private let log: StreamFile
    package private(set) var port: UInt16 = 0

    /// Starts `xero-webhookd <arguments>` (or `launcher` with the binary's path and the
    /// arguments after `launcherArguments`) and waits for the "listening" log line unless told not to.
    /// `journal`: stderr is presented as the journal, as systemd does: `JOURNAL_STREAM` set to
    /// the device and inode of the file stderr goes to.
    package init(_ arguments: [String], environment: [String: String], launcher: String? = nil,
                launcherArguments: [String] = [], waitForListening: Bool = true, journal: Bool = false) throws {
        logDirectory = try TemporaryDirectory("xero-webhookd-log")
        log = try StreamFile(logDirectory.file("stderr"))
        var environment = environment
        if journal {
            var info = stat()
            stat(logDirectory.file("stderr"), &info)
            environment["JOURNAL_STREAM"] = "\(info.st_dev):\(info.st_ino)"
        }
        if let launcher {
            process.executableURL = URL(fileURLWithPath: launcher)
            process.arguments = launcherArguments + [Binary.path] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: Binary.path)
            process.arguments = arguments
        }
        process.environment = environment
        process.standardError = log.handle
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try withProcessSpawnLock { try process.run() }
        guard waitForListening else { return }
        let listening = waitUntil(seconds: 60) { self.listeningPort() != nil || !self.process.isRunning }
        guard listening, let port = listeningPort() else {
            process.terminate()
            throw RawHTTPClient.ClientError(description: "daemon did not start listening; stderr:\n\(stderr)")
        }
        self.port = port
    }

    package var pid: Int32 { process.processIdentifier }
    package var stderr: String { log.contents() }

    /// Waits for the "listening" line (after a launcher started the daemon) and returns the port.
    package func waitForListeningPort(seconds: Double = 30) -> UInt16? {
        _ = waitUntil(seconds: seconds) { listeningPort() != nil }
        return listeningPort()
    }

    private func listeningPort() -> UInt16? {
        for line in stderr.split(separator: "\n") {
            // Text lines: `… listening address=127.0.0.1:8080 …`; JSON lines: `"address":"127.0.0.1:8080"`.
            if line.contains(" listening "), let range = line.range(of: "address=") {
                return line[range.upperBound...].prefix { $0 != " " }.split(separator: ":").last.flatMap { UInt16($0) }
            }
            if line.contains(#""message":"listening""#), let range = line.range(of: #""address":""#) {
                return line[range.upperBound...].prefix { $0 != "\"" }.split(separator: ":").last.flatMap { UInt16($0) }
            }
        }
        return nil
    }

    /// What each open file descriptor of the daemon points at (`socket:[…]`, a path…), from /proc.
    package func openDescriptorTargets() -> [String] {
        let dir = "/proc/\(pid)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + $0) }.sorted()
    }

    package func signal(_ number: Int32) { kill(pid, number) }

    /// Waits for exit (with a deadline) and returns the exit status, or nil if still running.
    package func waitForExit(seconds: Double = 30) -> Int32? {
        guard waitUntil(seconds: seconds, { !process.isRunning }) else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        logDirectory.remove()
    }
}

// Its state is set in `init` and read-only after; `Process` may be signalled and waited for from
// any thread.
extension DaemonProcess: @unchecked Sendable {}

extension DaemonProcess {
    /// `init` on a thread of its own: async tests must not hold one of the concurrency pool's
    /// few threads while a daemon starts (every other test would stall meanwhile).
    package static func started(_ arguments: [String], environment: [String: String]) async throws -> DaemonProcess {
        try await offPool { try DaemonProcess(arguments, environment: environment) }
    }

    /// `waitForExit` on a thread of its own.
    package func exited(seconds: Double = 30) async -> Int32? {
        (try? await offPool { self.waitForExit(seconds: seconds) }) ?? nil
    }
}

/// Runs blocking work (starting or waiting for a process) on a thread of its own and returns
/// its result, so an async test does not hold a thread of the concurrency pool meanwhile.
package func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}
