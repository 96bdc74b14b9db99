/// Finished queue sequences as sorted, disjoint, non-adjacent ranges, each with the event id of
/// its first sequence (what ties a range to the queue it was read from). Never expanded into
/// single sequences: memory grows with the number of gaps (unfinished events), not the
/// sequences. Confined to its owner.
struct FinishedRanges: Equatable {
    struct Run: Equatable {
        var first: UInt64
        var last: UInt64
        /// The event id of the record at `first`.
        var firstEventID: String
    }

    private(set) var runs: [Run] = []

    var isEmpty: Bool { runs.isEmpty }

    /// The index of the first run whose `last` is at or above `sequence`.
    private func index(atOrAbove sequence: UInt64) -> Int {
        var low = 0, high = runs.count
        while low < high {
            let middle = (low + high) / 2
            if runs[middle].last < sequence { low = middle + 1 } else { high = middle }
        }
        return low
    }

    func contains(_ sequence: UInt64) -> Bool {
        let at = index(atOrAbove: sequence)
        return at < runs.count && runs[at].first <= sequence
    }

    /// Adds one finished sequence (`eventID` is its record's event id).
    mutating func insert(_ sequence: UInt64, eventID: String) {
        let at = index(atOrAbove: sequence)
        if at < runs.count, runs[at].first <= sequence { return }
        let joinsBefore = at > 0 && runs[at - 1].last + 1 == sequence
        let joinsAfter = at < runs.count && sequence < UInt64.max && runs[at].first == sequence + 1
        switch (joinsBefore, joinsAfter) {
        case (true, true):
            runs[at - 1].last = runs[at].last
            runs.remove(at: at)
        case (true, false):
            runs[at - 1].last = sequence
        case (false, true):
            runs[at].first = sequence
            runs[at].firstEventID = eventID
        case (false, false):
            runs.insert(Run(first: sequence, last: sequence, firstEventID: eventID), at: at)
        }
    }

    /// Adds a whole run read back from a file (it must not overlap what is there).
    mutating func insert(_ run: Run) {
        let at = index(atOrAbove: run.first)
        guard at == runs.count || runs[at].first > run.last else { return }
        runs.insert(run, at: at)
    }

    /// If a run starts at `position`, removes it and returns the sequence after it.
    mutating func takeRun(startingAt position: UInt64) -> UInt64? {
        guard let head = runs.first, head.first == position else { return nil }
        runs.removeFirst()
        return head.last == UInt64.max ? head.last : head.last + 1
    }
}
