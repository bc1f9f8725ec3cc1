import Audit
import Foundation
import Testing

@Suite struct ContentHashTests {
    /// FIPS 180-2's "abc" vector, from a file and from byte chunks (split anywhere, same hash).
    @Test func sha256OfAKnownString() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("contenthash-\(UUID().uuidString)")
        try Data("abc".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        #expect(try ContentHash.sha256(of: url) == abc)
        #expect(ContentHash.sha256(of: [Array("a".utf8), Array("bc".utf8)]) == abc)
        #expect(ContentHash.sha256(of: [[UInt8]]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}
