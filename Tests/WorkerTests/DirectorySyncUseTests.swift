import DiskQueue
import EventRecord
import Foundation
import SystemSupport
import TestSupport
import Testing
@testable import Worker

/// The worker's directories (`worker/`, `dead/`, `dead/replay/`, the directory sink's output) are
/// created with their parents synced, and renames and new files in them are synced, all through
/// `DirectorySync`: a caller that stopped doing so fails here.
@Suite struct WorkerDirectorySyncUseTests {
    private func item() throws -> QueuedItem {
        let queued = QueuedEvent(receivedAt: "2026-11-29T01:00:01.000Z", eventSequence: nil, event: event(tenant: "t", resource: "r")).encoded()
        return try QueuedItem.decode(QueueRecord(sequence: 7, payload: queued))
    }

    @Test func deadLettersCreateAndSyncTheirDirectories() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let state = dir.file("state")
        let recorder = DirectorySync.Recorder(under: dir.path)
        let store = DeadLetterStore(stateDirectory: state)
        let letter = DeadLetter(item: try item(), attempts: 3, firstAttempt: 1, deadAt: 2, lastError: "500")
        try store.add(letter)
        #expect(recorder.take() == [
            .created(state), .synchronized(dir.path),
            .created(state + "/dead"), .synchronized(state),
            .synchronized(state + "/dead"),  // the letter's file, renamed into place
        ])
        #expect(try store.replay([letter.id]) == [letter.id])
        #expect(recorder.take() == [
            .created(state + "/dead/replay"), .synchronized(state + "/dead"),
            .synchronized(state + "/dead"), .synchronized(state + "/dead/replay"),
        ])
    }

    @Test func workerStateDirectoryIsCreatedWithItsParentSynced() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let state = dir.file("state")
        let queue = try DiskQueue(directory: state + "/queue")
        defer { queue.close() }
        let recorder = DirectorySync.Recorder(under: state + "/worker")
        let parent = DirectorySync.Recorder(under: state)
        _ = Worker(queue: queue, fetcher: ScriptedFetcher(), sink: MemorySink(), stateDirectory: state)
        #expect(recorder.events.first == .created(state + "/worker"))
        #expect(parent.events.prefix(2) == [.created(state + "/worker"), .synchronized(state)])
    }

    @Test func directorySinkSyncsItsNewDirectoryAndEachNewFile() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let out = dir.file("out/records")
        let recorder = DirectorySync.Recorder(under: dir.path)
        let sink = DirectorySink(directory: out, maxFileBytes: 1)
        let record = DeliveryRecord(items: [try item()], resource: Array(#"{"InvoiceID":"x"}"#.utf8), fetchedAt: "2026-11-29T01:00:02.000Z")!
        let first = await sink.deliver([record])
        #expect(first.allSatisfy { if case .success = $0 { true } else { false } })
        #expect(recorder.take() == [
            .created(dir.file("out")), .synchronized(dir.path),
            .created(out), .synchronized(dir.file("out")),
            .synchronized(out),  // the new records file's name
        ])
        // Past maxFileBytes: the next batch opens a new file, whose name is synced too.
        _ = await sink.deliver([record])
        #expect(recorder.take() == [.synchronized(out)])
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).count == 2)
    }
}
