import SystemSupport
import Foundation
import Synchronization
import Testing
@testable import DiskQueue

/// Runs `body` with a fresh directory under the system temporary directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("DiskQueueTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url.path)
}

/// A recognisable payload of `size` bytes for record `index`.
func payload(_ index: Int, size: Int = 24) -> [UInt8] {
    var bytes = Array("event-\(index)-".utf8)
    var filler = UInt8(truncatingIfNeeded: index)
    while bytes.count < size {
        bytes.append(filler)
        filler &+= 31
    }
    return Array(bytes.prefix(size))
}

/// Segment file names in `directory`, in order.
func segmentFiles(in directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory)
        .filter { $0.hasPrefix("segment-") && $0.hasSuffix(".log") }
        .sorted()
}

func fileBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func copyDirectory(_ source: String, to destination: String) throws {
    try FileManager.default.copyItem(atPath: source, toPath: destination)
}

/// Collects completion results from any thread and lets the test wait for them with a deadline.
final class Completions: Sendable {
    private let results = Mutex<[Result<Range<UInt64>, DiskQueueError>]>([])
    private let arrived = DispatchSemaphore(value: 0)

    var handler: @Sendable (Result<Range<UInt64>, DiskQueueError>) -> Void {
        { result in
            self.results.withLock { $0.append(result) }
            self.arrived.signal()
        }
    }

    /// Waits until `count` completions arrived, or `seconds` passed. Returns whether all arrived.
    func wait(for count: Int, seconds: Double = 60) -> Bool {
        let deadline = DispatchTime.now() + seconds
        for _ in 0..<count where arrived.wait(timeout: deadline) == .timedOut {
            return false
        }
        return true
    }

    var all: [Result<Range<UInt64>, DiskQueueError>] {
        results.withLock { $0 }
    }
}

/// Fails the given fault point on demand, counting how often each point was reached.
final class FaultSwitch: Sendable {
    private let state = Mutex<(armed: FaultPoint?, errno: Int32, hits: [FaultPoint: Int])>((nil, EIO, [:]))
    static let injected = SystemCallError(call: "pwrite", errno: EIO, path: nil)

    var injector: FaultInjector {
        FaultInjector { point in
            let failure = self.state.withLock { state -> SystemCallError? in
                state.hits[point, default: 0] += 1
                return state.armed == point ? SystemCallError(call: "pwrite", errno: state.errno) : nil
            }
            if let failure { throw failure }
        }
    }

    /// From now on `point` fails with `errno` (EIO by default: `injected`); nil disarms.
    func arm(_ point: FaultPoint?, errno: Int32 = EIO) {
        state.withLock {
            $0.armed = point
            $0.errno = errno
        }
    }

    func hits(_ point: FaultPoint) -> Int {
        state.withLock { $0.hits[point, default: 0] }
    }
}

extension Result {
    var failure: Failure? {
        if case let .failure(error) = self { return error }
        return nil
    }
}

/// Holds the writer the first time it reaches `point` after `arm()`, until `release()`, so a test
/// can look at the queue while a batch is between two steps.
final class PointGate: Sendable {
    private let point: FaultPoint
    private let armed = Mutex(false)
    private let held = DispatchSemaphore(value: 0)
    private let released = DispatchSemaphore(value: 0)

    init(at point: FaultPoint) {
        self.point = point
    }

    var injector: FaultInjector {
        FaultInjector { point in self.hold(at: point) }
    }

    func arm() {
        armed.withLock { $0 = true }
    }

    func hold(at point: FaultPoint) {
        guard point == self.point else { return }
        let isArmed = armed.withLock { value -> Bool in
            defer { value = false }
            return value
        }
        guard isArmed else { return }
        held.signal()
        _ = released.wait(timeout: .now() + 60)
    }

    func waitUntilHeld() -> Bool {
        held.wait(timeout: .now() + 60) == .success
    }

    func release() {
        released.signal()
    }
}

/// Total size of the segment files in `directory`.
func totalSegmentBytes(in directory: String) throws -> Int {
    try segmentFiles(in: directory).reduce(0) { $0 + (try fileBytes(directory + "/" + $1).count) }
}

/// `preallocationBytes` values the important tests run with: off (every batch grows the file)
/// and the default.
let preallocations = [0, DiskQueueOptions().preallocationBytes]

/// Offset just past the last valid record of the segment file at `path` (the header size when
/// there is none): its size less prepared zeros or a damaged tail.
func committedEnd(of path: String) throws -> Int {
    let bytes = try fileBytes(path)
    return bytes.withUnsafeBytes { raw in
        guard case let .header(header) = SegmentHeader.decode(raw) else { return 0 }
        return SegmentScanner.scan(raw, firstSequence: header.firstSequence, maxRecordBytes: DiskQueueOptions().maxRecordBytes).end
    }
}

/// Sum of the committed ends of the segment files in `directory`: what `liveBytes` counts.
func committedSegmentBytes(in directory: String) throws -> Int {
    try segmentFiles(in: directory).reduce(0) { $0 + (try committedEnd(of: directory + "/" + $1)) }
}

/// The `DiskQueueError` `body` throws (nil if none), for matching cases that carry a text.
func thrownError(_ body: () throws -> Void) -> DiskQueueError? {
    do {
        try body()
        return nil
    } catch {
        return error as? DiskQueueError
    }
}

extension DiskQueueError {
    var isDiskFull: Bool {
        if case .diskFull = self { return true }
        return false
    }

    var isFailed: Bool {
        if case .failed = self { return true }
        return false
    }
}
