import Foundation

/// Mergeable regression evaluation: row count, sums of squared and absolute residuals,
/// and the target's moments (Welford / Chan), from which R², RMSE and MAE follow; with a
/// target range, also the fixed-bin ``RegressionHistograms`` (predicted versus actual,
/// residuals) the job report draws.
///
/// Sums of doubles merge associatively only up to rounding, so callers merge partial
/// aggregates in partition order (as every other merged state); any grouping agrees
/// to about 1e-12 relative.
public struct RegressionMetrics: Sendable, Equatable {
    static let magic: UInt32 = 0x5354_524D  // "STRM"
    /// Version 2 adds the optional histograms; version 1 (without them) is still read.
    static let version: UInt32 = 2

    public private(set) var rowCount: UInt64 = 0
    public private(set) var squaredError: Double = 0
    public private(set) var absoluteError: Double = 0
    /// The actual targets' moments.
    public private(set) var target = FeatureStatistics()
    /// Predicted-versus-actual and residual histograms; nil without a target range, or after
    /// merging an aggregate that has none (or another range).
    public private(set) var histograms: RegressionHistograms?

    /// Metrics without histograms.
    public init() {}

    /// Metrics with histograms laid out over `[lower, upper]` (the training target's range).
    public init(histogramLower lower: Double, upper: Double) {
        histograms = RegressionHistograms(lower: lower, upper: upper)
    }

    @inline(__always)
    public mutating func add(prediction: Double, actual: Double) {
        let r = actual - prediction
        rowCount += 1
        squaredError += r * r
        absoluteError += r.magnitude
        target.add(actual)
        histograms?.add(prediction: prediction, actual: actual)
    }

    public mutating func add(predictions: [Double], actual: [Double]) {
        precondition(predictions.count == actual.count)
        for i in actual.indices { add(prediction: predictions[i], actual: actual[i]) }
    }

    public mutating func merge(_ other: RegressionMetrics) {
        switch (histograms, other.histograms) {
        case (let a?, let b?): histograms = a.merged(with: b)
        case (nil, let b?) where rowCount == 0: histograms = b
        case (_?, nil) where other.rowCount == 0: break
        default: histograms = nil
        }
        rowCount += other.rowCount
        squaredError += other.squaredError
        absoluteError += other.absoluteError
        target.merge(other.target)
    }

    /// 1 − SS_res / SS_tot (scikit-learn's `r2_score`); NaN without rows, 0 for a constant target predicted exactly.
    public var r2: Double {
        guard rowCount > 0 else { return .nan }
        let total = target.sumSquaredDeviations
        if total == 0 { return squaredError == 0 ? 1 : 0 }
        return 1 - squaredError / total
    }

    public var rmse: Double { rowCount > 0 ? (squaredError / Double(rowCount)).squareRoot() : .nan }
    public var mae: Double { rowCount > 0 ? absoluteError / Double(rowCount) : .nan }

    func write(to w: inout ByteWriter) {
        w.write(Self.magic)
        w.write(Self.version)
        w.write(rowCount)
        w.write(squaredError)
        w.write(absoluteError)
        target.write(to: &w)
        w.write(histograms != nil)
        histograms?.write(to: &w)
    }

    static func read(from r: inout ByteReader) throws -> RegressionMetrics {
        guard try r.read(UInt32.self) == magic else { throw ForestError(.corrupted, "\(r.context): not regression metrics") }
        let version = try r.read(UInt32.self)
        guard version == 1 || version == Self.version else {
            throw ForestError(
                .unsupportedVersion, "\(r.context): regression metrics version \(version), this build reads 1 and \(Self.version)")
        }
        var m = RegressionMetrics()
        m.rowCount = try r.read()
        m.squaredError = try r.readDouble()
        m.absoluteError = try r.readDouble()
        m.target = try FeatureStatistics.read(from: &r)
        if version >= 2, try r.readBool() {
            m.histograms = try RegressionHistograms.read(from: &r)
        }
        return m
    }

    public var textReport: String {
        func f(_ x: Double) -> String { x.isFinite ? String(format: "%.4f", x) : "n/a" }
        return "R² \(f(r2))  RMSE \(f(rmse))  MAE \(f(mae))  (\(rowCount) rows)\n"
    }
}

/// The evaluation aggregate of a model's learning task: what workers return for their
/// test rows and the coordinator merges in partition order.
public enum EvaluationMetrics: Sendable, Equatable {
    case classification(MetricsAggregate)
    case regression(RegressionMetrics)

    public init(task: LearningTask) {
        switch task {
        case .classification(let classes, _): self = .classification(MetricsAggregate(classCount: classes.count))
        case .regression(let target): self = .regression(RegressionMetrics(histogramLower: target.minimum, upper: target.maximum))
        }
    }

    public var rowCount: UInt64 {
        switch self {
        case .classification(let m): m.rowCount
        case .regression(let m): m.rowCount
        }
    }

    /// The headline score: accuracy, or R².
    public var score: Double {
        switch self {
        case .classification(let m): m.accuracy
        case .regression(let m): m.r2
        }
    }

    public var classification: MetricsAggregate? {
        if case .classification(let m) = self { return m }
        return nil
    }

    public var regression: RegressionMetrics? {
        if case .regression(let m) = self { return m }
        return nil
    }

    /// Adds row-major predictions (``RandomForest/predict(binned:threads:)``) of rows with targets `target`.
    public mutating func add(predictions: [Double], target: TargetColumn) {
        switch (self, target) {
        case (.classification(var m), .classes(let labels)):
            self = .regression(RegressionMetrics())
            m.add(probabilities: predictions, labels: labels)
            self = .classification(m)
        case (.regression(var m), .values(let y)):
            self = .classification(MetricsAggregate(classCount: 0))
            m.add(predictions: predictions, actual: y)
            self = .regression(m)
        default:
            preconditionFailure("targets of another task")
        }
    }

    public mutating func merge(_ other: EvaluationMetrics) throws {
        switch (self, other) {
        case (.classification(var a), .classification(let b)):
            try a.merge(b)
            self = .classification(a)
        case (.regression(var a), .regression(let b)):
            a.merge(b)
            self = .regression(a)
        default:
            throw ForestError(.incompatible, "cannot merge classification and regression metrics")
        }
    }

    public func write(to w: inout ByteWriter) {
        switch self {
        case .classification(let m):
            w.write(UInt8(0))
            m.write(to: &w)
        case .regression(let m):
            w.write(UInt8(1))
            m.write(to: &w)
        }
    }

    public static func read(from r: inout ByteReader) throws -> EvaluationMetrics {
        switch try r.readByte() {
        case 0: return .classification(try MetricsAggregate.read(from: &r))
        case 1: return .regression(try RegressionMetrics.read(from: &r))
        default: throw ForestError(.corrupted, "\(r.context): unknown metrics kind")
        }
    }

    public func textReport(classes: [String]) -> String {
        switch self {
        case .classification(let m): m.textReport(classes: classes)
        case .regression(let m): m.textReport
        }
    }
}

extension EvaluationMetrics: ByteCodable {
    public static var byteContext: String { "evaluation metrics" }
}
