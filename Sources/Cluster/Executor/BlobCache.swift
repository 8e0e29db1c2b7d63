import Forest
import Foundation
import Locking

/// The extractors and models this worker has, by digest: the fetches in progress
/// (chunks from the coordinator assembled in order, the digest checked at the end) and
/// the decoded values. Used from the DEALER thread (assignments, chunks, cancels), the
/// blob queue (digest checks and decoding), the memory sampler (stalled fetches) and the
/// parse queues (launch checks); under `lock`.
final class BlobCache: @unchecked Sendable {  // all mutable state under `lock`
    enum Blob: Sendable {
        case extractor(FeatureExtractor)
        case model(ForestModel)
        /// One tree slice of a model (tree-sharded scoring): the worker never holds the rest.
        case slice(ForestModelSlice)
    }

    /// What a chunk leads to.
    enum ChunkOutcome {
        /// Not the chunk expected next, or the fetch was dropped meanwhile.
        case ignored
        /// Ask for the next chunk from this offset.
        case next(offset: UInt64)
        /// Every byte of the blob, its digest not yet checked (`matches(_:digest:)`, off the
        /// DEALER thread: a large model takes a while). The digest counts as being decoded
        /// (no new fetch starts) until ``load(_:digest:asModel:)`` or ``endDecoding(_:)``.
        case complete(Data)
    }

    /// Whether `data` has `digest`.
    static func matches(_ data: Data, digest: Data) -> Bool { Digest.of(data) == digest }

    private struct Fetch {
        var data = Data()
        var total: UInt64 = 0
        /// When the last chunk arrived (or the fetch began).
        var lastProgress = ContinuousClock.now
    }

    /// Bytes asked for per chunk.
    static let chunkBytes: UInt32 = 4 << 20

    private let lock = Lock()
    private var fetches: [Data: Fetch] = [:]
    private var loaded: [Data: Blob] = [:]
    /// Fetched blobs whose digest check and decoding are under way.
    private var decoding: Set<Data> = []

    func loaded(_ digest: Data) -> Blob? { lock.withLock { loaded[digest] } }

    /// Decodes `data` as a model (or a model's tree slice) or an extractor, unless `digest` is loaded already.
    func load(_ data: Data, digest: Data, asModel: Bool) throws {
        if lock.withLock({ loaded[digest] != nil }) { return }
        let value: Blob =
            !asModel
            ? .extractor(try FeatureExtractor(deserializing: [UInt8](data)))
            : ForestModelSlice.isSlice(data)
                ? .slice(try ForestModelSlice(deserializing: [UInt8](data), context: "model slice from the coordinator"))
                : .model(try data.withUnsafeBytes { try ForestModel(deserializing: $0, context: "model from the coordinator") })
        lock.withLock {
            loaded[digest] = value
            decoding.remove(digest)
        }
    }

    /// A fetched blob that did not check or decode: a later assignment may fetch it again.
    func endDecoding(_ digest: Data) { _ = lock.withLock { decoding.remove(digest) } }

    /// Forgets decoded models and model slices no digest in `keep` names: a worker scoring
    /// tree slices holds one slice at a time, not every slice it was ever given.
    func dropModels(except keep: Set<Data>) {
        lock.withLock {
            for (digest, blob) in loaded where !keep.contains(digest) {
                if case .extractor = blob { continue }
                loaded[digest] = nil
            }
        }
    }

    /// Starts fetching `digest` unless it is loaded or being fetched: true when the
    /// caller must ask for its first chunk.
    func beginFetch(_ digest: Data, size: UInt64) -> Bool {
        lock.withLock {
            if loaded[digest] != nil || fetches[digest] != nil || decoding.contains(digest) { return false }
            fetches[digest] = Fetch(total: size)
            return true
        }
    }

    /// Forgets a fetch (nobody waits for it any more).
    func dropFetch(_ digest: Data) { lock.withLock { fetches[digest] = nil } }

    /// Forgets every fetch that has had no chunk for `timeout`: their digests.
    func expireStalled(after timeout: Duration, now: ContinuousClock.Instant) -> [Data] {
        lock.withLock {
            let digests = fetches.filter { now - $0.value.lastProgress >= timeout }.map(\.key)
            for digest in digests { fetches[digest] = nil }
            return digests
        }
    }

    /// Adds a chunk to its fetch; the fetch ends (is forgotten) with the last chunk.
    func add(_ chunk: WireBlobChunk, _ payload: Data) -> ChunkOutcome {
        // Taken out of the dictionary while it grows: a copy left there would make the
        // append copy everything received so far (copy-on-write).
        guard
            var fetch = lock.withLock({ () -> Fetch? in
                guard let f = fetches[chunk.digest], chunk.offset == UInt64(f.data.count) else { return nil }
                fetches[chunk.digest] = Fetch(total: f.total)
                return f
            })
        else { return .ignored }
        if fetch.data.isEmpty, chunk.totalSize <= UInt64(Int.max) { fetch.data.reserveCapacity(Int(chunk.totalSize)) }
        fetch.data.append(payload)
        fetch.total = chunk.totalSize
        fetch.lastProgress = .now
        if UInt64(fetch.data.count) < fetch.total, !payload.isEmpty {
            let next = UInt64(fetch.data.count)
            let kept = lock.withLock { () -> Bool in
                guard fetches[chunk.digest] != nil else { return false }  // dropped meanwhile (cancel)
                fetches[chunk.digest] = fetch
                return true
            }
            return kept ? .next(offset: next) : .ignored
        }
        lock.withLock {
            fetches[chunk.digest] = nil
            decoding.insert(chunk.digest)
        }
        return .complete(fetch.data)
    }
}
