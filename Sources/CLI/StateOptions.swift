import ArgumentParser
import DaemonConfig
import DaemonRuntime
import Foundation

/// How the admin commands (`queue …`, `dead …`, `token status`) find the daemon's state, and
/// the check that a daemon has used it: run from another directory or as another user against
/// the installed service, they used to read `./state` silently and report an empty queue.
///
/// The state directory is, first to last: `--state-directory`; the config's `stateDirectory`;
/// `$STATE_DIRECTORY`; `/var/lib/xero-webhookd` when it exists (where the unit keeps it);
/// `state` under the working directory.
package struct StateOptions: ParsableArguments {
    package init() {}

    @Option(help: ArgumentHelp("Config file (JSON).", valueName: "path"))
    package var config: String?

    @Option(name: .customLong("state-directory"),
            help: ArgumentHelp("The daemon's state directory (default: the config's stateDirectory, else $STATE_DIRECTORY, else \(StateOptions.installedStateDirectory) when it exists, else ./state).",
                               valueName: "path"))
    package var stateDirectory: String?

    /// `StateDirectory=xero-webhookd` in the unit.
    package static let installedStateDirectory = "/var/lib/xero-webhookd"

    /// The config with the state directory settled. Exits 78 on a config error; exits 1 with
    /// one line when no daemon has ever opened a queue there (or, without `needsQueue`, when
    /// the directory does not exist), naming the directory and where it came from. With
    /// `queue.backend: postgres` the queue is in the database and no directory is needed.
    package func settings(for command: String, needsQueue: Bool = true, environment: [String: String] = ProcessInfo.processInfo.environment,
                  installed: String = StateOptions.installedStateDirectory) throws -> DaemonConfig {
        var settings = try readingConfig { () throws(ConfigError) in try ConfigLoader.load(path: config, environment: environment) }
        var source = settings.stateDirectorySource
        if let stateDirectory {
            settings.stateDirectory = stateDirectory
            source = "--state-directory"
        } else if settings.stateDirectorySource == DaemonConfig.defaultStateDirectorySource,
                  FileManager.default.fileExists(atPath: installed) {
            settings.stateDirectory = installed
            source = "the installed service's directory"
        }
        if needsQueue && settings.queueBackend == .postgres { return settings }  // the queue is in the database
        let queue = Self.absolute(settings.queueDirectory)
        if !needsQueue {
            // Only the refresh-token mode keeps something there (the token set).
            let state = Self.absolute(settings.stateDirectory)
            guard settings.xero.auth.mode != .refreshToken || FileManager.default.fileExists(atPath: state) else {
                throw failure("\(command): no state directory \(state) (from \(source)); pass --state-directory with the daemon's, e.g. \(installed) for the service")
            }
            return settings
        }
        guard FileManager.default.fileExists(atPath: queue + "/lock") else {
            printError("\(command): no queue in \(queue) (state directory from \(source)): no daemon has run with it; "
                       + "pass --state-directory with the daemon's, e.g. \(installed) for the service")
            throw ExitCode.failure
        }
        return settings
    }

    package static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)).path
    }
}
