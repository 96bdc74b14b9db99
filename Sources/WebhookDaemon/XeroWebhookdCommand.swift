import ArgumentParser
import Foundation
import SystemSupport
#if canImport(Glibc)
import Glibc
#endif

/// `xero-webhookd`: the root command; everything happens in its subcommands.
package struct XeroWebhookdCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "xero-webhookd",
        abstract: "Receives Xero webhooks, verifies them and keeps every acknowledged event on disk.",
        discussion: """
        Set it as the Delivery URL of your Xero app (behind HTTPS on port 443). The webhook key \
        comes from PAN_SEC_XERO_WEBHOOK_KEY, the systemd credential "webhook-key", or webhook.keyFile.
        """,
        version: XeroWebhookdCommand.version,
        subcommands: [Serve.self, Reload.self, Demo.self, CheckConfig.self, Sign.self, Selftest.self, Send.self, QueueCommand.self, DeadCommand.self, Authorize.self, TokenCommand.self]
    )

    /// The release this source is; `--version` prints it and `/metrics` has it in `xero_webhookd_build_info`.
    package static let version = "0.13.0"

    package init() {}
}

/// Exit status for configuration errors (sysexits.h EX_CONFIG); the systemd unit does not
/// restart on it.
let configErrorExit = ExitCode(78)

/// Writes a line to standard error (logging may not be set up yet). When standard error is the
/// journal, the line carries `<3>` (error), so `journalctl -p err` shows config and start-up
/// errors too.
func printError(_ message: String) {
    let bytes = Array(((JournalStream.isStandardError ? "<3>" : "") + message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// Writes bytes to standard output, completely.
func writeOut(_ bytes: [UInt8]) {
    _ = bytes.withUnsafeBytes { writeAll(STDOUT_FILENO, $0) }
}

/// Whether standard error is the journal stream systemd connected: `JOURNAL_STREAM` holds its
/// `<device>:<inode>`. A process that inherited the variable but whose standard error goes
/// elsewhere (a command run from the service's shell, output redirected to a file) is not.
enum JournalStream {
    static let isStandardError = matches(ProcessInfo.processInfo.environment)

    static func matches(_ environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}
