import Synchronization

/// Bytes of request input (buffered request bytes, bodies being read, bodies the handler has not
/// answered yet) that all connections together may hold beyond each connection's own small
/// allowance. Taken as bytes are read, given back as requests are answered or connections close, so
/// what clients make the server hold stays bounded however many connections they open.
final class InputBudget: Sendable {
    private let availableBytes: Atomic<Int>
    let total: Int

    init(bytes: Int) {
        total = bytes
        availableBytes = Atomic(bytes)
    }

    /// Takes up to `bytes` and returns how many it got (0 when the budget is spent).
    func take(upTo bytes: Int) -> Int {
        guard bytes > 0 else { return 0 }
        var current = availableBytes.load(ordering: .relaxed)
        while current > 0 {
            let granted = min(current, bytes)
            let (exchanged, original) = availableBytes.compareExchange(expected: current, desired: current - granted, ordering: .relaxed)
            if exchanged { return granted }
            current = original
        }
        return 0
    }

    func give(_ bytes: Int) {
        guard bytes > 0 else { return }
        availableBytes.add(bytes, ordering: .relaxed)
    }

    /// Bytes not taken.
    var available: Int { availableBytes.load(ordering: .relaxed) }

    /// Bytes currently taken.
    var inUse: Int { total - availableBytes.load(ordering: .relaxed) }
}
