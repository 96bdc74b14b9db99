import Foundation
import Testing
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime

/// Memory freed in the middle of the heap stays with the process until it is trimmed.
@Suite struct FreeMemoryTests {
    private func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }

    /// Under AddressSanitizer or ThreadSanitizer malloc is the sanitizer's, which keeps its own
    /// memory whatever glibc's malloc_trim does.
    static let plainMalloc = dlsym(nil, "__asan_init") == nil && dlsym(nil, "__tsan_init") == nil

    @Test(.enabled(if: plainMalloc, "a sanitizer's allocator replaces glibc's malloc"))
    func freedHeapIsReturnedToTheSystem() {
        #expect(FreeMemory.isAvailable)
        // 128 MiB in 8 KiB blocks; every other one is freed, so the free half is holes between
        // blocks still in use, which free() cannot give back (only the top of a heap goes). A trim
        // returns the whole pages inside the holes: about 32 MiB here.
        var blocks: [UnsafeMutableRawPointer] = []
        for _ in 0..<16_384 {
            let block = malloc(8192)!
            memset(block, 1, 8192)
            blocks.append(block)
        }
        for index in stride(from: 0, to: blocks.count, by: 2) { free(blocks[index]) }
        let before = residentKiB()
        FreeMemory.now()
        let after = residentKiB()
        for index in stride(from: 1, to: blocks.count, by: 2) { free(blocks[index]) }
        #expect(before - after > 16 * 1024, "RSS \(before) KiB with the holes, \(after) KiB after the trim")
    }
}
