import ArgumentParser
import DiskQueue
import Foundation
import Worker
import XeroWebhooks

struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Inspect the on-disk queue.",
        subcommands: [Dump.self, Status.self]
    )

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pending events, the oldest one's age, backlog per tenant and dead letters; works while the daemon runs."
        )

        @Option(help: "Config file naming the state directory.")
        var config: String?

        func run() throws {
            let settings: DaemonConfig
            do {
                settings = try ConfigLoader.load(path: config, environment: ProcessInfo.processInfo.environment)
            } catch {
                printError(error.description)
                throw configErrorExit
            }
            let status: QueueStatus
            do {
                status = try QueueStatus.read(stateDirectory: settings.stateDirectory)
            } catch {
                printError("queue status: \(error)")
                throw ExitCode.failure
            }
            var lines = ["pending: \(status.pending)", "consumer position: \(status.consumerPosition)"]
            if let received = status.oldestPendingReceivedAt {
                let age = secondsSince(receivedAt: received).map { String(format: "%.0f s ago", $0) } ?? "age unknown"
                lines.append("oldest pending received: \(received) (\(age))")
            } else {
                lines.append("oldest pending received: -")
            }
            for tenant in status.backlogByTenant.keys.sorted() {
                lines.append("tenant \(tenant): \(status.backlogByTenant[tenant]!)")
            }
            lines.append("dead letters: \(status.deadLetters)")
            if status.replaysWaiting > 0 { lines.append("replays waiting: \(status.replaysWaiting)") }
            for pause in status.pauses {
                let since = UTCTimestamp.format(millisecondsSinceEpoch: pause.since)
                lines.append("paused \(pause.scope) since \(since): \(pause.reason)")
            }
            writeOut(Array((lines.joined(separator: "\n") + "\n").utf8))
        }
    }

    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every record in the queue as one JSON line: sequence, received time, the event JSON as received."
        )

        @Option(help: "Config file naming the state directory.")
        var config: String?

        func run() throws {
            let settings: DaemonConfig
            do {
                settings = try ConfigLoader.load(path: config, environment: ProcessInfo.processInfo.environment)
            } catch {
                printError(error.description)
                throw configErrorExit
            }
            let records: [QueueRecord]
            do {
                records = try QueueReader.records(in: settings.queueDirectory)
            } catch {
                printError("queue dump: \(error)")
                throw ExitCode.failure
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
