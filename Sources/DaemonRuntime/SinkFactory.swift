import Foundation
import DaemonConfig
import SystemSupport
import Worker

/// Builds the configured sink (the HTTP sink's signing secret from `SinkSecret`).
package enum SinkFactory {
    package static func make(_ settings: WorkerSettings, stateDirectory: String, environment: [String: String]) throws(ConfigError) -> any Sink {
        switch settings.sink {
        case .directory:
            return DirectorySink(directory: settings.sinkDirectory ?? stateDirectory + "/records", maxFileBytes: settings.sinkMaxFileBytes,
                                 retention: .init(days: settings.sinkRetentionDays, maxTotalBytes: settings.sinkMaxTotalBytes))
        case .http:
            guard let text = settings.sinkURL, let url = URL(string: text) else { throw ConfigError("sink.url", "is required when sink.type is http") }
            return HTTPSink(url: url, secret: try SinkSecret.resolve(settings, environment: environment),
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
}
