import Foundation
import SystemSupport
import Worker

/// Builds the configured sink. The HTTP sink's signing secret comes from
/// `XERO_WEBHOOKD_SINK_SECRET`, else the systemd credential `sink-secret`, else `sink.secretFile`.
enum SinkFactory {
    static let secretVariable = "XERO_WEBHOOKD_SINK_SECRET"

    static func make(_ settings: WorkerSettings, stateDirectory: String, environment: [String: String]) throws(ConfigError) -> any Sink {
        switch settings.sink {
        case .directory:
            return DirectorySink(directory: settings.sinkDirectory ?? stateDirectory + "/records", maxFileBytes: settings.sinkMaxFileBytes,
                                 retention: .init(days: settings.sinkRetentionDays, maxTotalBytes: settings.sinkMaxTotalBytes))
        case .http:
            guard let text = settings.sinkURL, let url = URL(string: text) else { throw ConfigError("sink.url", "is required when sink.type is http") }
            return HTTPSink(url: url, secret: try secret(settings, environment: environment),
                            timeout: .milliseconds(settings.sinkTimeoutMilliseconds))
        case .command:
            guard let sink = CommandSink(command: settings.sinkCommand, timeout: .milliseconds(settings.sinkTimeoutMilliseconds),
                                         concurrency: settings.sinkConcurrency,
                                         environment: ChildEnvironment(from: environment, passing: settings.sinkPassEnvironment)) else {
                throw ConfigError("sink.command", "is required when sink.type is command (the program and its arguments)")
            }
            return sink
        }
    }

    private static func secret(_ settings: WorkerSettings, environment: [String: String]) throws(ConfigError) -> String {
        if let value = environment[secretVariable]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty { return value }
        var candidates: [String] = []
        if let directory = environment["CREDENTIALS_DIRECTORY"] { candidates.append(directory + "/sink-secret") }
        if let file = settings.sinkSecretFile { candidates.append(file) }
        for path in candidates {
            if let bytes = try? FileBytes.read(path) {  // a missing credential falls through to the next source
                let value = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if !value.isEmpty { return value }
            }
        }
        throw ConfigError("sink.secretFile", "no signing secret for the http sink: set \(secretVariable), pass the systemd credential \"sink-secret\", or name a file")
    }
}
