import ArgumentParser
import ByteJSON
import Foundation
import Worker

/// `xero-webhookd dead …`: inspect and act on events the worker gave up on. Safe while the
/// daemon runs: the store is files, changed by whole-file writes and atomic renames.
struct DeadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead",
        abstract: "Inspect, replay or purge dead-lettered events.",
        subcommands: [List.self, Show.self, Replay.self, Purge.self]
    )

    struct Options: ParsableArguments {
        @Option(help: "Config file naming the state directory.")
        var config: String?

        func store() throws -> DeadLetterStore {
            do {
                let settings = try ConfigLoader.load(path: config, environment: ProcessInfo.processInfo.environment)
                return DeadLetterStore(stateDirectory: settings.stateDirectory)
            } catch {
                printError(error.description)
                throw configErrorExit
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per dead letter: id, attempts, last error.")
        @OptionGroup var options: Options

        func run() throws {
            let letters = try options.store().list()
            var out = ""
            for letter in letters {
                out += "\(letter.id)\tattempts=\(letter.attempts)\t\(letter.lastError)\n"
            }
            out += "\(letters.count) dead letter\(letters.count == 1 ? "" : "s")\n"
            writeOut(Array(out.utf8))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one dead letter as JSON.")
        @OptionGroup var options: Options
        @Argument(help: "The id from `dead list`.") var id: String

        func run() throws {
            guard let letter = try options.store().get(id) else {
                printError("dead: no dead letter \(id)")
                throw ExitCode.failure
            }
            writeOut(letter.json() + [UInt8(ascii: "\n")])
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue dead letters again; the running daemon (or its next start) delivers them."
        )
        @OptionGroup var options: Options
        @Flag(help: "Replay every dead letter.") var all = false
        @Argument(help: "Ids from `dead list`.") var ids: [String] = []

        func validate() throws {
            guard all != !ids.isEmpty else { throw ValidationError("give ids or --all, not both and not neither") }
        }

        func run() throws {
            let store = try options.store()
            let wanted = all ? store.list().map(\.id) : ids
            let moved = try store.replay(wanted)
            for id in wanted where !moved.contains(id) { printError("dead: no dead letter \(id)") }
            writeOut(Array("\(moved.count) queued for replay\n".utf8))
            if moved.count < wanted.count { throw ExitCode.failure }
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters for good.")
        @OptionGroup var options: Options
        @Flag(help: "Purge every dead letter.") var all = false
        @Argument(help: "Ids from `dead list`.") var ids: [String] = []

        func validate() throws {
            guard all != !ids.isEmpty else { throw ValidationError("give ids or --all, not both and not neither") }
        }

        func run() throws {
            let store = try options.store()
            let wanted = all ? store.list().map(\.id) : ids
            let removed = try store.purge(wanted)
            for id in wanted where !removed.contains(id) { printError("dead: no dead letter \(id)") }
            writeOut(Array("\(removed.count) purged\n".utf8))
            if removed.count < wanted.count { throw ExitCode.failure }
        }
    }
}
