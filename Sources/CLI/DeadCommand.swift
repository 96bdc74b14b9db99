import ArgumentParser
import ByteJSON
import DaemonConfig
import DaemonRuntime
import Foundation
import Worker

/// `xero-webhookd dead …`: inspect and act on events the worker gave up on. Safe while the
/// daemon runs: the store is files, changed by whole-file writes and atomic renames. With
/// `queue.backend: postgres` the letters are rows of `xero_webhookd_dead_events`, each changed
/// in one transaction (`SharedQueueAdmin`).
package struct DeadCommand: ParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        commandName: "dead",
        abstract: "Inspect, replay or purge dead-lettered events.",
        subcommands: [List.self, Show.self, Replay.self, Purge.self]
    )

    package struct Options: ParsableArguments {
        package init() {}

        @OptionGroup package var state: StateOptions

        package func settings() throws -> DaemonConfig {
            try state.settings(for: "dead")
        }
    }

    package struct List: ParsableCommand {
        package init() {}

        package static let configuration = CommandConfiguration(abstract: "One line per dead letter: id, attempts, last error.")
        @OptionGroup package var options: Options

        @Flag(help: "One JSON object per line (numbers as JSON numbers, times in ms since the epoch) instead of text.")
        package var json = false

        package func run() throws {
            let settings = try options.settings()
            if settings.queueBackend == .postgres { return try SharedQueueAdmin.perform(.deadList(json: json), settings) }
            let letters = DeadLetterStore(stateDirectory: settings.stateDirectory).list()
            if json {
                func q(_ text: String) -> String { String(decoding: JSONText.quoted(text), as: UTF8.self) }
                var out = ""
                for letter in letters {
                    out += #"{"id":\#(q(letter.id)),"sequence":\#(letter.sequence),"eventId":\#(q(letter.eventID)),"attempts":\#(letter.attempts),"firstAttemptMs":\#(letter.firstAttempt),"deadAtMs":\#(letter.deadAt),"lastError":\#(q(letter.lastError))}"# + "\n"
                }
                writeOut(Array(out.utf8))
                return
            }
            var out = ""
            for letter in letters {
                out += "\(letter.id)\tattempts=\(letter.attempts)\t\(letter.lastError)\n"
            }
            out += "\(letters.count) dead letter\(letters.count == 1 ? "" : "s")\n"
            writeOut(Array(out.utf8))
        }
    }

    package struct Show: ParsableCommand {
        package init() {}

        package static let configuration = CommandConfiguration(abstract: "Print one dead letter as JSON.")
        @OptionGroup package var options: Options
        @Argument(help: "The id from `dead list`.") package var id: String

        package func run() throws {
            let settings = try options.settings()
            if settings.queueBackend == .postgres { return try SharedQueueAdmin.perform(.deadShow(id), settings) }
            guard let letter = DeadLetterStore(stateDirectory: settings.stateDirectory).get(id) else {
                throw failure("dead: no dead letter \(id)")
            }
            writeOut(letter.json() + [UInt8(ascii: "\n")])
        }
    }

    package struct Replay: ParsableCommand {
        package init() {}

        package static let configuration = CommandConfiguration(
            abstract: "Queue dead letters again; the running daemon (or its next start) delivers them."
        )
        @OptionGroup package var selection: Selection

        package func validate() throws { try selection.validate() }

        package func run() throws {
            try selection.act(replay: true) { store, ids throws(DurableFile.Failure) in try store.replay(ids) }
        }
    }

    package struct Purge: ParsableCommand {
        package init() {}

        package static let configuration = CommandConfiguration(abstract: "Delete dead letters for good.")
        @OptionGroup package var selection: Selection

        package func validate() throws { try selection.validate() }

        package func run() throws {
            try selection.act(replay: false) { store, ids throws(DurableFile.Failure) in try store.purge(ids) }
        }
    }

    /// Which letters `replay` and `purge` act on: the ids given, or every one with `--all`.
    package struct Selection: ParsableArguments {
        package init() {}

        @OptionGroup package var options: Options
        @Flag(help: "Every dead letter.") package var all = false
        @Argument(help: "Ids from `dead list`.") package var ids: [String] = []

        package func validate() throws {
            guard all != !ids.isEmpty else { throw ValidationError("give ids or --all, not both and not neither") }
        }

        /// What `replay` (or `purge`) reports it did with `count` letters.
        static func done(_ count: Int, replay: Bool) -> [UInt8] {
            Array("\(count) \(replay ? "queued for replay" : "purged")\n".utf8)
        }

        /// Runs `action` (a replay, or a purge) on the selected ids (with the postgres queue:
        /// replays or purges them there), reports ids that were not found, and fails if any was
        /// missing. An id given twice is one letter.
        package func act(replay: Bool, _ action: (DeadLetterStore, [String]) throws(DurableFile.Failure) -> [String]) throws {
            let settings = try options.settings()
            var seen = Set<String>()
            let ids = self.ids.filter { seen.insert($0).inserted }
            if settings.queueBackend == .postgres { return try SharedQueueAdmin.perform(.deadAct(replay: replay, all: all, ids: ids), settings) }
            let store = DeadLetterStore(stateDirectory: settings.stateDirectory)
            let wanted = all ? store.list().map(\.id) : ids
            let handled = try action(store, wanted)
            for id in wanted where !handled.contains(id) { printError("dead: no dead letter \(id)") }
            writeOut(Self.done(handled.count, replay: replay))
            if handled.count < wanted.count { throw ExitCode.failure }
        }
    }
}
