import ArgumentParser
import DaemonConfig
import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// Exit status for configuration errors (sysexits.h EX_CONFIG); the systemd unit does not
/// restart on it.
package let configErrorExit = ExitCode(78)

/// Ends a command on a configuration error: the error (naming the key and the reason) on
/// standard error, exit status 78. `throw configFailure(error)`.
package func configFailure(_ error: ConfigError) -> ExitCode {
    printError(error.description)
    return configErrorExit
}

/// Runs the part of a command that reads its config and secrets: a config error ends the
/// command through `configFailure`. `let settings = try readingConfig { try ConfigLoader.load(...) }`.
package func readingConfig<T>(_ body: () throws(ConfigError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw configFailure(error)
    }
}

/// Ends a command that could not do its work: `message` on standard error, exit status 1 (or
/// `exit`). `throw failure("queue dump: \(error)")`.
package func failure(_ message: String, exit: ExitCode = .failure) -> ExitCode {
    printError(message)
    return exit
}

/// Writes a line to standard error (logging may not be set up yet). When standard error is the
/// journal, the line carries `<3>` (error), so `journalctl -p err` shows config and start-up
/// errors too.
package func printError(_ message: String) {
    let bytes = Array(((JournalStream.isStandardError ? "<3>" : "") + message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// Writes bytes to standard output, completely.
package func writeOut(_ bytes: [UInt8]) {
    _ = bytes.withUnsafeBytes { writeAll(STDOUT_FILENO, $0) }
}

/// Whether standard error is the journal stream systemd connected: `JOURNAL_STREAM` holds its
/// `<device>:<inode>`. A process that inherited the variable but whose standard error goes
/// elsewhere (a command run from the service's shell, output redirected to a file) is not.
package enum JournalStream {
    package static let isStandardError = matches(ProcessInfo.processInfo.environment)

    package static func matches(_ environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}
