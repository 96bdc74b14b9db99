import Foundation
import TestSupport
import Testing
@testable import CLI
@testable import DaemonConfig
@testable import DaemonRuntime

/// A key file is UTF-8 text: an editor's byte order mark is dropped, bytes that are not UTF-8
/// and invisible characters inside a key are errors (the key would look right and never
/// verify), and only a regular file of at most 1 MiB is read.
@Suite struct WebhookKeyFileTextTests {
    static let key = "file-text-key-0123456789"

    private func load(_ bytes: [UInt8]) throws(ConfigError) -> [String] {
        let dir = try! TemporaryDirectory()
        defer { dir.remove() }
        try! Data(bytes).write(to: URL(fileURLWithPath: dir.file("keys")))
        return try WebhookKeys.load(keyFile: dir.file("keys"), environment: [:]).keys
    }

    private func reason(_ bytes: [UInt8]) -> String? {
        do {
            _ = try load(bytes)
            return nil
        } catch {
            #expect(!error.description.contains(Self.key))
            return error.reason
        }
    }

    @Test func aByteOrderMarkIsNotPartOfTheKey() throws {
        #expect(try load([0xEF, 0xBB, 0xBF] + Array("\(Self.key)\n".utf8)) == [Self.key])
        #expect(try load([0xEF, 0xBB, 0xBF] + Array("# rotated 2026-11\n\(Self.key)\n".utf8)) == [Self.key])
    }

    @Test func bytesThatAreNotUTF8AreAnError() {
        #expect(reason(Array("file-text-key-".utf8) + [0xFF, 0xFE] + Array("0123\n".utf8))?.contains("not UTF-8") == true)
    }

    @Test(arguments: ["\u{0}", "\u{200B}", "\u{FEFF}", "\u{7F}"])
    func anInvisibleCharacterInsideAKeyIsAnError(_ character: String) {
        let bytes = Array("file-text-key-\(character)0123456789\n".utf8)
        #expect(reason(bytes)?.contains("control or invisible character") == true, "\(character.unicodeScalars.first!.value)")
    }

    @Test func onlyARegularFileOfAtMostOneMebibyteIsRead() {
        for path in ["/dev/zero", "/dev/null"] {
            do {
                _ = try WebhookKeys.load(keyFile: path, environment: [:])
                Issue.record("\(path) was read as a key file")
            } catch {
                #expect(error.reason.contains("not a regular file"), "\(error)")
            }
        }
        #expect(reason(Array("\(Self.key)\n".utf8) + [UInt8](repeating: 0x23, count: 1 << 20))?.contains("larger than") == true)
    }
}
