import Foundation

/// Mergeable evaluation aggregate: every metric is computed from integer counts, so
/// partial aggregates from different partitions merge exactly (associative and
/// commutative, bit-identical results).
///
/// - confusion counts (true class × predicted class);
/// - log loss as a fixed-point sum of −log(max(p_true, ε)) in units of 2^-24;
/// - per class, histograms of the predicted probability of that class over
///   ``scoreBins`` equal-width bins, for positives and negatives separately. ROC AUC is
///   computed from them with ties inside a bin counted as half; scores that differ by
///   less than 1/``scoreBins`` (6.1e-5) are the only source of error, which keeps the AUC
///   within 1e-3 of the exact value on forest outputs (measured in the tests).
public struct MetricsAggregate: Sendable, Equatable {
    static let magic: UInt32 = 0x5354_4D41  // "STMA"
    static let version: UInt32 = 1
    public static let scoreBins = 16_384
    /// Above this many classes no score histograms are kept (they would take
    /// 256 KiB per class) and `auc` is NaN; every other metric is still exact.
    public static let maxClassesForAUC = 100
    static let logLossScale = 16_777_216.0  // 2^24
    static let epsilon = 2.220446049250313e-16  // float64 machine epsilon, as scikit-learn

    public let classCount: Int
    /// `confusion[t * classCount + p]`: rows of true class t predicted as p.
    public private(set) var confusion: [UInt64]
    public private(set) var logLossFixed: UInt64 = 0
    /// Per class c: histogram of p_c over rows of class c (positives) ...
    private var positive: [[UInt64]]
    /// ... and over rows of other classes (negatives). Empty arrays until used.
    private var negative: [[UInt64]]

    public init(classCount: Int) {
        self.classCount = classCount
        confusion = Array(repeating: 0, count: classCount * classCount)
        positive = Array(repeating: [], count: classCount)
        negative = Array(repeating: [], count: classCount)
    }

    /// Rows added.
    public var rowCount: UInt64 { confusion.reduce(0, +) }

    /// Adds one scored row: its class probabilities (count = classCount) and true class.
    public mutating func add(probabilities p: UnsafeBufferPointer<Double>, trueClass t: Int) {
        let predicted = RandomForest.argmax(p)
        confusion[t * classCount + predicted] += 1
        let pt = min(max(p[t], Self.epsilon), 1)
        logLossFixed += UInt64((-Foundation.log(pt) * Self.logLossScale).rounded())
        // Binary: AUC needs only class 1's scores.
        let scored = classCount == 2 ? 1..<2 : (classCount > Self.maxClassesForAUC ? 0..<0 : 0..<classCount)
        for c in scored {
            let bin = min(Int(p[c] * Double(Self.scoreBins)), Self.scoreBins - 1)
            if c == t {
                if positive[c].isEmpty { positive[c] = Array(repeating: 0, count: Self.scoreBins) }
                positive[c][max(bin, 0)] += 1
            } else {
                if negative[c].isEmpty { negative[c] = Array(repeating: 0, count: Self.scoreBins) }
                negative[c][max(bin, 0)] += 1
            }
        }
    }

    public mutating func add(probabilities p: [Double], trueClass t: Int) {
        p.withUnsafeBufferPointer { add(probabilities: $0, trueClass: t) }
    }

    /// Adds row-major probabilities (`labels.count * classCount`) with their true classes.
    public mutating func add(probabilities p: [Double], labels: [Int32]) {
        p.withUnsafeBufferPointer { buffer in
            for (r, t) in labels.enumerated() {
                add(probabilities: UnsafeBufferPointer(rebasing: buffer[r * classCount..<(r + 1) * classCount]), trueClass: Int(t))
            }
        }
    }

    public mutating func merge(_ other: MetricsAggregate) throws {
        guard other.classCount == classCount else {
            throw ForestError(.incompatible, "cannot merge metrics of \(classCount) and \(other.classCount) classes")
        }
        for i in confusion.indices { confusion[i] += other.confusion[i] }
        logLossFixed += other.logLossFixed
        func add(_ a: inout [UInt64], _ b: [UInt64]) {
            if b.isEmpty { return }
            if a.isEmpty {
                a = b
                return
            }
            for i in a.indices { a[i] += b[i] }
        }
        for c in 0..<classCount {
            add(&positive[c], other.positive[c])
            add(&negative[c], other.negative[c])
        }
    }

    // MARK: Metrics

    public var accuracy: Double {
        let n = rowCount
        guard n > 0 else { return .nan }
        var correct: UInt64 = 0
        for c in 0..<classCount { correct += confusion[c * classCount + c] }
        return Double(correct) / Double(n)
    }

    /// Mean recall over classes present in the data.
    public var balancedAccuracy: Double {
        let recalls = perClass.filter { $0.support > 0 }.map(\.recall)
        return recalls.isEmpty ? .nan : recalls.reduce(0, +) / Double(recalls.count)
    }

    public var logLoss: Double {
        let n = rowCount
        return n > 0 ? Double(logLossFixed) / Self.logLossScale / Double(n) : .nan
    }

    /// ROC AUC of class c against the rest; nil when class c has no positives or no negatives.
    public func auc(ofClass c: Int) -> Double? {
        let pos = positive[c]
        let neg = negative[c]
        guard !pos.isEmpty, !neg.isEmpty else { return nil }
        var negBelow: Double = 0
        var area: Double = 0
        var totalPos: Double = 0
        for b in 0..<Self.scoreBins {
            let p = Double(pos[b])
            let q = Double(neg[b])
            area += p * (negBelow + 0.5 * q)
            negBelow += q
            totalPos += p
        }
        return area / (totalPos * negBelow)
    }

    /// Class c's score histograms (``scoreBins`` equal-width bins of p_c over [0, 1]) over the
    /// rows of class c (`positive`) and of the other classes (`negative`); nil when none are
    /// kept for c (class 0 of a binary task, more than ``maxClassesForAUC`` classes, no rows).
    public func scoreHistograms(ofClass c: Int) -> (positive: [UInt64], negative: [UInt64])? {
        guard c >= 0, c < classCount, !positive[c].isEmpty || !negative[c].isEmpty else { return nil }
        let zeros = [UInt64](repeating: 0, count: Self.scoreBins)
        return (positive[c].isEmpty ? zeros : positive[c], negative[c].isEmpty ? zeros : negative[c])
    }

    /// Binary: AUC of class 1 (the second class in model order). Multiclass: macro average
    /// of one-vs-rest AUCs over classes that have both positives and negatives.
    public var auc: Double {
        if classCount == 2 { return auc(ofClass: 1) ?? .nan }
        let values = (0..<classCount).compactMap { auc(ofClass: $0) }
        return values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }

    public struct ClassMetrics: Sendable, Equatable {
        public var precision: Double
        public var recall: Double
        public var f1: Double
        public var support: UInt64
    }

    /// Precision, recall, F1 and support per class (0 where undefined, as scikit-learn's zero_division=0).
    public var perClass: [ClassMetrics] {
        (0..<classCount).map { c in
            var predicted: UInt64 = 0
            var actual: UInt64 = 0
            for k in 0..<classCount {
                predicted += confusion[k * classCount + c]
                actual += confusion[c * classCount + k]
            }
            let tp = Double(confusion[c * classCount + c])
            let precision = predicted > 0 ? tp / Double(predicted) : 0
            let recall = actual > 0 ? tp / Double(actual) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return ClassMetrics(precision: precision, recall: recall, f1: f1, support: actual)
        }
    }

    /// The confusion matrix as rows (true class) of columns (predicted class).
    public var confusionMatrix: [[UInt64]] {
        (0..<classCount).map { Array(confusion[$0 * classCount..<($0 + 1) * classCount]) }
    }

    // MARK: Serialization (histograms stored sparsely)

    public func serialize() -> [UInt8] {
        var w = ByteWriter()
        w.write(Self.magic)
        w.write(Self.version)
        write(to: &w)
        return w.bytes
    }

    func write(to w: inout ByteWriter) {
        w.write(UInt32(classCount))
        w.write(array: confusion)
        w.write(logLossFixed)
        func sparse(_ h: [UInt64]) {
            let nz = h.indices.filter { h[$0] != 0 }
            w.write(array: nz.map { UInt32($0) })
            w.write(array: nz.map { h[$0] })
        }
        for c in 0..<classCount {
            sparse(positive[c])
            sparse(negative[c])
        }
    }

    public init(deserializing bytes: [UInt8]) throws {
        var r = ByteReader(bytes, context: "metrics aggregate")
        guard try r.read(UInt32.self) == Self.magic else { throw ForestError(.corrupted, "metrics aggregate: bad magic") }
        let v = try r.read(UInt32.self)
        guard v == Self.version else {
            throw ForestError(.unsupportedVersion, "metrics aggregate: version \(v), this build reads \(Self.version)")
        }
        self = try Self.read(from: &r)
        try r.expectEnd()
    }

    static func read(from r: inout ByteReader) throws -> MetricsAggregate {
        let classes = Int(try r.read(UInt32.self))
        guard classes >= 1, classes <= 65_535 else { throw ForestError(.corrupted, "\(r.context): class count \(classes)") }
        var m = MetricsAggregate(classCount: classes)
        let confusion = try r.readArray(UInt64.self)
        guard confusion.count == classes * classes else { throw ForestError(.corrupted, "\(r.context): confusion size") }
        m.confusion = confusion
        m.logLossFixed = try r.read()
        func sparse() throws -> [UInt64] {
            let idx = try r.readArray(UInt32.self)
            let vals = try r.readArray(UInt64.self)
            guard idx.count == vals.count, idx.allSatisfy({ Int($0) < scoreBins }) else {
                throw ForestError(.corrupted, "\(r.context): score histogram")
            }
            if idx.isEmpty { return [] }
            var h = [UInt64](repeating: 0, count: scoreBins)
            for (i, v) in zip(idx, vals) { h[Int(i)] = v }
            return h
        }
        for c in 0..<classes {
            m.positive[c] = try sparse()
            m.negative[c] = try sparse()
        }
        return m
    }
}
