// Linked into every executable of the AddressSanitizer test build (the test runner and the
// xero-webhookd binaries that tests spawn) by scripts/sanitizers.sh. LeakSanitizer asks for
// `__lsan_default_suppressions` at startup, so the suppressions reach spawned daemons too, whose
// environment the tests set explicitly (LSAN_OPTIONS would not get through).
//
// Every entry is a leak inside the Swift toolchain's libraries, seen in a full run; each line
// says where. Leaks in the project's own code are not suppressed. A pattern matches any frame
// of the allocation's stack, by substring; `^` and `$` are anchors, so mangled names are written
// without their leading `$`.

@_cdecl("__lsan_default_suppressions")
public func leakSuppressions() -> UnsafePointer<CChar> {
    // A string literal is emitted NUL-terminated, as LeakSanitizer needs.
    let text: StaticString = """
        # FoundationNetworking keeps libcurl's global and multi-handle state (and URLSession's
        # objects built on it) until exit and never frees it.
        leak:libcurl.so
        leak:libFoundationNetworking.so
        # swift-foundation's readBytesFromFile (FileManager.contents(atPath:),
        # String(contentsOfFile:)) loses its 4 KiB buffer when the file is empty.
        leak:readBytesFromFile
        # Foundation.Process keeps bookkeeping objects (weak side tables, run loop sources) of
        # spawned children alive.
        leak:10Foundation7ProcessC
        # XCTest's own suite objects, alive when the (empty) XCTest pass exits.
        leak:libXCTest.so
        # libdispatch: one dispatch_data created while delivering a DispatchIO read.
        leak:_dispatch_operation_deliver_data

        """
    return UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}
