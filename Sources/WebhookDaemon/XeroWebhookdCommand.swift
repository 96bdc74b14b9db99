import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// `xero-webhookd`: the root command; everything happens in its subcommands.
public struct XeroWebhookdCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "xero-webhookd",
        abstract: "Receives Xero webhooks, verifies them and keeps every acknowledged event on disk.",
        discussion: """
        Set it as the Delivery URL of your Xero app (behind HTTPS on port 443). The webhook key \
        comes from PAN_SEC_XERO_WEBHOOK_KEY, the systemd credential "webhook-key", or webhook.keyFile.
        """,
        subcommands: [Serve.self, Demo.self, CheckConfig.self, Sign.self, Selftest.self, QueueCommand.self, DeadCommand.self, Authorize.self, TokenCommand.self]
    )

    public init() {}
}

/// Exit status for configuration errors (sysexits.h EX_CONFIG); the systemd unit does not
/// restart on it.
let configErrorExit = ExitCode(78)

/// Writes a line to standard error (logging may not be set up yet).
func printError(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// Writes bytes to standard output, completely.
func writeOut(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            offset += n
        }
    }
}
