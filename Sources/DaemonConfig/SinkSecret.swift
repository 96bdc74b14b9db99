import Foundation
import SystemSupport

/// The HTTP sink's signing secret: `XERO_WEBHOOKD_SINK_SECRET`, else the systemd credential
/// `sink-secret`, else the file `sink.secretFile`.
package enum SinkSecret {
    package static let variable = "XERO_WEBHOOKD_SINK_SECRET"

    package static func resolve(_ settings: WorkerSettings, environment: [String: String]) throws(ConfigError) -> String {
        if let value = environment[variable]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty { return value }
        var candidates: [String] = []
        if let directory = environment["CREDENTIALS_DIRECTORY"] { candidates.append(directory + "/sink-secret") }
        if let file = settings.sinkSecretFile { candidates.append(file) }
        for path in candidates {
            if let bytes = try? FileBytes.read(path) {  // a missing credential falls through to the next source
                let value = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if !value.isEmpty { return value }
            }
        }
        throw ConfigError("sink.secretFile", "no signing secret for the http sink: set \(variable), pass the systemd credential \"sink-secret\", or name a file")
    }
}
