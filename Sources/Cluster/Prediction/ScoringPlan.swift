import Forest
import SpaceTime

/// Whether a job's workers score with the whole model or with tree slices of it
/// (tree-sharded scoring), decided from the model's size and the workers' memory limit.
/// Pure.
///
/// A worker holding the whole model needs about `baseline + modelBytes × expansion`
/// (the blob while it decodes, the decoded trees, their packed copy for scoring); when that
/// is more than `wholeFraction` of the limit, the model is cut into the fewest slices of
/// about equal size (``ForestScoringLayout/slices(count:)``) that each need at most that
/// share, at least two. Results are bit-identical either way; sharded scoring streams each
/// row to every slice.
public enum ScoringPlan: Sendable, Equatable {
    case whole
    /// Tree ranges of the slices, in tree order, covering the forest.
    case sharded([Range<Int>])

    public enum Choice: String, Sendable, CaseIterable {
        case auto, whole, sharded
    }

    public struct Model: Sendable, Hashable {
        public var baselineBytes: UInt64 = 48 << 20
        public var expansion: Double = 2
        /// Share of the limit the model may take on a worker.
        public var wholeFraction: Double = 0.5
        public init() {}
    }

    /// The plan for a model of `modelBytes` serialized bytes on workers of `memoryLimit`
    /// bytes; `slices` forces the slice count of a sharded plan. The reason is for the log.
    public static func choose(
        _ choice: Choice, layout: ForestScoringLayout, modelBytes: UInt64, memoryLimit: UInt64,
        slices: Int? = nil, model: Model = Model()
    ) -> (plan: ScoringPlan, reason: String) {
        let needed = model.baselineBytes &+ UInt64(Double(modelBytes) * model.expansion)
        let allowed = UInt64(Double(memoryLimit) * model.wholeFraction)
        let fits = needed <= allowed
        let summary =
            "the model (\(ByteCount(modelBytes)), ~\(ByteCount(needed)) loaded on a worker) against \(Int(model.wholeFraction * 100)) % of the workers' \(ByteCount(memoryLimit)) limit"
        if choice == .whole || (choice == .auto && fits && slices == nil) {
            return (.whole, "whole-model scoring: " + (choice == .whole ? "asked for (--scoring whole); " : "") + summary)
        }
        let room = Double(allowed > model.baselineBytes ? allowed - model.baselineBytes : 1)
        let wanted = slices ?? max(2, Int((Double(modelBytes) * model.expansion / room).rounded(.up)))
        let ranges = layout.slices(count: wanted)
        guard ranges.count > 1 else {
            return (.whole, "whole-model scoring: the model has one segment of trees, it cannot be sliced; " + summary)
        }
        let why = choice == .sharded ? "asked for (--scoring sharded); " : ""
        return (
            .sharded(ranges),
            "tree-sharded scoring: \(ranges.count) slices of the \(layout.treeCount) trees (\(ranges.map { "\($0.lowerBound)..<\($0.upperBound)" }.joined(separator: ", "))), each row scored by every slice; "
                + why + summary
        )
    }
}
