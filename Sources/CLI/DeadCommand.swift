import ArgumentParser
import ByteJSON
import DaemonConfig
import DaemonRuntime
import Foundation
#if PostgreSQL
import PostgresQueue
#endif
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

        package func store() throws -> DeadLetterStore {
            DeadLetterStore(stateDirectory: try settings().stateDirectory)
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
            if settings.queueBackend == .postgres {
                #if PostgreSQL
                let letters = try SharedQueueAdmin.with("dead list", settings) { queue in try await queue.deadEvents() }
                var out = ""
                for letter in letters {
                    out += json ? SharedQueueAdmin.deadListJSON(letter) + "\n" : "\(letter.id)\tattempts=\(letter.attempts)\ttenant=\(letter.tenant)\t\(letter.reason)\n"
                }
                if !json { out += "\(letters.count) dead letter\(letters.count == 1 ? "" : "s")\n" }
                writeOut(Array(out.utf8))
                return
                #else
                throw SharedQueueAdmin.unsupported("dead list")
                #endif
            }
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
            if settings.queueBackend == .postgres {
                #if PostgreSQL
                guard let number = Int64(id) else { throw failure("dead: no dead letter \(id)") }
                let letters = try SharedQueueAdmin.with("dead show", settings) { queue in try await queue.deadEvents(ids: [number]) }
                guard let letter = letters.first else { throw failure("dead: no dead letter \(id)") }
                writeOut(SharedQueueAdmin.deadJSON(letter) + [UInt8(ascii: "\n")])
                return
                #else
                throw SharedQueueAdmin.unsupported("dead show")
                #endif
            }
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
            #if PostgreSQL
            try selection.act(done: "queued for replay", shared: { queue, ids in try await queue.replay(ids) }) { store, ids throws(DurableFile.Failure) in
                try store.replay(ids)
            }
            #else
            try selection.act(done: "queued for replay") { store, ids throws(DurableFile.Failure) in try store.replay(ids) }
            #endif
        }
    }

    package struct Purge: ParsableCommand {
        package init() {}

        package static let configuration = CommandConfiguration(abstract: "Delete dead letters for good.")
        @OptionGroup package var selection: Selection

        package func validate() throws { try selection.validate() }

        package func run() throws {
            #if PostgreSQL
            try selection.act(done: "purged", shared: { queue, ids in try await queue.purge(ids) }) { store, ids throws(DurableFile.Failure) in
                try store.purge(ids)
            }
            #else
            try selection.act(done: "purged") { store, ids throws(DurableFile.Failure) in try store.purge(ids) }
            #endif
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

        #if PostgreSQL
        /// Runs `shared` on the selected ids with the postgres queue, else `action`; reports ids
        /// that were not found, and fails if any was missing.
        package func act(done: String, shared: @escaping @Sendable (PostgresEventQueue, [Int64]) async throws -> [Int64],
                         _ action: (DeadLetterStore, [String]) throws(DurableFile.Failure) -> [String]) throws {
            let settings = try options.settings()
            guard settings.queueBackend == .postgres else { return try act(done: done, action) }
            let command = "dead \(done == "purged" ? "purge" : "replay")"
            let (all, ids) = (self.all, self.ids)
            let numbers = ids.compactMap { Int64($0) }
            let (wanted, handled) = try SharedQueueAdmin.with(command, settings) { queue in
                let wanted = all ? try await queue.deadEvents().map(\.id) : numbers
                return (wanted, try await shared(queue, wanted))
            }
            let missing = all ? wanted.filter { !handled.contains($0) }.map(String.init) : ids.filter { Int64($0).map { !handled.contains($0) } ?? true }
            for id in missing { printError("dead: no dead letter \(id)") }
            writeOut(Array("\(handled.count) \(done)\n".utf8))
            if !missing.isEmpty { throw ExitCode.failure }
        }
        #endif

        /// Runs `action` on the selected ids, reports ids that were not found, and fails if any was missing.
        package func act(done: String, _ action: (DeadLetterStore, [String]) throws(DurableFile.Failure) -> [String]) throws {
            let store = try options.store()
            let wanted = all ? store.list().map(\.id) : ids
            let handled = try action(store, wanted)
            for id in wanted where !handled.contains(id) { printError("dead: no dead letter \(id)") }
            writeOut(Array("\(handled.count) \(done)\n".utf8))
            if handled.count < wanted.count { throw ExitCode.failure }
        }
    }
}
