import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The built `xero-webhookd` binary, run as a user would run it.
public enum Binary {
    /// `xero-webhookd` next to the test bundle in the build directory (the test target depends
    /// on the executable, so `swift test` builds it).
    public static var path: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // Swift Testing may run from inside `<name>.xctest`; walk up to the build directory.
        while !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("xero-webhookd").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("xero-webhookd").path
    }

    /// Runs the binary to completion and returns its exit status, stdout and stderr.
    public static func run(_ arguments: [String], environment: [String: String] = [:], stdin: [UInt8]? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
        try input.fileHandleForWriting.close()
        // Read both pipes to the end before waiting, so a chatty child cannot block on a full pipe.
        let errData = LockedData()
        let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        _ = waitUntil(seconds: 10) { errData.isSet }
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData.get(), as: UTF8.self))
    }
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private(set) var isSet = false
    func set(_ d: Data) { lock.lock(); data = d; isSet = true; lock.unlock() }
    func append(_ d: Data) { lock.lock(); data.append(d); lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}

/// A running `xero-webhookd serve`, with its stderr collected for inspection.
public final class DaemonProcess {
    public let process = Process()
    private let stderrData = LockedData()
    public private(set) var port: UInt16 = 0

    /// Starts `xero-webhookd <arguments>` and waits for the "listening" log line.
    public init(_ arguments: [String], environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: Binary.path)
        process.arguments = arguments
        process.environment = environment
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        let sink = stderrData
        err.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if !chunk.isEmpty { sink.append(chunk) }
        }
        try process.run()
        let listening = waitUntil(seconds: 60) { self.listeningPort() != nil || !self.process.isRunning }
        guard listening, let port = listeningPort() else {
            process.terminate()
            throw RawHTTPClient.ClientError(description: "daemon did not start listening; stderr:\n\(stderr)")
        }
        self.port = port
    }

    public var pid: Int32 { process.processIdentifier }
    public var stderr: String { String(decoding: stderrData.get(), as: UTF8.self) }

    private func listeningPort() -> UInt16? {
        guard let line = stderr.split(separator: "\n").first(where: { $0.contains(" listening ") }),
              let range = line.range(of: "address=") else { return nil }
        let address = line[range.upperBound...].prefix { $0 != " " }
        return address.split(separator: ":").last.flatMap { UInt16($0) }
    }

    /// What each open file descriptor of the daemon points at (`socket:[…]`, a path…), from /proc.
    public func openDescriptorTargets() -> [String] {
        let dir = "/proc/\(pid)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + $0) }.sorted()
    }

    public func signal(_ number: Int32) { kill(pid, number) }

    /// Waits for exit (with a deadline) and returns the exit status, or nil if still running.
    public func waitForExit(seconds: Double = 30) -> Int32? {
        guard waitUntil(seconds: seconds, { !process.isRunning }) else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }
}
