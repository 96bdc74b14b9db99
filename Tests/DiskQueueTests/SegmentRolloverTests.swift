import Foundation
import Testing
@testable import DiskQueue

@Suite struct SegmentRolloverTests {
    @Test func tinySegmentsRollAndReadBackInOrder() throws {
        try withTemporaryDirectory { base in
            let options = DiskQueueOptions(segmentBytes: 200)
            var expected: [QueueRecord] = []
            do {
                let queue = try DiskQueue(directory: base, options: options)
                for index in 1...60 {
                    let body = payload(index, size: 10 + index % 37)
                    let range = try queue.append([body])
                    #expect(range == UInt64(index)..<UInt64(index + 1))
                    expected.append(QueueRecord(sequence: UInt64(index), payload: body))
                }
                queue.close()
            }
            let files = try segmentFiles(in: base)
            #expect(files.count > 10)
            #expect(try QueueReader.records(in: base) == expected)
            try checkSegments(files, in: base, segmentBytes: 200)

            let reopened = try DiskQueue(directory: base, options: options)
            #expect(reopened.recovery.segments == files.count)
            #expect(reopened.recovery.records == 60)
            #expect(reopened.recovery.nextSequence == 61)
            for index in 61...80 {
                let body = payload(index)
                #expect(try reopened.append([body]) == UInt64(index)..<UInt64(index + 1))
                expected.append(QueueRecord(sequence: UInt64(index), payload: body))
            }
            reopened.close()
            #expect(try QueueReader.records(in: base) == expected)
            #expect(try QueueReader.records(in: base, from: 50) == Array(expected[49...]))
            try checkSegments(try segmentFiles(in: base), in: base, segmentBytes: 200)
        }
    }

    @Test func batchLargerThanSegmentGoesIntoAFreshSegmentWhole() throws {
        try withTemporaryDirectory { base in
            let queue = try DiskQueue(directory: base, options: .init(segmentBytes: 100))
            _ = try queue.append([payload(1, size: 20)])
            let big = (2...6).map { payload($0, size: 40) }
            #expect(try queue.append(big) == 2..<7)
            queue.close()
            #expect(try segmentFiles(in: base) == ["segment-00000000000000000001.log", "segment-00000000000000000002.log"])
            #expect(try QueueReader.records(in: base).map(\.payload) == [payload(1, size: 20)] + big)
        }
    }

    /// Each segment starts with a valid header naming its first record, and only the last one
    /// may pass `segmentBytes` (a segment's first batch goes in whatever its size).
    private func checkSegments(_ files: [String], in directory: String, segmentBytes: Int) throws {
        for file in files {
            let bytes = try fileBytes(directory + "/" + file)
            let name = try #require(SegmentName(fileName: file))
            #expect(Array(bytes.prefix(8)) == Array("XWQSEG01".utf8))
            #expect(bytes.withUnsafeBytes { SegmentHeader.decode(UnsafeRawBufferPointer(rebasing: $0[0..<24])) } == .header(SegmentHeader(firstSequence: name.firstSequence)))
            #expect(bytes.count > SegmentHeader.size)
            let records = try QueueReader.records(in: directory, from: name.firstSequence)
            #expect(records.first?.sequence == name.firstSequence)
            #expect(bytes.count <= segmentBytes)
        }
    }
}
