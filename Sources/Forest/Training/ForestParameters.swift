import Foundation

/// Impurity criterion for split selection.
public enum SplitCriterion: String, Sendable, CaseIterable {
    case gini, entropy
}

/// How many features each split considers (drawn afresh at every node).
public enum MaxFeatures: Sendable, Equatable, CustomStringConvertible {
    /// The task's default: √d for classification, all d for regression (scikit-learn ≥ 1.1;
    /// measured against d/3 on the shared data sets, see docs/forest.md).
    case auto
    case sqrt, log2, all
    /// A fraction in (0, 1] of the features.
    case fraction(Double)
    /// An exact number of features.
    case count(Int)

    /// The number of features per split for `featureCount` features (at least 1), as scikit-learn computes it.
    public func resolve(featureCount: Int, task: TaskKind = .classification) -> Int {
        let d = max(featureCount, 1)
        let k: Int
        switch self {
        case .auto: k = task == .classification ? Int(Double(d).squareRoot()) : d
        case .sqrt: k = Int(Double(d).squareRoot())
        case .log2: k = Int(Double(d).exponent)  // floor(log2(d)), exact
        case .all: k = d
        case .fraction(let f): k = Int(f * Double(d))
        case .count(let c): k = c
        }
        return min(max(k, 1), d)
    }

    /// Parses "sqrt", "log2", "all", a fraction like "0.3" or a count like "7".
    public init?(parsing text: String) {
        switch text.lowercased() {
        case "auto": self = .auto
        case "sqrt": self = .sqrt
        case "log2": self = .log2
        case "all", "none", "1.0": self = .all
        default:
            if let i = Int(text), i >= 1 {
                self = .count(i)
            } else if let f = Double(text), f > 0, f <= 1 {
                self = .fraction(f)
            } else {
                return nil
            }
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .sqrt: "sqrt"
        case .log2: "log2"
        case .all: "all"
        case .fraction(let f): "\(f)"
        case .count(let c): "\(c)"
        }
    }
}

/// Class weighting for impurity and leaf probabilities.
public enum ClassWeighting: String, Sendable, CaseIterable {
    /// Every row weighs its bootstrap count.
    case none
    /// Rows of class c weigh n / (classes * n_c) as in scikit-learn's `class_weight="balanced"`.
    case balanced
}

/// Everything that determines how a forest is grown. Part of the model fingerprint.
public struct ForestParameters: Sendable, Equatable {
    /// Total number of trees over all partitions.
    public var trees: Int = 100
    public var criterion: SplitCriterion = .gini
    /// nil: unlimited (grow until leaves are pure or too small).
    public var maxDepth: Int? = nil
    public var minSamplesSplit: Int = 2
    public var minSamplesLeaf: Int = 1
    public var maxFeatures: MaxFeatures = .auto
    public var bootstrap: Bool = true
    public var classWeighting: ClassWeighting = .none
    /// Rows a categorical level needs in a node to take part in that node's level-set
    /// split (sparser levels stay on the right): ordering levels by a mean over a handful
    /// of rows overfits (LightGBM's `min_data_per_group`, there 100). 1 disables it.
    public var minCategoryRows: Int = 10
    /// The job seed; tree `i` of partition `p` uses `ForestRNG.treeSeed(seed:partition:tree:)`.
    public var seed: UInt64 = 42

    public init() {}

    /// The most trees a forest may have (the model file stores counts as UInt32).
    public static let maxTrees = 1_000_000

    public func validate() throws {
        func bad(_ m: String) -> ForestError { ForestError(.invalidParameter, m) }
        guard trees >= 1 else { throw bad("trees must be at least 1, got \(trees)") }
        guard trees <= Self.maxTrees else { throw bad("trees must be at most \(Self.maxTrees), got \(trees)") }
        guard minSamplesSplit <= Int(UInt32.max) else { throw bad("min samples split must be at most \(UInt32.max)") }
        guard minSamplesLeaf <= Int(UInt32.max) else { throw bad("min samples leaf must be at most \(UInt32.max)") }
        if let d = maxDepth, d < 1 { throw bad("max depth must be at least 1, got \(d)") }
        guard minSamplesSplit >= 2 else { throw bad("min samples split must be at least 2, got \(minSamplesSplit)") }
        guard minSamplesLeaf >= 1 else { throw bad("min samples leaf must be at least 1, got \(minSamplesLeaf)") }
        guard (1...Int(UInt32.max)).contains(minCategoryRows) else {
            throw bad("min category rows must be in 1...\(UInt32.max), got \(minCategoryRows)")
        }
        switch maxFeatures {
        case .fraction(let f) where !(f > 0 && f <= 1): throw bad("max features fraction must be in (0, 1], got \(f)")
        case .count(let c) where c < 1: throw bad("max features must be at least 1, got \(c)")
        default: break
        }
    }

    public func write(to w: inout ByteWriter) {
        w.write(UInt32(trees))
        w.write(criterion.rawValue)
        w.write(Int64(maxDepth ?? -1))
        w.write(UInt32(minSamplesSplit))
        w.write(UInt32(minSamplesLeaf))
        w.write(maxFeatures.description)
        w.write(bootstrap)
        w.write(classWeighting.rawValue)
        w.write(seed)
        w.write(UInt32(minCategoryRows))
    }

    public static func read(from r: inout ByteReader) throws -> ForestParameters {
        var p = ForestParameters()
        p.trees = Int(try r.read(UInt32.self))
        guard let c = SplitCriterion(rawValue: try r.readString()) else { throw ForestError(.corrupted, "\(r.context): unknown criterion") }
        p.criterion = c
        let depth = try r.read(Int64.self)
        p.maxDepth = depth < 0 ? nil : Int(depth)
        p.minSamplesSplit = Int(try r.read(UInt32.self))
        p.minSamplesLeaf = Int(try r.read(UInt32.self))
        guard let mf = MaxFeatures(parsing: try r.readString()) else { throw ForestError(.corrupted, "\(r.context): bad max features") }
        p.maxFeatures = mf
        p.bootstrap = try r.readBool()
        guard let cw = ClassWeighting(rawValue: try r.readString()) else {
            throw ForestError(.corrupted, "\(r.context): bad class weighting")
        }
        p.classWeighting = cw
        p.seed = try r.read(UInt64.self)
        p.minCategoryRows = Int(try r.read(UInt32.self))
        return p
    }

}

extension ForestParameters {
    /// The split criterion's name for `task`: Gini or entropy for classification;
    /// regression always splits on squared error (scikit-learn's `squared_error`).
    public func criterionName(for task: TaskKind) -> String {
        task == .regression ? "squared_error" : criterion.rawValue
    }
}

extension ForestParameters: ByteCodable {
    public static var byteContext: String { "forest parameters" }
}
