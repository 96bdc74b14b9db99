import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command once per record with the record's JSON on stdin. Exit status 0 accepts the
/// record; any other status, or running longer than `timeout` (then SIGKILL), is a failure the
/// worker retries. At most `concurrency` commands run at once. No shell is involved.
public final class CommandSink: Sink, @unchecked Sendable {
    // @unchecked: immutable apart from `slots`, which is a semaphore.
    private let command: [String]
    private let timeout: Duration
    private let slots: DispatchSemaphore

    public init(command: [String], timeout: Duration = .seconds(30), concurrency: Int = 4) {
        precondition(!command.isEmpty, "the command sink needs a command")
        self.command = command
        self.timeout = timeout
        slots = DispatchSemaphore(value: max(1, concurrency))
    }

    public func deliver(_ records: [DeliveryRecord]) async -> [Result<Void, SinkError>] {
        await withTaskGroup(of: (Int, Result<Void, SinkError>).self) { group in
            for (index, record) in records.enumerated() {
                group.addTask { (index, await self.run(record)) }
            }
            var results = [Result<Void, SinkError>](repeating: .failure(SinkError("not run")), count: records.count)
            for await (index, result) in group { results[index] = result }
            return results
        }
    }

    private func run(_ record: DeliveryRecord) async -> Result<Void, SinkError> {
        await withCheckedContinuation { continuation in
            // Waiting for a slot blocks, so it happens on a dispatch thread of its own, not on
            // the concurrency pool.
            DispatchQueue(label: "xero-webhookd.sink.command").async {
                self.slots.wait()
                let result = self.runBlocking(record)
                self.slots.signal()
                continuation.resume(returning: result)
            }
        }
    }

    private func runBlocking(_ record: DeliveryRecord) -> Result<Void, SinkError> {
        // The record goes to the command's stdin through a socket pair, not a pipe: a command
        // that exits without reading would make a pipe write raise SIGPIPE in this process,
        // while send(MSG_NOSIGNAL) just fails with EPIPE.
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            return .failure(SinkError("socketpair: \(String(cString: strerror(errno)))"))
        }
        let ours = ends[0]
        let childInput = FileHandle(fileDescriptor: ends[1], closeOnDealloc: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.standardInput = childInput
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            close(ours)
            return .failure(SinkError("cannot run \(command[0]): \(error.localizedDescription)"))
        }
        try? childInput.close()  // the child has its own copy; closing twice is harmless
        // A command that does not read its input must not block us: write from another thread.
        let body = record.json() + [UInt8(ascii: "\n")]
        DispatchQueue(label: "xero-webhookd.sink.command.stdin").async {
            body.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = send(ours, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }  // EPIPE: the command stopped reading; its exit status decides
                    offset += n
                }
            }
            shutdown(ours, Int32(SHUT_WR))
            close(ours)
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        if finished.wait(timeout: .now() + seconds) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            return .failure(SinkError("\(command[0]) ran longer than \(timeout)"))
        }
        guard process.terminationStatus == 0 else {
            return .failure(SinkError("\(command[0]) exited with status \(process.terminationStatus)"))
        }
        return .success(())
    }
}
