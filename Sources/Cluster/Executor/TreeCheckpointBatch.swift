import Foundation

/// Groups a train task's finished trees into checkpoints of `every` trees
/// (`checkpoint_every`), or fewer when they reach `maxBytes` (so a checkpoint
/// stays well inside the protocol's payload limit); `flush` gives the rest at
/// the end of the task. Trees arrive in increasing index order, one after the other.
struct TreeCheckpointBatch: Sendable {
    let every: Int
    let maxBytes: Int
    private(set) var first: Int
    private(set) var trees: [Data] = []
    private var bytes = 0

    init(every: Int, first: Int, limits: ProtocolLimits = ProtocolLimits()) {
        self.every = min(max(1, every), limits.maxTreesPerCheckpoint)
        maxBytes = limits.maxPayloadBytes / 4
        self.first = first
    }

    /// Adds tree `index`; returns a full batch (first tree index, serialized trees) to send.
    mutating func add(_ tree: Data, index: Int) -> (first: Int, trees: [Data])? {
        if trees.isEmpty { first = index }
        trees.append(tree)
        bytes += tree.count
        return trees.count >= every || bytes >= maxBytes ? flush() : nil
    }

    /// The trees not sent yet, if any.
    mutating func flush() -> (first: Int, trees: [Data])? {
        guard !trees.isEmpty else { return nil }
        defer {
            first += trees.count
            trees.removeAll()
            bytes = 0
        }
        return (first, trees)
    }
}
