import Foundation

/// The default tree size: keeps a forest within what scoring can hold under a memory
/// limit (H2O caps depth at 20, Spark at 5, scikit-learn not at all).
///
/// Scoring the whole model holds it twice while it loads (the received or mapped bytes
/// and the decoded trees) besides a worker's baseline, so the model may take
/// ``scoringBudget(memoryLimit:)`` = (limit − 48 MiB) · 0.7 / 2. When neither
/// `--max-depth` nor `--min-samples-leaf` is given and the expected unbounded forest
/// (``ForestSizeEstimate/expected(partitionRows:task:outputWidth:featureCount:parameters:)``)
/// is over the budget, the largest depth cap whose hard bound fits is chosen; with
/// explicit values nothing changes and a forest expected over the budget is a warning.
public enum TreeSizeRule {
    /// Baseline resident memory of a scoring process (as ``PartitionPlanner``'s model).
    public static let baselineBytes: UInt64 = 48 << 20
    /// Share of the limit after the baseline that scoring may use.
    public static let usableFraction = 0.7

    public struct Decision: Sendable, Equatable {
        /// The parameters to train with (`maxDepth` set when a cap was chosen).
        public var parameters: ForestParameters
        /// The depth cap chosen, if any.
        public var chosenDepth: Int?
        /// The expected size with the parameters given.
        public var expected: ForestSizeEstimate
        /// The bytes the model may take.
        public var budget: Double
        /// True when the forest is expected over the budget and nothing was changed (explicit values).
        public var overBudget: Bool
        /// One line for the log: the expected size, the budget and the choice.
        public var message: String
    }

    /// The bytes a model may take to be scored whole within `memoryLimit`.
    public static func scoringBudget(memoryLimit: UInt64) -> Double {
        Double(memoryLimit > baselineBytes ? memoryLimit - baselineBytes : 0) * usableFraction / 2
    }

    /// Applies the rule. `explicit`: the user gave `--max-depth` or `--min-samples-leaf`.
    /// `outputWidth`: the class count when known (2 before the classes are counted), 1 for regression.
    public static func decide(
        parameters: ForestParameters, explicit: Bool, partitionRows: [Int], task: TaskKind,
        outputWidth: Int, featureCount: Int, memoryLimit: UInt64
    ) -> Decision {
        let budget = scoringBudget(memoryLimit: memoryLimit)
        let expected = ForestSizeEstimate.expected(
            partitionRows: partitionRows, task: task, outputWidth: outputWidth,
            featureCount: featureCount, parameters: parameters)
        let rows = partitionRows.max() ?? 0
        let what =
            "forest of \(parameters.trees) trees on \(partitionRows.count > 1 ? "\(partitionRows.count) partitions of up to " : "")\(rows) rows"
        let limit = "the \(mib(budget)) scoring budget of a \(mib(Double(memoryLimit))) limit"
        if expected.bytes <= budget {
            let how = explicit || parameters.maxDepth != nil ? "" : "; no depth cap"
            return Decision(
                parameters: parameters, chosenDepth: nil, expected: expected, budget: budget, overBudget: false,
                message: "\(what): ~\(mib(expected.bytes)) expected, within \(limit)\(how)")
        }
        let depth = ForestSizeEstimate.largestDepth(
            fitting: budget, partitionRows: partitionRows, outputWidth: outputWidth,
            featureCount: featureCount, parameters: parameters)
        if explicit || parameters.maxDepth != nil {
            return Decision(
                parameters: parameters, chosenDepth: nil, expected: expected, budget: budget, overBudget: true,
                message:
                    "\(what): ~\(mib(expected.bytes)) expected, over \(limit); scoring the whole model may exceed the limit (--max-depth \(depth) would fit, or raise --memory-limit)"
            )
        }
        var capped = parameters
        capped.maxDepth = depth
        let bound = ForestSizeEstimate.maximum(
            partitionRows: partitionRows, maxDepth: depth, outputWidth: outputWidth,
            featureCount: featureCount, parameters: parameters)
        return Decision(
            parameters: capped, chosenDepth: depth, expected: expected, budget: budget, overBudget: false,
            message:
                "\(what): ~\(mib(expected.bytes)) expected unbounded, over \(limit); max depth \(depth) chosen, at most ~\(mib(bound.bytes))"
        )
    }

    static func mib(_ bytes: Double) -> String {
        let m = bytes / 1_048_576
        return m < 10 ? String(format: "%.1f MiB", m) : "\(Int(m.rounded())) MiB"
    }
}
