import Foundation
import Glibc
import SystemSupport
import Testing

@Suite struct AtomicFileTests {
    private func withRoot<T>(_ body: (String) throws -> T) throws -> T {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("AtomicFileTests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: root) }
        return try body(root)
    }

    private func contents(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map(Array.init)
    }

    private func mode(_ path: String) -> mode_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    @Test func aFailedCallKeepsItsErrno() throws {
        try withRoot { root in
            let missing = #expect(throws: SystemCallError.self) {
                try AtomicFile.replace(root + "/no/such/state.json", with: [1], mode: 0o600)
            }
            #expect(missing?.call == "open")
            #expect(missing?.errno == ENOENT)

            // A rename over a directory fails with EISDIR: the temporary file goes, the
            // directory stays.
            try FileManager.default.createDirectory(atPath: root + "/state.json/inside", withIntermediateDirectories: true)
            let renamed = #expect(throws: SystemCallError.self) {
                try AtomicFile.replace(root + "/state.json", with: [1], mode: 0o600)
            }
            #expect(renamed?.call == "rename")
            #expect(renamed?.errno == EISDIR)
            #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["state.json"])
        }
    }

    @Test func aFixedTemporaryNameLeftByACrashIsTruncatedAndGetsTheMode() throws {
        try withRoot { root in
            let leftover = root + "/position.tmp"
            try Data(repeating: 0x78, count: 100).write(to: URL(fileURLWithPath: leftover))
            chmod(leftover, 0o666)
            try AtomicFile.replace(root + "/position", with: [1, 2, 3], mode: 0o640, temporary: leftover)
            #expect(contents(root + "/position") == [1, 2, 3])
            #expect(mode(root + "/position") == 0o640)
            #expect(!FileManager.default.fileExists(atPath: leftover))
        }
    }

    @Test func aStagedFileReplacesNothingUntilCommittedAndADiscardedOneNothingAtAll() throws {
        try withRoot { root in
            let path = root + "/state.json"
            try AtomicFile.replace(path, with: Array("old".utf8), mode: 0o600)
            let recorder = DirectorySync.Recorder(under: root)
            let discarded = try AtomicFile.stage(path, with: Array("lost".utf8), mode: 0o600)
            #expect(contents(discarded.temporary) == Array("lost".utf8))
            discarded.discard()
            #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["state.json"])

            let staged = try AtomicFile.stage(path, with: Array("new".utf8), mode: 0o600)
            #expect(contents(path) == Array("old".utf8))
            #expect(recorder.take() == [])
            try staged.commit()
            #expect(contents(path) == Array("new".utf8))
            #expect(recorder.take() == [.synchronized(root)])
            #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["state.json"])
        }
    }

    @Test func aSymbolicLinkAtTheTemporaryNameIsReplacedNotFollowed() throws {
        try withRoot { root in
            let victim = root + "/victim"
            try Data("precious data\n".utf8).write(to: URL(fileURLWithPath: victim))
            chmod(victim, 0o644)
            #expect(symlink(victim, root + "/position.tmp") == 0)
            try AtomicFile.replace(root + "/position", with: [1, 2, 3], mode: 0o640, temporary: root + "/position.tmp")
            #expect(contents(victim) == Array("precious data\n".utf8))
            #expect(mode(victim) == 0o644)
            var info = stat()
            #expect(lstat(root + "/position", &info) == 0 && info.st_mode & S_IFMT == S_IFREG)
            #expect(contents(root + "/position") == [1, 2, 3])
        }
    }
}

