import Foundation
import DaemonConfig
import SystemSupport
import Worker

/// Builds the configured sink (the HTTP sink's signing secret from `SinkSecret`).
package enum SinkFactory {
    /// Makes the postgres sink for an endpoint and table. The executable passes one when it is
    /// built with PostgreSQL support; this target does not link a PostgreSQL client.
    package typealias PostgresMaker = @Sendable (_ endpoint: PostgresEndpoint, _ table: String, _ timeout: Duration) -> any Sink

    package static func make(_ settings: WorkerSettings, stateDirectory: String, environment: [String: String],
                             postgres: PostgresMaker? = nil) throws(ConfigError) -> any Sink {
        switch settings.sink {
        case .postgres:
            let endpoint = try PostgresSinkSettings.endpoint(settings, environment: environment).endpoint
            guard let postgres else {
                throw ConfigError("sink.type", "postgres: this build of xero-webhookd has no PostgreSQL support (built without the PostgreSQL trait)")
            }
            return postgres(endpoint, settings.sinkTable, .milliseconds(settings.sinkTimeoutMilliseconds))
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
