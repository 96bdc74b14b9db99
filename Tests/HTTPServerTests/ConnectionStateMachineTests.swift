@testable import HTTPServer
import Testing

/// `ConnectionStateMachine`, transition by transition, with made-up times (nanoseconds): every
/// deadline, pipelining, 100-continue, drain and the TLS paths, without a socket.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine
    static let second: UInt64 = 1_000_000_000
    static let timeouts = Machine.Timeouts(head: 10 * second, keepAlive: 30 * second, bodyIdle: 5 * second, request: 60 * second)

    static func plain(at now: UInt64 = 1_000) -> Machine { Machine(handshake: false, now: now, timeouts: timeouts) }

    /// A plain connection that has a request with its handler (generation 1).
    static func withRequest(keepAlive: Bool = true, isHEAD: Bool = false, isHTTP10: Bool = false) -> Machine {
        var machine = plain()
        #expect(machine.requestReceived(keepAlive: keepAlive, isHEAD: isHEAD, isHTTP10: isHTTP10) == 1)
        return machine
    }

    // MARK: A new connection

    @Test func aNewPlainConnectionWaitsTheHeadTimeoutForItsFirstByte() {
        let machine = Self.plain(at: 1_000)
        #expect(machine.stage == .idle)
        #expect(machine.deadline == 1_000 + 10 * Self.second, "min(head, keepAlive), not the keep-alive timeout")
        #expect(machine.phase == .keepAlive)
    }

    @Test func aShortKeepAliveTimeoutBoundsTheFirstWaitToo() {
        let timeouts = Machine.Timeouts(head: 10 * Self.second, keepAlive: 2 * Self.second, bodyIdle: Self.second, request: Self.second)
        #expect(Machine(handshake: false, now: 0, timeouts: timeouts).deadline == 2 * Self.second)
    }

    @Test func aTLSConnectionHandshakesWithinTheHeadTimeoutThenWaitsTheKeepAliveTimeout() {
        var machine = Machine(handshake: true, now: 0, timeouts: Self.timeouts)
        #expect(machine.stage == .handshaking)
        #expect(machine.deadline == 10 * Self.second)
        #expect(machine.phase == .handshake)
        // Records of the handshake are no request: nothing changes.
        #expect(machine.waitingForInput(now: Self.second, partial: false, readingBody: false) == nil)
        #expect(machine.stage == .handshaking)
        machine.handshakeCompleted(now: 2 * Self.second)
        #expect(machine.stage == .idle)
        #expect(machine.deadline == 32 * Self.second)
    }

    @Test func aHandshakeThatTakesTooLongIsReportedAndClosed() {
        var machine = Machine(handshake: true, now: 0, timeouts: Self.timeouts)
        #expect(machine.deadlinePassed() == [.reportTimeout(.handshake), .close])
    }

    // MARK: Reading a request

    @Test func theHeadDeadlineRunsFromTheFirstByteAndDoesNotMove() {
        var machine = Self.plain(at: 0)
        #expect(machine.waitingForInput(now: 3 * Self.second, partial: true, readingBody: false) == nil)
        #expect(machine.stage == .head(since: 3 * Self.second))
        #expect(machine.deadline == 13 * Self.second)
        // More bytes of the same head, later: the deadline stays (a slowloris gets no extension).
        #expect(machine.waitingForInput(now: 9 * Self.second, partial: true, readingBody: false) == nil)
        #expect(machine.deadline == 13 * Self.second)
        #expect(machine.deadlinePassed() == [.reportTimeout(.head), .reject(status: 408)])
    }

    @Test func theBodyDeadlineIsTheIdleGapOrTheWholeRequestWhicheverIsFirst() {
        var machine = Self.plain(at: 0)
        _ = machine.waitingForInput(now: Self.second, partial: true, readingBody: false)
        _ = machine.waitingForInput(now: 2 * Self.second, partial: true, readingBody: true)
        #expect(machine.stage == .body(since: Self.second), "the request started with its head")
        #expect(machine.deadline == 7 * Self.second, "2 s + 5 s idle gap")
        // Bytes keep coming: each read moves the idle gap, until the request's own deadline.
        _ = machine.waitingForInput(now: 58 * Self.second, partial: true, readingBody: true)
        #expect(machine.deadline == 61 * Self.second, "1 s + 60 s for the whole request")
        #expect(machine.phase == .body)
        #expect(machine.deadlinePassed() == [.reportTimeout(.body), .reject(status: 408)])
        #expect(machine.deadline == .max)
    }

    @Test func aTimedOutRequestIsAnsweredAndTheConnectionCloses() throws {
        var machine = Self.plain(at: 0)
        _ = machine.waitingForInput(now: 0, partial: true, readingBody: false)
        _ = machine.deadlinePassed()
        // The connection carries out the 408: refuse, then answer it.
        let refused = machine.refuse()
        let generation = try #require(refused)
        #expect(machine.answer(generation: generation, close: true) == .init(close: true, keepAliveHeader: false, omitBody: false))
        #expect(machine.answerWritten(now: 0) == .close)
    }

    @Test func aTLSRecordWithNoRequestInItReturnsToIdleUntilTheSameMoment() {
        var machine = Self.plain(at: 0)
        #expect(machine.deadline == 10 * Self.second)
        _ = machine.waitingForInput(now: 4 * Self.second, partial: true, readingBody: false)  // a record begins
        #expect(machine.deadline == 14 * Self.second)
        _ = machine.waitingForInput(now: 5 * Self.second, partial: false, readingBody: false)  // it was a KeyUpdate
        #expect(machine.stage == .idle)
        #expect(machine.deadline == 10 * Self.second, "not extended by records that carry no request")
    }

    @Test func continueIsSentUnlessThePeerHasClosed() {
        var machine = Self.plain()
        #expect(machine.continueWanted() == .sendContinue)
        machine.peerFinished()
        #expect(machine.continueWanted() == nil)
    }

    // MARK: Answering

    @Test func aRequestWithItsHandlerHasNoDeadlineOfItsOwn() {
        let machine = Self.withRequest()
        #expect(machine.stage == .handler(.init(generation: 1, keepAlive: true, isHEAD: false, isHTTP10: false)))
        #expect(machine.deadline == .max)
        #expect(machine.answerPending)
    }

    @Test func theAnswerKeepsTheConnectionOpenAndItWaitsTheKeepAliveTimeout() {
        var machine = Self.withRequest()
        #expect(machine.answer(generation: 1, close: false) == .init(close: false, keepAliveHeader: false, omitBody: false))
        #expect(machine.stage == .writing(close: false, blocked: false))
        #expect(machine.answerWritten(now: 100 * Self.second) == .resume)
        #expect(machine.stage == .idle)
        #expect(machine.deadline == 130 * Self.second)
        #expect(machine.deadlinePassed() == [.closeIdle])
    }

    @Test func pipelinedRequestsGetIncreasingGenerationsAndALateAnswerIsIgnored() {
        var machine = Self.withRequest()
        #expect(machine.answer(generation: 1, close: false) != nil)
        #expect(machine.answer(generation: 1, close: false) == nil, "answered twice")
        #expect(machine.answerWritten(now: 0) == .resume)
        #expect(machine.requestReceived(keepAlive: true, isHEAD: false, isHTTP10: false) == 2)
        #expect(machine.answer(generation: 1, close: false) == nil, "an answer for the previous request")
        #expect(machine.answer(generation: 2, close: false) != nil)
    }

    @Test func whatTheRequestAskedForShapesItsAnswer() {
        var head = Self.withRequest(isHEAD: true)
        #expect(head.answer(generation: 1, close: false) == .init(close: false, keepAliveHeader: false, omitBody: true))
        var old = Self.withRequest(isHTTP10: true)
        #expect(old.answer(generation: 1, close: false) == .init(close: false, keepAliveHeader: true, omitBody: false))
        var closing = Self.withRequest(keepAlive: false)
        #expect(closing.answer(generation: 1, close: false) == .init(close: true, keepAliveHeader: false, omitBody: false))
        var handlerCloses = Self.withRequest()
        #expect(handlerCloses.answer(generation: 1, close: true) == .init(close: true, keepAliveHeader: false, omitBody: false))
        #expect(handlerCloses.answerWritten(now: 0) == .close)
    }

    @Test func theWriteDeadlineStartsWhenTheSocketBlocksAndMovesOnlyWithProgress() {
        var machine = Self.withRequest()
        _ = machine.answer(generation: 1, close: false)
        #expect(machine.deadline == .max)
        #expect(machine.phase == .handler)
        machine.writeBlocked(now: 10 * Self.second, progressed: false)
        #expect(machine.deadline == 15 * Self.second)
        #expect(machine.phase == .write)
        machine.writeBlocked(now: 12 * Self.second, progressed: false)  // TLS output of its own
        #expect(machine.deadline == 15 * Self.second)
        machine.writeBlocked(now: 13 * Self.second, progressed: true)
        #expect(machine.deadline == 18 * Self.second)
        #expect(machine.deadlinePassed() == [.reportTimeout(.write), .close])
    }

    @Test func aRequestWithItsHandlerHasNoDeadlineToPass() {
        var machine = Self.withRequest()
        #expect(machine.deadlinePassed() == [])
        #expect(machine.isAwaitingAnswer)
    }

    @Test func aRefusalNeverTakesTheOwedAnswersPlace() {
        var owed = Self.withRequest()
        let whileOwed = owed.refuse()
        #expect(whileOwed == nil)
        #expect(owed.answer(generation: 1, close: false) == .init(close: false, keepAliveHeader: false, omitBody: false))
        let whileWriting = owed.refuse()
        #expect(whileWriting == nil, "nor while it is being written")
        var reading = Self.plain()
        _ = reading.waitingForInput(now: 0, partial: true, readingBody: false)
        let refused = reading.refuse()
        #expect(refused == 1)
    }

    @Test func anAnswerThatWouldCloseIsLeftAloneWhenAskedNotToClose() {
        var closing = Self.withRequest(keepAlive: false)
        #expect(closing.answer(generation: 1, close: false, unlessClosing: true) == nil)
        #expect(closing.isAwaitingAnswer, "nothing changed")
        var open = Self.withRequest()
        #expect(open.answer(generation: 1, close: true, unlessClosing: true) == nil)
        #expect(open.answer(generation: 1, close: false, unlessClosing: true) == .init(close: false, keepAliveHeader: false, omitBody: false))
    }

    // MARK: The peer closing

    @Test func aPeerThatClosesWithNothingOwedIsClosed() {
        var machine = Self.plain()
        _ = machine.waitingForInput(now: 0, partial: true, readingBody: false)  // half a head: never completes
        #expect(machine.afterPeerClosed == nil)
        machine.peerFinished()
        #expect(machine.afterPeerClosed == .close)
        #expect(machine.peerClosed)
    }

    @Test func aPeerThatClosesAfterItsRequestStillGetsTheAnswerThenTheConnectionCloses() {
        var machine = Self.withRequest()
        machine.peerFinished()
        #expect(machine.afterPeerClosed == .pauseReading)
        #expect(machine.answer(generation: 1, close: false) == .init(close: true, keepAliveHeader: false, omitBody: false))
        #expect(machine.answerWritten(now: 0) == .close)
    }

    // MARK: Drain (shutdown)

    @Test func drainClosesAnIdleConnectionThatWasAlreadyUsed() {
        var machine = Self.withRequest()
        _ = machine.answer(generation: 1, close: false)
        _ = machine.answerWritten(now: 0)
        #expect(machine.drain(now: 0, partial: false) == .closeIdle)
    }

    @Test func drainGivesAConnectionWithoutItsFirstRequestAMoment() {
        var machine = Self.plain(at: 0)
        #expect(machine.drain(now: 5 * Self.second, partial: false) == nil)
        #expect(machine.deadline == 6 * Self.second, "at most a second")
        #expect(machine.requestReceived(keepAlive: true, isHEAD: false, isHTTP10: false) == 1)
        #expect(machine.answer(generation: 1, close: false) == .init(close: true, keepAliveHeader: false, omitBody: false),
                "an answer during a drain closes")
    }

    @Test func drainDuringAHandshakeKeepsTheHandshakeStageWithAShorterDeadline() {
        var machine = Machine(handshake: true, now: 0, timeouts: Self.timeouts)
        #expect(machine.drain(now: 2 * Self.second, partial: false) == nil)
        #expect(machine.stage == .handshaking)
        #expect(machine.deadline == 3 * Self.second)
        machine.handshakeCompleted(now: 2 * Self.second + 500_000_000)
        #expect(machine.deadline == 3 * Self.second + 500_000_000, "after the handshake, a second for the request, not 30 s")
    }

    @Test func drainLetsTheRequestInProgressFinish() {
        var reading = Self.plain(at: 0)
        _ = reading.waitingForInput(now: 0, partial: true, readingBody: true)
        #expect(reading.drain(now: 0, partial: true) == nil)
        #expect(reading.isReadingBody)
        var owed = Self.withRequest()
        #expect(owed.drain(now: 0, partial: false) == nil)
        #expect(owed.answer(generation: 1, close: false) == .init(close: true, keepAliveHeader: false, omitBody: false))
        #expect(owed.answerWritten(now: 0) == .close)
    }

    @Test func afterADrainAnIdleMomentClosesAUsedConnection() {
        var machine = Self.withRequest()
        machine.beginDraining()
        _ = machine.answer(generation: 1, close: false)
        #expect(machine.waitingForInput(now: 0, partial: false, readingBody: false) == nil, "an answer is being written")
        var used = Self.plain()
        _ = used.requestReceived(keepAlive: true, isHEAD: false, isHTTP10: false)
        _ = used.answer(generation: 1, close: false)
        _ = used.answerWritten(now: 0)
        used.beginDraining()
        #expect(used.waitingForInput(now: 0, partial: false, readingBody: false) == .closeIdle)
    }

    @Test func aClosedConnectionIgnoresEverything() {
        var machine = Self.withRequest()
        machine.closed()
        #expect(machine.isClosed)
        #expect(machine.deadline == .max)
        #expect(machine.answer(generation: 1, close: false) == nil)
        #expect(machine.deadlinePassed() == [])
        #expect(machine.waitingForInput(now: 0, partial: true, readingBody: false) == nil)
        #expect(machine.drain(now: 0, partial: false) == nil)
        machine.peerFinished()
        #expect(machine.afterPeerClosed == nil)
    }
}
