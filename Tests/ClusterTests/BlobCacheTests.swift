import Forest
import Foundation
import Testing

@testable import Cluster

/// The worker's blob cache: chunks assemble in order; a complete blob counts as being decoded
/// (no second fetch starts) until it is loaded or given up; a bad digest is caught off the
/// DEALER thread by `matches`.
@Suite struct BlobCacheTests {
    static func chunk(_ digest: Data, offset: UInt64, total: UInt64) -> WireBlobChunk {
        var c = WireBlobChunk()
        c.digest = digest
        c.offset = offset
        c.totalSize = total
        return c
    }

    @Test func aCompleteBlobIsNotFetchedAgainWhileItDecodes() throws {
        var state = PartialExtractorState(featureNames: ["a"], task: .classification)
        var target = TargetSummary(task: .classification)
        for i in 0..<20 {
            [Double(i)].withUnsafeBufferPointer { state.addNumeric($0) }
            target.add(label: i % 2 == 0 ? "x" : "y")
        }
        state.setTarget(target)
        let extractor = Data(try FeatureExtractor.fit(from: state).serialize())
        let digest = Digest.of(extractor)
        let cache = BlobCache()
        #expect(cache.beginFetch(digest, size: UInt64(extractor.count)))
        let half = extractor.count / 2
        guard case .next(let offset) = cache.add(Self.chunk(digest, offset: 0, total: UInt64(extractor.count)), extractor.prefix(half))
        else {
            Issue.record("the first half asks for the rest")
            return
        }
        #expect(offset == UInt64(half))
        guard
            case .complete(let data) = cache.add(
                Self.chunk(digest, offset: offset, total: UInt64(extractor.count)), extractor.dropFirst(half))
        else {
            Issue.record("the second half completes the blob")
            return
        }
        #expect(data == extractor && BlobCache.matches(data, digest: digest))
        #expect(!BlobCache.matches(data, digest: Digest.of(Data([1]))))
        #expect(!cache.beginFetch(digest, size: UInt64(extractor.count)), "decoding: no second fetch")
        try cache.load(data, digest: digest, asModel: false)
        #expect(cache.loaded(digest) != nil)
        #expect(!cache.beginFetch(digest, size: UInt64(extractor.count)), "loaded: no fetch")

        // A blob that fails to decode may be fetched again.
        let other = Data([9, 9, 9])
        let otherDigest = Digest.of(other)
        #expect(cache.beginFetch(otherDigest, size: 3))
        guard case .complete = cache.add(Self.chunk(otherDigest, offset: 0, total: 3), other) else {
            Issue.record("one chunk completes it")
            return
        }
        #expect(!cache.beginFetch(otherDigest, size: 3))
        #expect(throws: (any Error).self) { try cache.load(other, digest: otherDigest, asModel: false) }
        cache.endDecoding(otherDigest)
        #expect(cache.beginFetch(otherDigest, size: 3), "given up: fetched again")
    }
}
