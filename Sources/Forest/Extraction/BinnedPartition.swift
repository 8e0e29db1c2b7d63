/// The target of each row of a binned partition, per learning task.
public enum TargetColumn: Sendable, Equatable {
    /// Class index per row.
    case classes([Int32])
    /// Target value per row.
    case values([Double])

    public var count: Int {
        switch self {
        case .classes(let c): c.count
        case .values(let v): v.count
        }
    }
}

/// A partition's rows binned with global edges and levels: one byte per value,
/// column-major (`bins[feature * rowCount + row]`), with the rows' targets. This is what
/// the tree learner trains on and the batch scorer scores.
public struct BinnedPartition: Sendable {
    public let rowCount: Int
    public let featureCount: Int
    /// Classes of a classification partition (0 for regression).
    public let classCount: Int
    /// Column-major bins (missing = ``FeatureExtractor/missingBin``).
    public let bins: [UInt8]
    public let target: TargetColumn
    /// Value bins per feature (missing not counted).
    public let valueBins: [Int]
    /// Whether each feature is categorical (level-set splits) rather than numeric (thresholds).
    public let categorical: [Bool]

    public init(
        rowCount: Int, featureCount: Int, classCount: Int, bins: [UInt8], target: TargetColumn,
        valueBins: [Int], categorical: [Bool]
    ) {
        precondition(
            bins.count == rowCount * featureCount && target.count == rowCount
                && valueBins.count == featureCount && categorical.count == featureCount)
        self.rowCount = rowCount
        self.featureCount = featureCount
        self.classCount = classCount
        self.bins = bins
        self.target = target
        self.valueBins = valueBins
        self.categorical = categorical
    }

    public var task: TaskKind {
        if case .classes = target { return .classification }
        return .regression
    }

    /// Class index per row (empty for regression).
    public var labels: [Int32] {
        if case .classes(let c) = target { return c }
        return []
    }

    /// Target value per row (empty for classification).
    public var values: [Double] {
        if case .values(let v) = target { return v }
        return []
    }

    /// Rows per class.
    public var classCounts: [Int] {
        var c = [Int](repeating: 0, count: classCount)
        for l in labels { c[Int(l)] += 1 }
        return c
    }
}
