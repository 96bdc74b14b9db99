import ArgumentParser
import DaemonConfig
import DaemonRuntime
import EventRecord
import Foundation

package struct Sign: ParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        abstract: "Print the x-xero-signature for a body (standard input by default), for testing with curl."
    )

    @Option(help: "File holding the webhook key (first line). Default: PAN_SEC_XERO_WEBHOOK_KEY.")
    package var keyFile: String?

    @Argument(help: "File holding the exact body bytes.")
    package var file: String?

    package func run() throws {
        let signer = try KeyArgument.signer(keyFile: keyFile)
        let body: [UInt8]
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw failure("sign: cannot read \(file)")
            }
            body = Array(data)
        } else {
            body = Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        writeOut(Array((signer.signature(for: body) + "\n").utf8))
    }
}

/// The key for `sign` and `selftest`: `--key-file` (first key in it), else the environment.
/// Read with the daemon's rules (`WebhookKeys`), so a key `serve` would refuse (too short,
/// whitespace inside) is refused here too, with the same error naming its source.
package enum KeyArgument {
    package static func resolve(keyFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(ConfigError) -> String {
        var environment = environment
        if keyFile != nil { environment[WebhookKeys.environmentVariable] = nil }
        environment["CREDENTIALS_DIRECTORY"] = nil
        if keyFile == nil && environment[WebhookKeys.environmentVariable] == nil {
            throw ConfigError("--key-file", "no key: pass --key-file or set \(WebhookKeys.environmentVariable)")
        }
        do {
            return try WebhookKeys.load(keyFile: keyFile, environment: environment).current
        } catch {
            // The loader names the config key; here the file came from the option.
            throw keyFile == nil ? error : ConfigError("--key-file", error.reason)
        }
    }

    /// A signer with that key; a key that cannot be had is printed and ends the command (78).
    package static func signer(keyFile: String?) throws -> WebhookSignature {
        WebhookSignature(current: try readingConfig { () throws(ConfigError) in try resolve(keyFile: keyFile) })
    }
}
