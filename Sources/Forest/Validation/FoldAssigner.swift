import SpaceTime

/// Assigns each row of a data set to one of `folds` cross-validation folds from the
/// row's own bytes: `XXH64(seed-tagged, record bytes) mod folds`.
///
/// The fold of a row depends only on its content and the seed, never on where it is in
/// the file, so a shuffled or re-split copy of the data set gets the same folds, and
/// identical rows land in the same fold (a duplicate never sits on both sides of a
/// split). Each class is split over the folds in expectation: a fold's share of a class
/// varies binomially around 1/folds (as H2O's `Random` fold assignment and Spark's
/// `CrossValidator` do); exact per-class counts, as scikit-learn's `StratifiedKFold`
/// deals them, would need a pass over the data before the folds are known.
public struct FoldAssigner: Sendable, Hashable {
    public let folds: Int
    public let seed: UInt64

    /// Fold counts above this are refused (each fold trains a forest).
    public static let maxFolds = 100

    public init(folds: Int, seed: UInt64) throws {
        guard (2...Self.maxFolds).contains(folds) else {
            throw ForestError(.invalidParameter, "folds must be in 2...\(Self.maxFolds), got \(folds)")
        }
        self.folds = folds
        self.seed = seed
    }

    /// The fold, in `0..<folds`, of the record whose raw bytes (without the line ending) are `bytes`.
    @inline(__always)
    public func fold(recordBytes bytes: UnsafeRawBufferPointer) -> Int {
        var h = XXHash64(seed: seed ^ 0x6366_6F6C_6473_0001)
        h.update(bytes)
        return Int(h.finalize() % UInt64(folds))
    }
}
