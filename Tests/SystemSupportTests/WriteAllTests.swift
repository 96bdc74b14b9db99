import Foundation
import SystemSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct WriteAllTests {
    @Test func everyByteGoesOrTheErrnoComesBack() throws {
        let path = NSTemporaryDirectory() + "write-all-\(UUID().uuidString)"
        defer { unlink(path) }
        let bytes = [UInt8](repeating: 0x61, count: 1 << 20)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        #expect(bytes.withUnsafeBytes { writeAll(fd, $0) } == nil)
        close(fd)
        #expect(FileManager.default.contents(atPath: path).map(Array.init) == bytes)

        let readOnly = open(path, O_RDONLY | O_CLOEXEC)
        defer { close(readOnly) }
        #expect(bytes.withUnsafeBytes { writeAll(readOnly, $0) } == EBADF)
    }
}
