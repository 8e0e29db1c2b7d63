import Foundation
import Logging
import SpaceTime

// Checkpoints: a task's progress and results stored, then acknowledged.

extension CoordinatorEngine {
    func handleCheckpoint(
        _ m: WireCheckpoint, payload: Data, from address: PeerAddress, at time: EngineTime,
        into out: inout [CoordinatorOutput]
    ) throws {
        guard let peer = peers[address], let name = peer.running[m.attemptID] else { return }
        var ack = WireCheckpointAck()
        ack.attemptID = m.attemptID
        switch m.content {
        case .stats(let s):
            // Row counts only: what the rows hold is in the opaque statistics payload (the
            // optional class fields of `ExtractStats` are validated, not used).
            let counts = PartitionCounts(trainRows: Int(clamping: s.trainRows), testRows: Int(clamping: s.testRows))
            guard
                let outcome = try storeWrite(
                    peer.workerID, &out, { try store.saveExtractCheckpoint(m.attemptID, stats: payload, counts: counts, now: time.wall) }),
                !outcome.isDiscarded
            else { return }
        case .trees(let t):
            var trees: [Data] = []
            var offset = payload.startIndex
            for length in t.treeLengths {
                trees.append(payload.subdata(in: offset..<(offset + Int(length))))
                offset += Int(length)
            }
            guard
                let outcome = try storeWrite(
                    peer.workerID, &out, { try store.saveTrees(m.attemptID, firstTree: Int(t.firstTree), trees: trees, now: time.wall) }),
                !outcome.isDiscarded
            else { return }
            ack.treesStored = UInt32(clamping: try store.checkpointedTrees(partition: name.partition).count)
        case nil:
            return
        }
        send(.checkpointAck(ack), to: address, at: time, into: &out)
    }
}
