import Foundation
import SpaceTime

// Blobs: the extractor, models and other bytes assignments reference by digest, served to
// workers chunk by chunk on request (from memory or straight from the job store).

extension CoordinatorEngine {
    enum BlobSource {
        case memory(Data)
        case artifact(String, size: Int)
        var size: Int {
            switch self {
            case .memory(let d): d.count
            case .artifact(_, let size): size
            }
        }
    }

    /// Registers an in-memory blob workers fetch by digest and returns the reference to put in assignments.
    public func addBlob(_ data: Data, digest: Data) -> WireBlob {
        blobs[digest] = .memory(data)
        return Self.reference(digest: digest, size: data.count)
    }

    /// Registers a job store artifact (e.g. "model") workers fetch by digest,
    /// served chunk by chunk from the store so the coordinator never holds it.
    public func addArtifactBlob(_ name: String, digest: Data) throws -> WireBlob? {
        guard let size = try store.artifactSize(name) else { return nil }
        blobs[digest] = .artifact(name, size: size)
        return Self.reference(digest: digest, size: size)
    }

    static func reference(digest: Data, size: Int) -> WireBlob {
        var ref = WireBlobRef()
        ref.digest = digest
        ref.size = UInt64(size)
        var blob = WireBlob()
        blob.ref = ref
        return blob
    }

    /// Answers a worker's request for a chunk of a registered blob; an unknown digest or an
    /// offset past the end is logged and dropped.
    func serveBlobChunk(
        _ m: WireBlobRequest, to address: PeerAddress, workerID: String, at time: EngineTime, into out: inout [CoordinatorOutput]
    ) throws {
        guard let blob = blobs[m.digest], m.offset < UInt64(blob.size) else {
            out.append(
                .log(
                    .warning, "worker \(workerID) asked for an unknown blob or offset; dropped",
                    metadata: .about(worker: workerID, peer: address)))
            return
        }
        let start = Int(m.offset)
        let length = min(blob.size - start, min(Int(m.maxBytes), configuration.blobChunkBytes))
        let bytes: Data
        switch blob {
        case .memory(let data): bytes = data.subdata(in: start..<(start + length))
        case .artifact(let name, _): bytes = try store.artifactChunk(name, offset: start, length: length) ?? Data()
        }
        var chunk = WireBlobChunk()
        chunk.digest = m.digest
        chunk.offset = m.offset
        chunk.totalSize = UInt64(blob.size)
        send(.blobChunk(chunk), payload: bytes, to: address, at: time, into: &out)
    }
}
