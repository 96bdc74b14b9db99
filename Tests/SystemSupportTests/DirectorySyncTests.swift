import Foundation
import Glibc
import Testing
import SystemSupport

@Suite struct DirectorySyncTests {
    /// A fresh directory under the system temporary directory, removed by `body`'s caller.
    private func withRoot<T>(_ body: (String) throws -> T) throws -> T {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("DirectorySyncTests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: root) }
        return try body(root)
    }

    private func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    @Test func createsEveryMissingDirectoryAndSyncsEachParentTopDown() throws {
        try withRoot { root in
            let recorder = DirectorySync.Recorder(under: root)
            try DirectorySync.makeDirectory(at: root + "/a/b/c/", mode: 0o750)
            for path in ["a", "a/b", "a/b/c"] { #expect(isDirectory(root + "/" + path)) }
            #expect(recorder.take() == [
                .created(root + "/a"), .synchronized(root),
                .created(root + "/a/b"), .synchronized(root + "/a"),
                .created(root + "/a/b/c"), .synchronized(root + "/a/b"),
            ])
            var info = stat()
            #expect(stat(root + "/a/b/c", &info) == 0)
            #expect(info.st_mode & 0o027 == 0, "mode 0750, less the umask")

            // Existing directories: nothing to create, nothing to sync.
            try DirectorySync.makeDirectory(at: root + "/a/b/c", mode: 0o750)
            try DirectorySync.makeDirectory(at: root + "/a/b", mode: 0o750)
            #expect(recorder.take() == [])
            // Only the missing tail is created.
            try DirectorySync.makeDirectory(at: root + "/a/d", mode: 0o750)
            #expect(recorder.take() == [.created(root + "/a/d"), .synchronized(root + "/a")])
        }
    }

    @Test func aFileInThePathFailsNamingMkdir() throws {
        try withRoot { root in
            #expect(FileManager.default.createFile(atPath: root + "/file", contents: Data("x".utf8)))
            let below = #expect(throws: SystemCallError.self) { try DirectorySync.makeDirectory(at: root + "/file/sub/dir", mode: 0o750) }
            #expect(below?.call == "mkdir")
            #expect(below?.errno == ENOTDIR)
            #expect(below?.description.contains("mkdir failed on \(root)/file") == true)
            let itself = #expect(throws: SystemCallError.self) { try DirectorySync.makeDirectory(at: root + "/file", mode: 0o750) }
            #expect(itself == SystemCallError(call: "mkdir", errno: ENOTDIR, path: root + "/file"))
        }
    }

    @Test func aNameTooLongFailsNamingMkdir() throws {
        try withRoot { root in
            let path = root + "/" + String(repeating: "n", count: 300) + "/sub"
            let error = #expect(throws: SystemCallError.self) { try DirectorySync.makeDirectory(at: path, mode: 0o750) }
            #expect(error?.call == "mkdir")
            #expect(error?.errno == ENAMETOOLONG)
        }
    }

    // root ignores directory permissions, so this runs only as another user.
    @Test(.enabled(if: getuid() != 0, "root may create entries in a read-only directory"))
    func aReadOnlyParentFailsNamingMkdir() throws {
        try withRoot { root in
            #expect(chmod(root, 0o500) == 0)
            defer { chmod(root, 0o700) }
            let error = #expect(throws: SystemCallError.self) { try DirectorySync.makeDirectory(at: root + "/x", mode: 0o750) }
            #expect(error == SystemCallError(call: "mkdir", errno: EACCES, path: root + "/x"))
        }
    }

    @Test func synchronizeAMissingDirectoryFailsNamingOpen() throws {
        try withRoot { root in
            let error = #expect(throws: SystemCallError.self) { try DirectorySync.synchronize(directory: root + "/missing") }
            #expect(error == SystemCallError(call: "open", errno: ENOENT, path: root + "/missing"))
        }
    }

    @Test func renameSyncsTheTargetAndTheSourceDirectory() throws {
        try withRoot { root in
            try DirectorySync.makeDirectory(at: root + "/from", mode: 0o750)
            try DirectorySync.makeDirectory(at: root + "/to", mode: 0o750)
            #expect(FileManager.default.createFile(atPath: root + "/from/f", contents: Data("x".utf8)))
            let recorder = DirectorySync.Recorder(under: root)
            try DirectorySync.rename(root + "/from/f", to: root + "/to/f")
            #expect(FileManager.default.fileExists(atPath: root + "/to/f"))
            #expect(recorder.take() == [.synchronized(root + "/to"), .synchronized(root + "/from")])
            try DirectorySync.rename(root + "/to/f", to: root + "/to/g")
            #expect(recorder.take() == [.synchronized(root + "/to")])
            let error = #expect(throws: SystemCallError.self) { try DirectorySync.rename(root + "/to/f", to: root + "/to/h") }
            #expect(error == SystemCallError(call: "rename", errno: ENOENT, path: root + "/to/f"))
        }
    }

    @Test func atomicReplaceSyncsTheDirectoryAfterItsRename() throws {
        try withRoot { root in
            let recorder = DirectorySync.Recorder(under: root)
            try AtomicFile.replace(root + "/state.json", with: Array("{}".utf8), mode: 0o600)
            #expect(try String(contentsOfFile: root + "/state.json", encoding: .utf8) == "{}")
            #expect(recorder.take() == [.synchronized(root)])
        }
    }

    @Test(arguments: [("/a/b", "/a"), ("/a", "/"), ("a", "."), ("a/b/", "a"), ("/a//", "/")])
    func parentOfAPath(path: String, parent: String) {
        #expect(DirectorySync.parent(of: path) == parent)
    }
}
