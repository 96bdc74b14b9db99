import Foundation
import Glibc
import SystemSupport
import Testing

@Suite struct FileBytesTests {
    private func withRoot<T>(_ body: (String) throws -> T) throws -> T {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("FileBytesTests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: root) }
        return try body(root)
    }

    /// `/proc` files say their size is 0: they are read to their end, not to that size.
    @Test func aProcFileIsReadWhole() throws {
        let bytes = try FileBytes.read("/proc/self/status")
        #expect(String(decoding: bytes, as: UTF8.self).contains("Pid:\t\(getpid())"))
    }

    @Test func aFileAtTheLimitIsReadAndOneByteMoreIsRefused() throws {
        try withRoot { root in
            let path = root + "/key"
            #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x61, count: 100)))
            let whole = try FileBytes.read(path, limit: 100)
            #expect(whole == [UInt8](repeating: 0x61, count: 100))
            let refused = #expect(throws: FileBytes.ReadError.self) { try FileBytes.read(path, limit: 99) }
            #expect(refused?.errno == EFBIG)
            #expect(refused?.description == "larger than 99 bytes")
        }
    }

    /// A FIFO would block whoever reads it (start-up, a reload) until a writer came.
    @Test func aFIFOIsRefusedWithoutBlocking() throws {
        try withRoot { root in
            let path = root + "/fifo"
            #expect(mkfifo(path, 0o600) == 0)
            let refused = #expect(throws: FileBytes.ReadError.self) { try FileBytes.read(path) }
            #expect(refused?.description == "not a regular file")
        }
    }

    @Test func aMissingFileKeepsItsErrnoAndASymbolicLinkCanBeRefused() throws {
        try withRoot { root in
            let missing = #expect(throws: FileBytes.ReadError.self) { try FileBytes.read(root + "/none") }
            #expect(missing?.call == "open")
            #expect(missing?.errno == ENOENT)
            #expect(FileManager.default.createFile(atPath: root + "/target", contents: Data("k".utf8)))
            #expect(symlink(root + "/target", root + "/link") == 0)
            let followed = try FileBytes.read(root + "/link")
            #expect(followed == Array("k".utf8))
            let refused = #expect(throws: FileBytes.ReadError.self) { try FileBytes.read(root + "/link", followSymlinks: false) }
            #expect(refused?.errno == ELOOP)
        }
    }
}
