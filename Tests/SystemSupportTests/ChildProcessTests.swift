import Foundation
import Glibc
import SystemSupport
import Testing

/// What a child started by `ChildProcess.spawn` inherits: descriptors 0-2, nothing else.
@Suite struct ChildProcessTests {
    @Test func theChildGetsNoDescriptorButItsThreeStandardOnes() throws {
        // A pipe made the old way (no close-on-exec), as a library or another thread may leave one.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        var info = stat()
        #expect(fstat(ends[0], &info) == 0)
        let pipeName = "pipe:[\(info.st_ino)]"

        let output = FileManager.default.temporaryDirectory.path + "/child-fds-\(UUID().uuidString)"
        defer { unlink(output) }
        let out = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        #expect(out >= 0)
        defer { close(out) }
        let environment = ChildEnvironment(from: ["PATH": "/usr/bin:/bin"])
        let pid = try ChildProcess.spawn("/bin/sh", arguments: ["sh", "-c", "ls -l /proc/$$/fd"],
                                         environment: environment, stdout: out).get()
        #expect(ChildProcess.Ending(waitStatus: ChildProcess.wait(pid)) == .exited(0))
        let listing = try String(contentsOfFile: output, encoding: .utf8)
        #expect(listing.contains(" 1 -> "), "the listing: \(listing)")
        #expect(!listing.contains(pipeName), "the child inherited the pipe: \(listing)")
        // Only 0, 1 and 2 (ls lists the shell's descriptors, not its own).
        let numbers = listing.split(separator: "\n").compactMap { line -> Int? in
            guard let arrow = line.range(of: " -> ") else { return nil }
            return Int(line[..<arrow.lowerBound].split(separator: " ").last ?? "")
        }
        #expect(numbers.sorted() == [0, 1, 2], "the listing: \(listing)")
    }
}
