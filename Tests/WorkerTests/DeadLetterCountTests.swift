import DiskQueue
import Foundation
import ResourceFetch
import TestSupport
import Testing
@testable import Worker
#if canImport(Glibc)
import Glibc
#endif

@Suite struct DeadLetterCountTests {
    /// What `/metrics` reports follows the worker's letters, and the command line's purge and
    /// replay from another store (another process, as `xero-webhookd dead …` is).
    @Test func theCountFollowsTheWorkersLettersAndRemovalsByTheCommandLine() async throws {
        let setup = try WorkerTests.Setup()
        defer { setup.close() }
        let state = setup.dir.file("state")
        let store = DeadLetterStore(stateDirectory: state)
        #expect(store.count == 0)  // no store directory yet
        for resource in ["a", "b"] {
            setup.fetcher.script(ResourceKey(tenantID: "t", category: "INVOICE", resourceID: resource), [.permanent("403: tenant disconnected")])
        }
        try enqueue(setup.queue, [event(tenant: "t", resource: "a"), event(tenant: "t", resource: "b"), event(tenant: "t", resource: "c")])
        let clock = setup.clock
        let worker = Worker(queue: setup.queue, fetcher: setup.fetcher, sink: setup.sink, stateDirectory: state,
                            deadLetters: store, now: { clock.now }, random: { 0.5 })
        #expect(try await drive(worker) { await worker.currentStatus().position == 4 })
        #expect(store.count == 2)
        #expect(store.count == 2)  // read again without a change

        let command = DeadLetterStore(stateDirectory: state)
        let ids = command.list().map(\.id)
        #expect(ids.count == 2)
        #expect(try command.purge([ids[0]]) == [ids[0]])
        #expect(store.count == 1)
        #expect(try command.replay([ids[1]]) == [ids[1]])
        #expect(store.count == 0)
        // The worker queues the replayed event again; the store stays empty.
        #expect(try await drive(worker) { await worker.currentStatus().position == 5 })
        #expect(store.count == 0)
        #expect(command.count == 0)
    }

    /// A letter this process stores or removes changes the count too, also when reads would
    /// otherwise come from memory.
    @Test func ownChangesCount() throws {
        let dir = try TemporaryDirectory("xero-webhookd-dead")
        defer { dir.remove() }
        let store = DeadLetterStore(stateDirectory: dir.path)
        let letter = DeadLetter(sequence: 1, eventID: "e1", receivedAt: "", event: Array("{}".utf8), deadAt: 0, reason: "test")
        #expect(store.count == 0)
        try store.add(letter)
        #expect(store.count == 1)
        try store.add(letter)  // the same letter again replaces it
        #expect(store.count == 1)
        #expect(try store.purge([letter.id]) == [letter.id])
        #expect(store.count == 0)
    }

    /// While the directory's mtime stays, the count comes from memory (no listing per read);
    /// once it changes, the directory is listed again.
    @Test func anUnchangedDirectoryIsNotListedAgain() throws {
        let dir = try TemporaryDirectory("xero-webhookd-dead")
        defer { dir.remove() }
        let store = DeadLetterStore(stateDirectory: dir.path)
        try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
        for name in ["1-a.json", "2-b.json", "3-c.json.tmp-1-2"] { try Data("{}".utf8).write(to: URL(fileURLWithPath: store.directory + "/" + name)) }
        let settled = timespec(tv_sec: time(nil) - 60, tv_nsec: 0)
        setModified(store.directory, settled)
        #expect(store.count == 2)
        // A letter slipped in with the mtime put back: a listing would see it, memory does not.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: store.directory + "/4-d.json"))
        setModified(store.directory, settled)
        #expect(store.count == 2)
        setModified(store.directory, timespec(tv_sec: time(nil) - 30, tv_nsec: 0))
        #expect(store.count == 3)
    }

    /// A listing taken while the mtime was fresh does not vouch for the next read: a change in
    /// the same timestamp tick leaves the mtime as it was.
    @Test func aListingOfAFreshlyChangedDirectoryIsCheckedAgain() throws {
        let dir = try TemporaryDirectory("xero-webhookd-dead")
        defer { dir.remove() }
        let store = DeadLetterStore(stateDirectory: dir.path)
        try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: store.directory + "/1-a.json"))
        let fresh = timespec(tv_sec: time(nil), tv_nsec: 0)
        setModified(store.directory, fresh)
        #expect(store.count == 1)
        // Another process's letter in the same tick: the mtime does not move.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: store.directory + "/2-b.json"))
        setModified(store.directory, fresh)
        #expect(store.count == 2)
    }

    private func setModified(_ path: String, _ time: timespec) {
        let times = [time, time]
        #expect(utimensat(AT_FDCWD, path, times, 0) == 0)
    }
}
