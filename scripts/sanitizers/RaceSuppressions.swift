// Linked into every executable of the ThreadSanitizer test build (the test runner and the
// xero-webhookd binaries that tests spawn) by scripts/sanitizers.sh, which is how spawned
// daemons get these suppressions too: the tests set their environment explicitly.
//
// ThreadSanitizer does not see `Synchronization.Mutex` on Linux: a contended lock is taken in
// the uninstrumented libswiftSynchronization (a futex), so accesses to a Mutex's state made
// under the lock look racy. A four-thread counter under `withLock` gets three reports and the
// right total; with these patterns it gets none.
//
// The patterns match the closures that `withLock` runs, whatever the Mutex: their mangled
// names end in "inout sending Value, typed throws, non-escaping closure", which is
// `zYuYTXEfU` for a nominal Value and `tz_tYTXEfU` for a tuple Value. A race is suppressed when
// such a closure is on either stack, that is when one of the two accesses was made holding a
// Mutex. Other inout closures (withUnsafeMutableBufferPointer and the like) are not `sending`
// and do not match. A pattern matches any frame by substring; `^` and `$` are anchors, so
// there is no leading `$`.

@_cdecl("__tsan_default_suppressions")
public func raceSuppressions() -> UnsafePointer<CChar> {
    // A string literal is emitted NUL-terminated, as ThreadSanitizer needs.
    let text: StaticString = """
        race:zYuYTXEfU
        race:tz_tYTXEfU

        """
    return UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}
