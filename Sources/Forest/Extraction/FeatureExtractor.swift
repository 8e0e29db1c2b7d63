/// A fitted feature extractor: global bin edges per feature (at most 255 value bins
/// plus one missing bin), constant-feature flags, merged statistics and the class labels.
///
/// Binning rule: a value `x` goes to bin `b` = the number of edges strictly below `x`,
/// so `bin(x) <= b` exactly when `x <= edges[b]`; a tree split on bin `b` therefore has
/// the real threshold `edges[b]` (``thresholds(feature:)``) and predicts identically on
/// raw and binned rows. Missing values (NaN) go to ``missingBin`` (255) and, since every
/// threshold comparison with NaN is false, always to the right child.
public struct FeatureExtractor: Sendable, Equatable {
    static let version: UInt32 = 1
    /// The bin index of missing values.
    public static let missingBin: UInt8 = 255
    /// The largest number of value bins per feature.
    public static let maxValueBins = 255

    /// Feature names after derivation (the columns trees split on).
    public let featureNames: [String]
    /// Identifier of the ``FeatureDerivation`` used, or "" for none.
    public let derivationIdentifier: String
    /// Input column names before derivation.
    public let inputNames: [String]
    /// Per feature: strictly increasing bin edges (count = value bins - 1, at most 254).
    public let edges: [[Double]]
    /// Merged statistics per feature.
    public let statistics: [FeatureStatistics]
    /// Class labels in model order (numeric order when all labels are numbers, else lexicographic).
    public let classes: [String]
    /// Training rows per class, aligned with `classes`.
    public let classCounts: [UInt64]

    public var featureCount: Int { featureNames.count }
    public var classCount: Int { classes.count }

    /// Features with a single distinct (bucketed) value: never split on.
    public var constantFeatures: [Bool] { edges.map(\.isEmpty) }

    /// Fits the extractor from a merged partial state.
    public static func fit(from state: PartialExtractorState,
                           inputNames: [String]? = nil,
                           derivationIdentifier: String = "",
                           maxBins: Int = maxValueBins) throws -> FeatureExtractor {
        guard (2...maxValueBins).contains(maxBins) else {
            throw ForestError(.invalidParameter, "max bins must be in 2...\(maxValueBins), got \(maxBins)")
        }
        guard state.rowCount > 0 else { throw ForestError(.invalidData, "no training rows") }
        let classes = sortLabels(Array(state.classCounts.keys))
        guard classes.count >= 2 else {
            throw ForestError(.invalidData, "training data has \(classes.count) class (\(classes.joined(separator: ", "))); need at least 2")
        }
        guard classes.count <= 65_535 else {
            throw ForestError(.invalidData, "training data has \(classes.count) distinct labels; at most 65535 classes are supported")
        }
        return FeatureExtractor(
            featureNames: state.featureNames,
            derivationIdentifier: derivationIdentifier,
            inputNames: inputNames ?? state.featureNames,
            edges: state.sketches.map { $0.binEdges(maxBins: maxBins) },
            statistics: state.statistics,
            classes: classes,
            classCounts: classes.map { state.classCounts[$0]! })
    }

    public init(featureNames: [String], derivationIdentifier: String, inputNames: [String],
                edges: [[Double]], statistics: [FeatureStatistics], classes: [String], classCounts: [UInt64]) {
        self.featureNames = featureNames
        self.derivationIdentifier = derivationIdentifier
        self.inputNames = inputNames
        self.edges = edges
        self.statistics = statistics
        self.classes = classes
        self.classCounts = classCounts
    }

    /// Numeric order when every label parses as a number, otherwise lexicographic.
    public static func sortLabels(_ labels: [String]) -> [String] {
        let numbers = labels.map { Double($0) }
        if numbers.allSatisfy({ $0 != nil && !$0!.isNaN }) {
            return zip(labels, numbers).sorted { ($0.1!, $0.0) < ($1.1!, $1.0) }.map(\.0)
        }
        return labels.sorted()
    }

    /// The index of `label` in ``classes``, or nil for a label not seen in training.
    public func classIndex(of label: String) -> Int? {
        classIndexTable[label]
    }

    private var classIndexTable: [String: Int] {
        Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
    }

    /// A lookup table from label to class index (build once per stream).
    public func classLookup() -> [String: Int32] {
        Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, Int32($0)) })
    }

    /// The bin of `value` for feature `feature`.
    @inline(__always)
    public func bin(_ value: Double, feature: Int) -> UInt8 {
        Self.bin(value, edges: edges[feature])
    }

    @inline(__always)
    static func bin(_ value: Double, edges: [Double]) -> UInt8 {
        if value.isNaN { return missingBin }
        var lo = 0, hi = edges.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if edges[mid] < value { lo = mid + 1 } else { hi = mid }
        }
        return UInt8(truncatingIfNeeded: lo)
    }

    /// Real thresholds per value bin of `feature`: `edges[feature]` followed by +infinity
    /// (a split after the last value bin separates non-missing from missing values).
    public func thresholds(feature: Int) -> [Double] { edges[feature] + [.infinity] }

    /// Bins row-major prepared rows (`values.count == rows * featureCount`) with their
    /// class indices into a column-major ``BinnedPartition``.
    public func transform(rowMajor values: [Double], labels: [Int32]) -> BinnedPartition {
        let n = labels.count, d = featureCount
        precondition(values.count == n * d, "row-major values must hold rows × features")
        var bins = [UInt8](repeating: 0, count: n * d)
        // Per feature, edges padded with +infinity to 256 entries: a branchless 8-step search.
        var padded = [Double](repeating: .infinity, count: 256)
        values.withUnsafeBufferPointer { v in
            bins.withUnsafeMutableBufferPointer { out in
                for f in 0..<d {
                    for i in 0..<256 { padded[i] = i < edges[f].count ? edges[f][i] : .infinity }
                    padded.withUnsafeBufferPointer { e in
                        for r in 0..<n {
                            let x = v[r &* d &+ f]
                            var pos = 0
                            var step = 128
                            while step > 0 {
                                pos = e[pos &+ step &- 1] < x ? pos &+ step : pos
                                step &>>= 1
                            }
                            out[f &* n &+ r] = x.isNaN ? Self.missingBin : UInt8(truncatingIfNeeded: pos)
                        }
                    }
                }
            }
        }
        return BinnedPartition(rowCount: n, featureCount: d, classCount: classCount, bins: bins, labels: labels,
                               thresholds: (0..<d).map { thresholds(feature: $0) })
    }

    func write(to w: inout ByteWriter) {
        w.write(Self.version)
        w.write(strings: featureNames)
        w.write(derivationIdentifier)
        w.write(strings: inputNames)
        for e in edges { w.write(array: e) }
        for s in statistics { s.write(to: &w) }
        w.write(strings: classes)
        w.write(array: classCounts)
    }

    static func read(from r: inout ByteReader) throws -> FeatureExtractor {
        let version = try r.read(UInt32.self)
        guard version == Self.version else {
            throw ForestError(.unsupportedVersion, "\(r.context): feature extractor version \(version), this build reads \(Self.version)")
        }
        let names = try r.readStrings()
        let derivation = try r.readString()
        let inputNames = try r.readStrings()
        var edges: [[Double]] = []
        for _ in names {
            let e = try r.readDoubles()
            guard e.count < maxValueBins, zip(e, e.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw ForestError(.corrupted, "\(r.context): bin edges are not strictly increasing")
            }
            edges.append(e)
        }
        var stats: [FeatureStatistics] = []
        for _ in names { stats.append(try FeatureStatistics.read(from: &r)) }
        let classes = try r.readStrings()
        let counts = try r.readArray(UInt64.self)
        guard counts.count == classes.count, classes.count >= 2 else {
            throw ForestError(.corrupted, "\(r.context): class table is inconsistent")
        }
        return FeatureExtractor(featureNames: names, derivationIdentifier: derivation, inputNames: inputNames,
                                edges: edges, statistics: stats, classes: classes, classCounts: counts)
    }

    /// Canonical bytes of the extractor (used in checkpoints, the model file and fingerprints).
    public func serialize() -> [UInt8] {
        var w = ByteWriter()
        write(to: &w)
        return w.bytes
    }

    public init(deserializing bytes: [UInt8]) throws {
        var r = ByteReader(bytes, context: "feature extractor")
        self = try Self.read(from: &r)
        try r.expectEnd()
    }
}
