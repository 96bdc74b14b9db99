import ArgumentParser
import DiskQueue
import Foundation
import XeroWebhooks

struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Inspect the on-disk queue.",
        subcommands: [Dump.self]
    )

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
