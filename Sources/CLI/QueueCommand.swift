import ArgumentParser
import ByteJSON
import DaemonConfig
import DaemonRuntime
import DiskQueue
import EventRecord
import Foundation
import Worker

package struct QueueCommand: ParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Inspect the queue (on disk, or the postgres queue with queue.backend postgres).",
        subcommands: [Dump.self, Status.self, Salvage.self]
    )

    package struct Status: ParsableCommand {
        package init() {}

        package static let configuration = CommandConfiguration(
            abstract: "Pending events, the oldest one's age, backlog per tenant and dead letters; works while the daemon runs."
        )

        @OptionGroup package var state: StateOptions

        @Flag(help: "One JSON object instead of lines (numbers as JSON numbers, times in ms since the epoch).")
        package var json = false

        package func run() throws {
            let settings = try state.settings(for: "queue status")
            if settings.queueBackend == .postgres { return try SharedQueueAdmin.perform(.status(json: json), settings) }
            let status: QueueStatus
            do {
                status = try QueueStatus.read(stateDirectory: settings.stateDirectory)
            } catch {
                throw failure("queue status: \(error)")
            }
            if json {
                writeOut(Self.json(status) + [UInt8(ascii: "\n")])
                return
            }
            var lines = ["pending: \(status.pending)", "consumer position: \(status.consumerPosition)"]
            lines += Self.backlogLines(oldest: status.oldestPendingReceivedAt, byTenant: status.backlogByTenant)
            lines.append("dead letters: \(status.deadLetters)")
            if status.replaysWaiting > 0 { lines.append("replays waiting: \(status.replaysWaiting)") }
            for pause in status.pauses {
                let since = UTCTimestamp.format(millisecondsSinceEpoch: pause.since)
                lines.append("paused \(pause.scope) since \(since): \(pause.reason)")
            }
            lines += Self.setAsideLines(status.setAside)
            writeOut(Array((lines.joined(separator: "\n") + "\n").utf8))
        }

        /// The oldest pending event with its age, and the backlog per tenant: lines both queues' status has.
        package static func backlogLines(oldest: String?, byTenant: [String: Int]) -> [String] {
            var lines: [String] = []
            if let oldest {
                let age = secondsSince(receivedAt: oldest).map { String(format: "%.0f s ago", $0) } ?? "age unknown"
                lines.append("oldest pending received: \(oldest) (\(age))")
            } else {
                lines.append("oldest pending received: -")
            }
            for tenant in byTenant.keys.sorted() { lines.append("tenant \(tenant): \(byTenant[tenant]!)") }
            return lines
        }

        /// `{"<tenant>":<events>,…}`, tenants sorted.
        package static func tenantsJSON(_ byTenant: [String: Int]) -> String {
            "{" + byTenant.keys.sorted().map { "\(String(decoding: JSONText.quoted($0), as: UTF8.self)):\(byTenant[$0]!)" }.joined(separator: ",") + "}"
        }

        /// `queue status --json`: the same facts as the lines, for scripts and monitoring.
        package static func json(_ status: QueueStatus) -> [UInt8] {
            func q(_ text: String) -> String { String(decoding: JSONText.quoted(text), as: UTF8.self) }
            let pauses = status.pauses.map {
                #"{"scope":\#(q("\($0.scope)")),"reason":\#(q($0.reason)),"sinceMs":\#($0.since),"recheckAtMs":\#($0.recheckAt)}"#
            }.joined(separator: ",")
            let setAside = status.setAside.map {
                #"{"file":\#(q($0.name)),"kind":\#(q($0.kind.rawValue)),"bytes":\#($0.bytes),"salvaged":\#($0.salvaged)}"#
            }.joined(separator: ",")
            let oldest = status.oldestPendingReceivedAt.map(q) ?? "null"
            return Array(#"{"pending":\#(status.pending),"consumerPosition":\#(status.consumerPosition),"oldestPendingReceivedAt":\#(oldest),"backlogByTenant":\#(tenantsJSON(status.backlogByTenant)),"deadLetters":\#(status.deadLetters),"replaysWaiting":\#(status.replaysWaiting),"pauses":[\#(pauses)],"setAside":[\#(setAside)]}"#.utf8)
        }

        /// `set aside: N files, B bytes (K not salvaged)` and one line per file; nothing when none.
        package static func setAsideLines(_ files: [SetAsideFile]) -> [String] {
            guard !files.isEmpty else { return [] }
            let bytes = files.reduce(0) { $0 + $1.bytes }
            let waiting = files.filter { !$0.salvaged }.count
            var lines = ["set aside: \(files.count) files, \(bytes) bytes (\(waiting) not salvaged)"]
            for file in files {
                lines.append("set aside \(file.name): \(file.kind.rawValue), \(file.bytes) bytes\(file.salvaged ? ", salvaged" : "")")
            }
            return lines
        }
    }

    package struct Dump: ParsableCommand {
        package init() {}

        package static let configuration = CommandConfiguration(
            abstract: "Print every record in the queue as one JSON line: sequence, received time, the event JSON as received."
        )

        @OptionGroup package var state: StateOptions

        package func run() throws {
            let settings = try state.settings(for: "queue dump")
            if settings.queueBackend == .postgres { return try SharedQueueAdmin.perform(.dump, settings) }
            let records: [QueueRecord]
            do {
                records = try QueueReader.records(in: settings.queueDirectory)
            } catch {
                throw failure("queue dump: \(error)")
            }
            var out: [UInt8] = []
            for record in records {
                out.append(contentsOf: QueuedEvent.dumpLine(sequence: record.sequence, record: record.payload))
                out.append(UInt8(ascii: "\n"))
                if out.count > 1 << 20 {
                    writeOut(out)
                    out.removeAll(keepingCapacity: true)
                }
            }
            writeOut(out)
        }
    }
}

extension QueueCommand {
    package struct Salvage: ParsableCommand {
        package init() {}

        package static let configuration = CommandConfiguration(
            abstract: "Queue again the events that still decode in what recovery set aside (damaged records, torn tails); stop the daemon first."
        )

        @OptionGroup package var state: StateOptions

        package func run() throws {
            let settings = try state.settings(for: "queue salvage")
            if settings.queueBackend == .postgres {
                // What it salvages goes to the local disk queue, which a daemon with the postgres queue never reads.
                throw failure("queue salvage: queue.backend is postgres; salvage puts events back into a disk queue, which only a daemon with queue.backend disk delivers")
            }
            let queue: DiskQueue
            do {
                // Takes the directory lock: refused while a daemon has the queue open.
                queue = try DiskQueue(directory: settings.queueDirectory, options: Daemon.queueOptions(settings))
            } catch {
                if case .locked = error {
                    printError("queue salvage: \(error.description); salvage appends to the queue, so stop the daemon first")
                } else {
                    printError("queue salvage: \(error)")
                }
                throw ExitCode.failure
            }
            defer { queue.close() }
            let summary: QueueSalvage.Summary
            do {
                summary = try QueueSalvage.run(queue, directory: settings.queueDirectory, maxRecordBytes: Daemon.queueOptions(settings).maxRecordBytes)
            } catch {
                throw failure("queue salvage: \(error)")
            }
            writeOut(Array((summary.description + "\n").utf8))
        }
    }
}
