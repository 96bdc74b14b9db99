import Foundation
import HTTPServer
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// One case of `Tests/Fixtures/http-corpus`: a file of exact request bytes and what the server
/// must do with them, as listed in that folder's `expected.tsv` (written by its `generate.py`).
struct CorpusCase: Sendable, CustomTestStringConvertible {
    enum Outcome: Sendable, Equatable {
        /// The first final answer has this status.
        case status(Int)
        /// The server closes the connection without answering and handles nothing.
        case closeWithoutAnswer
    }

    /// What the replaying client does once every byte is sent.
    enum ClientEnd: String, Sendable {
        /// Keeps its side open and reads.
        case wait
        /// Half-closes: the request can never be completed.
        case shutdown
        /// Closes with an RST without reading.
        case reset
    }

    var file: String
    var outcome: Outcome
    var mustClose: Bool
    var clientEnd: ClientEnd
    var reason: String

    var testDescription: String { file }

    /// The case's bytes, exactly as stored.
    func bytes() throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: corpusDirectory + "/" + file)))
    }
}

/// `Tests/Fixtures/http-corpus`, found from this source file.
let corpusDirectory: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/http-corpus").path

/// The manifest's cases, or none if it cannot be read (`manifestMatchesTheFiles` then fails).
let hostileCorpus: [CorpusCase] = {
    guard let text = try? String(contentsOfFile: corpusDirectory + "/expected.tsv", encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap { line -> CorpusCase? in
        let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard columns.count == 5, !line.hasPrefix("#"), columns[0] != "file",
              let clientEnd = CorpusCase.ClientEnd(rawValue: columns[3]) else { return nil }
        let outcome: CorpusCase.Outcome
        if columns[1] == "close" {
            outcome = .closeWithoutAnswer
        } else if let status = Int(columns[1]) {
            outcome = .status(status)
        } else {
            return nil
        }
        return CorpusCase(file: columns[0], outcome: outcome, mustClose: columns[2] == "yes",
                          clientEnd: clientEnd, reason: columns[4])
    }
}()

/// Replays the corpus over raw TCP against a live server with default limits whose handler
/// answers 200 to everything and counts its calls.
@Suite struct HostileCorpusTests {
    @Test func manifestMatchesTheFiles() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: corpusDirectory)
            .filter { $0.hasSuffix(".http") }
        let listed = hostileCorpus.map(\.file)
        #expect(hostileCorpus.count >= 100)
        #expect(Set(listed).count == listed.count, "a file is listed twice")
        #expect(Set(listed) == Set(files))
        // Every line of the manifest parsed: lines minus the comment and the column names.
        let lines = try String(contentsOfFile: corpusDirectory + "/expected.tsv", encoding: .utf8)
            .split(separator: "\n").count
        #expect(lines - 2 == hostileCorpus.count)
    }

    @Test(arguments: hostileCorpus)
    func caseGetsTheAnswerTheRFCAsks(_ corpusCase: CorpusCase) throws {
        let live = try LiveServer()
        defer { live.stop() }
        try replay(corpusCase, on: live)
        // The server keeps serving, on a new connection.
        let handledBefore = live.handlerCalls
        let fresh = try live.connect()
        let answer = try fresh.exchange(bytes("GET /after HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
        #expect(answer.status == 200)
        #expect(live.handlerCalls == handledBefore + 1)
        fresh.close()
        #expect(waitUntil { live.server.connectionCount == 0 }, "a connection was left open")
    }

    @Test func wholeCorpusOnOneServer() throws {
        let live = try LiveServer()
        defer { live.stop() }
        for corpusCase in hostileCorpus {
            try replay(corpusCase, on: live)
        }
        #expect(waitUntil { live.server.connectionCount == 0 })
        #expect(live.timedOutPhases.isEmpty)
        let client = try live.connect()
        #expect(try client.exchange(bytes("GET /last HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).body == bytes("/last"))
    }
}

/// Sends one case on a new connection and checks the answer, the closing, and that the handler
/// ran only for a request that was accepted. Counts are compared before and after, so the
/// server may be shared by several cases replayed one after another.
private func replay(_ corpusCase: CorpusCase, on live: LiveServer) throws {
    let input = try corpusCase.bytes()
    let handledBefore = live.handlerCalls
    let rejectedBefore = live.rejectedStatuses.count
    let client = try live.connect()
    let sent = sendAll(input, on: client)
    let accepted = corpusCase.outcome == .status(200)
    if accepted { #expect(sent, "the server stopped reading a well-formed request") }

    switch corpusCase.clientEnd {
    case .reset:
        resetConnection(client)
        #expect(waitUntil { live.server.connectionCount == 0 })
    case .shutdown:
        client.shutdownWrite()
        let received = try readUntilClosed(client)
        #expect(corpusCase.outcome == .closeWithoutAnswer)
        #expect(received.isEmpty, "answered: \(String(decoding: received.prefix(80), as: UTF8.self))")
    case .wait:
        guard case let .status(status) = corpusCase.outcome else {
            #expect(try readUntilClosed(client).isEmpty)
            break
        }
        var response = try client.readResponse()
        // An accepted request with Expect: 100-continue gets the interim answer first; a
        // rejected one must not.
        while accepted && response.status == 100 { response = try client.readResponse() }
        #expect(response.status == status, "\(corpusCase.reason)")
        if corpusCase.mustClose {
            #expect(response.header("Connection") == "close")
            #expect(try client.isClosedByPeer(), "left open")
        } else {
            let next = try client.exchange(bytes("GET /again HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            #expect(next.status == 200, "the connection is not usable after the answer")
            #expect(next.body == bytes("/again"))
        }
    }
    client.close()

    let followUp = accepted && !corpusCase.mustClose ? 1 : 0
    #expect(live.handlerCalls - handledBefore == (accepted ? 1 + followUp : 0),
            "the handler ran for a request that was not accepted")
    let rejections = Array(live.rejectedStatuses.dropFirst(rejectedBefore))
    switch corpusCase.outcome {
    case .status(200), .closeWithoutAnswer: #expect(rejections.isEmpty)
    case .status(let status): #expect(rejections == [status])
    }
}

/// Sends every byte, or stops quietly when the server has closed (a rejection may come before
/// the rest of a large case is read). Returns whether everything was sent.
private func sendAll(_ input: [UInt8], on client: RawHTTPClient) -> Bool {
    var offset = 0
    while offset < input.count {
        let n = input.withUnsafeBytes {
            send(client.fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
        }
        if n > 0 {
            offset += n
        } else if n < 0 && errno == EINTR {
            continue
        } else {
            return false
        }
    }
    return true
}

/// Closes with an RST instead of a FIN (SO_LINGER with a zero timeout), as a client that
/// crashed or was cut off does.
func resetConnection(_ client: RawHTTPClient) {
    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
    _ = setsockopt(client.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    client.close()
}
