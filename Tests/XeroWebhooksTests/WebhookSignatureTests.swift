import EventRecord
import TestSupport
import Testing
@testable import XeroWebhooks

@Suite struct WebhookSignatureTests {
    @Test func vectorsFileIsPresent() {
        #expect(SignatureVector.all().count >= 8)
    }

    @Test(arguments: SignatureVector.all())
    func vectorVerifiesAsExpected(_ vector: SignatureVector) {
        let verifier = WebhookSignature(current: vector.key)
        #expect(verifier.isValid(header: vector.signature, body: vector.body) == (vector.expect == 200))
    }

    @Test(arguments: SignatureVector.all().filter { $0.expect == 200 })
    func computedSignatureMatchesXero(_ vector: SignatureVector) {
        #expect(WebhookSignature(current: vector.key).signature(for: vector.body) == vector.signature)
    }

    @Test func anyConfiguredKeyVerifies() {
        let vector = SignatureVector.all().first { $0.name == "real-itr-correct" }!
        let rotated = WebhookSignature(keys: ["new-key-after-rotation", vector.key])!
        #expect(rotated.isValid(header: vector.signature, body: vector.body))
        #expect(!WebhookSignature(current: "new-key-after-rotation").isValid(header: vector.signature, body: vector.body))
        #expect(WebhookSignature(keys: []) == nil, "no key, no verifier (not a trap)")
    }

    @Test func malformedHeadersNeverVerify() {
        let vector = SignatureVector.all().first { $0.name == "real-itr-correct" }!
        let verifier = WebhookSignature(current: vector.key)
        for header in [nil, "", vector.signature + "\n", " " + vector.signature, String(vector.signature.dropLast()),
                       vector.signature.lowercased(), vector.signature + "="] {
            #expect(!verifier.isValid(header: header, body: vector.body), "\(String(describing: header))")
        }
    }

    @Test func emptyBodyAndEmptyKeyAreHandled() {
        // openssl dgst -sha256 -hmac '' -binary </dev/null | base64
        #expect(WebhookSignature(current: "").signature(for: []) == "thNnmggU2ex3L5XXeMNfxf8Wl8STcVZTxscSFEKSxa0=")
    }
}
