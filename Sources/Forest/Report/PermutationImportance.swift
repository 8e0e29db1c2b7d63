/// Mergeable permutation importance of a forest on labelled rows: per feature, the
/// score of the rows with that feature's column shuffled (the rows stay in place, the
/// column's values are permuted among them), against the unshuffled score. Partial
/// results of disjoint row sets merge (counts add; squared errors add, merged in
/// partition order like every regression sum), so each holder of test rows can compute
/// its share.
///
/// The importance of a feature is the drop of the score it causes: accuracy for
/// classification, R² for regression (`(SSE_permuted − SSE) / SS_total`), averaged over
/// the repeats.
public struct PermutationImportance: Sendable, Equatable {
    static let magic: UInt32 = 0x5354_5049  // "STPI"
    static let version: UInt32 = 1

    public let task: TaskKind
    public let featureCount: Int
    public let repeats: Int
    public private(set) var rowCount: UInt64 = 0
    /// Classification: correct predictions without shuffling, and per feature summed over the repeats.
    public private(set) var baselineCorrect: UInt64 = 0
    public private(set) var permutedCorrect: [UInt64]
    /// Regression: the sum of squared residuals without shuffling, and per feature summed over the repeats.
    public private(set) var baselineSquaredError: Double = 0
    public private(set) var permutedSquaredError: [Double]
    /// Regression: the rows' targets (for SS_total).
    public private(set) var target = FeatureStatistics()

    public init(task: TaskKind, featureCount: Int, repeats: Int) {
        self.task = task
        self.featureCount = featureCount
        self.repeats = max(1, repeats)
        permutedCorrect = Array(repeating: 0, count: featureCount)
        permutedSquaredError = Array(repeating: 0, count: featureCount)
    }

    /// Scores `partition` with `forest`, then once per feature and repeat with that column
    /// shuffled by a generator seeded from (`seed`, `partitionIndex`, feature, repeat).
    public static func compute(
        forest: RandomForest, partition: BinnedPartition, seed: UInt64, partitionIndex: Int,
        repeats: Int = 1, threads: Int = 1
    ) -> PermutationImportance {
        var result = PermutationImportance(task: forest.task, featureCount: partition.featureCount, repeats: repeats)
        let n = partition.rowCount
        guard n > 0 else { return result }
        result.rowCount = UInt64(n)
        if case .values(let y) = partition.target { for v in y { result.target.add(v) } }
        result.score(forest.predict(binned: partition, threads: threads), partition.target, feature: nil)
        var bins = partition.bins
        var column = [UInt8](repeating: 0, count: n)
        for f in 0..<partition.featureCount {
            let range = f * n..<(f + 1) * n
            column.replaceSubrange(0..<n, with: bins[range])
            for r in 0..<result.repeats {
                var rng = ForestRNG(
                    seed: [UInt64(partitionIndex), UInt64(f), UInt64(r)].reduce(seed) {
                        ForestRNG.mix64($0 ^ ($1 &+ ForestRNG.gamma))
                    })
                var shuffled = column
                shuffled.shuffle(using: &rng)
                bins.replaceSubrange(range, with: shuffled)
                let permuted = BinnedPartition(
                    rowCount: n, featureCount: partition.featureCount, classCount: partition.classCount,
                    bins: bins, target: partition.target, valueBins: partition.valueBins,
                    categorical: partition.categorical)
                result.score(forest.predict(binned: permuted, threads: threads), partition.target, feature: f)
            }
            bins.replaceSubrange(range, with: column)
        }
        return result
    }

    private mutating func score(_ predictions: [Double], _ target: TargetColumn, feature: Int?) {
        switch target {
        case .classes(let labels):
            let C = predictions.count / max(labels.count, 1)
            var correct: UInt64 = 0
            predictions.withUnsafeBufferPointer { p in
                for (r, t) in labels.enumerated()
                where RandomForest.argmax(UnsafeBufferPointer(rebasing: p[r * C..<(r + 1) * C])) == Int(t) { correct += 1 }
            }
            if let f = feature { permutedCorrect[f] += correct } else { baselineCorrect = correct }
        case .values(let y):
            var sse = 0.0
            for (r, v) in y.enumerated() { sse += (v - predictions[r]) * (v - predictions[r]) }
            if let f = feature { permutedSquaredError[f] += sse } else { baselineSquaredError = sse }
        }
    }

    /// Adds another row set's result (same task, features and repeats).
    public mutating func merge(_ other: PermutationImportance) throws {
        guard other.task == task, other.featureCount == featureCount, other.repeats == repeats else {
            throw ForestError(
                .incompatible,
                "cannot merge permutation importances of \(featureCount) and \(other.featureCount) features (\(repeats) and \(other.repeats) repeats)"
            )
        }
        rowCount += other.rowCount
        baselineCorrect += other.baselineCorrect
        baselineSquaredError += other.baselineSquaredError
        for f in 0..<featureCount {
            permutedCorrect[f] += other.permutedCorrect[f]
            permutedSquaredError[f] += other.permutedSquaredError[f]
        }
        target.merge(other.target)
    }

    /// The unshuffled score: accuracy, or R².
    public var baselineScore: Double {
        guard rowCount > 0 else { return .nan }
        switch task {
        case .classification: return Double(baselineCorrect) / Double(rowCount)
        case .regression:
            let total = target.sumSquaredDeviations
            return total > 0 ? 1 - baselineSquaredError / total : .nan
        }
    }

    /// Per feature, the mean drop of the score when the feature is shuffled (NaN without rows).
    public var importances: [Double] {
        guard rowCount > 0 else { return Array(repeating: .nan, count: featureCount) }
        let k = Double(repeats)
        let n = Double(rowCount)
        switch task {
        case .classification:
            return permutedCorrect.map { (Double(baselineCorrect) - Double($0) / k) / n }
        case .regression:
            let total = target.sumSquaredDeviations
            return permutedSquaredError.map { total > 0 ? ($0 / k - baselineSquaredError) / total : .nan }
        }
    }
}

extension PermutationImportance: ByteCodable {
    public static var byteContext: String { "permutation importance" }

    public func write(to w: inout ByteWriter) {
        w.write(Self.magic)
        w.write(Self.version)
        w.write(task.rawValue)
        w.write(UInt32(featureCount))
        w.write(UInt32(repeats))
        w.write(rowCount)
        w.write(baselineCorrect)
        w.write(array: permutedCorrect)
        w.write(baselineSquaredError)
        w.write(array: permutedSquaredError)
        target.write(to: &w)
    }

    public static func read(from r: inout ByteReader) throws -> PermutationImportance {
        guard try r.read(UInt32.self) == magic else { throw ForestError(.corrupted, "\(r.context): bad magic") }
        let v = try r.read(UInt32.self)
        guard v == version else { throw ForestError(.unsupportedVersion, "\(r.context): version \(v), this build reads \(version)") }
        guard let task = TaskKind(rawValue: try r.readString()) else { throw ForestError(.corrupted, "\(r.context): unknown task") }
        let features = Int(try r.read(UInt32.self))
        let repeats = Int(try r.read(UInt32.self))
        guard repeats >= 1 else { throw ForestError(.corrupted, "\(r.context): \(repeats) repeats") }
        var p = PermutationImportance(task: task, featureCount: features, repeats: repeats)
        p.rowCount = try r.read()
        p.baselineCorrect = try r.read()
        p.permutedCorrect = try r.readArray(UInt64.self)
        p.baselineSquaredError = try r.readDouble()
        p.permutedSquaredError = try r.readDoubles()
        guard p.permutedCorrect.count == features, p.permutedSquaredError.count == features else {
            throw ForestError(
                .corrupted, "\(r.context): \(p.permutedCorrect.count) and \(p.permutedSquaredError.count) values for \(features) features")
        }
        p.target = try FeatureStatistics.read(from: &r)
        return p
    }
}

/// What an evaluate task returns: its metrics, then its permutation importance when the
/// job asked for one, then a cross-validation fold task's out-of-fold predictions when the
/// job keeps them (a blob of metrics alone, as older workers send, still decodes).
public enum EvaluationResult {
    public static func encode(
        _ metrics: EvaluationMetrics, permutation: PermutationImportance?, predictions: OutOfFoldPredictions? = nil
    ) -> [UInt8] {
        var w = ByteWriter()
        metrics.write(to: &w)
        permutation?.write(to: &w)
        predictions?.write(to: &w)
        return w.bytes
    }

    public static func decode(
        _ bytes: [UInt8]
    ) throws -> (metrics: EvaluationMetrics, permutation: PermutationImportance?, predictions: OutOfFoldPredictions?) {
        var r = ByteReader(bytes, context: "evaluation result")
        let metrics = try EvaluationMetrics.read(from: &r)
        let permutation = r.isAtEnd || OutOfFoldPredictions.isNext(in: r) ? nil : try PermutationImportance.read(from: &r)
        let predictions = r.isAtEnd ? nil : try OutOfFoldPredictions.read(from: &r)
        try r.expectEnd()
        return (metrics, permutation, predictions)
    }
}
