import NIOCore
import PostgresNIO

/// JSON text bound as a `jsonb` parameter without decoding it in Swift: jsonb's binary format
/// is a version byte (1) followed by the JSON text, which the server parses.
struct JSONBText: PostgresNonThrowingEncodable {
    let bytes: [UInt8]

    static var psqlType: PostgresDataType { .jsonb }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeInteger(UInt8(1))
        byteBuffer.writeBytes(bytes)
    }
}
