import PostgresSink
import Testing
import Worker

@Suite struct XeroTimestampTests {
    @Test(arguments: [
        ("/Date(1573755038314+0000)/", Int64(1_573_755_038_314)),
        ("/Date(1573755038314)/", 1_573_755_038_314),
        ("/Date(1419937200000+1300)/", 1_419_937_200_000),  // the offset does not move the instant
        ("/Date(-86400000)/", -86_400_000),
        ("2019-11-14T18:10:38.314", 1_573_755_038_314),
        ("2019-11-14T18:10:38.314Z", 1_573_755_038_314),
        ("2019-11-14T18:10:38", 1_573_755_038_000),
        ("2019-11-15T07:10:38.314+13:00", 1_573_755_038_314),
        ("2026-11-29T01:15:39.9021234", 1_795_914_939_902),
        ("1970-01-01T00:00:00Z", 0),
    ])
    func readsXeroAndISODates(text: String, milliseconds: Int64) {
        #expect(XeroTimestamp.parse(text) == milliseconds)
    }

    @Test(arguments: ["", "/Date()/", "/Date(12a)/", "/Date(123+00)/", "Date(123)", "/Date(123)", "2019-13-14T18:10:38", "2019-11-14", "2019-11-14T18:10:38+1300", "2019-11-14T18:10:38.Z"])
    func rejectsWhatIsNotADate(text: String) {
        #expect(XeroTimestamp.parse(text) == nil)
    }

    @Test func updatedDateIsReadFromTheResourceAsXeroEscapesIt() throws {
        let json = Array(Fixtures.invoice("inv-1", status: "PAID", updated: 1_573_755_038_314).utf8)
        #expect(ResourceRow.updatedDate(json) == 1_573_755_038_314)
        #expect(ResourceRow.updatedDate(Array(#"{"InvoiceID":"x"}"#.utf8)) == nil)
        #expect(ResourceRow.updatedDate(Array("not json".utf8)) == nil)
    }

    @Test func aRowCarriesTheNewestEventAndAllEventIDs() throws {
        let record = try Fixtures.record(id: "INV-1", resource: nil, fetchedAt: "2026-11-29T01:00:02.000Z", sequences: [4, 9, 6])
        let row = try #require(ResourceRow(record))
        #expect(row.resourceID == "inv-1")  // ids are kept as the worker normalises them: lower case
        #expect(row.sequence == 9)
        #expect(row.eventIDs.count == 3)
        #expect(row.notFound && row.resource == nil && row.updatedDateUTC == nil)
        #expect(row.notification == "\(Fixtures.tenant)/INVOICE/inv-1")
        #expect(ResourceRow(DeliveryRecord(eventsOf: record.items)!) == nil)
    }
}
