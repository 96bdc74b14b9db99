import Foundation

/// Held while this test process spawns a child. posix_spawn copies the whole descriptor table
/// into the child until it execs, so a descriptor closed meanwhile by another thread (a
/// listener, a lock file) stays alive for a moment in the child. Tests that check that a
/// close took effect hold this lock so no spawn is in progress while they look.
private let spawnLock = NSLock()

package func withProcessSpawnLock<T>(_ body: () throws -> T) rethrows -> T {
    spawnLock.lock()
    defer { spawnLock.unlock() }
    return try body()
}
