/// The outcome of cross-validating one parameter combination: each fold's metrics on
/// its held-out rows, and the mean and standard deviation of every metric over folds.
public struct CrossValidationResult: Sendable {
    /// One fold: rows trained on, rows scored, and the metrics of the held-out rows.
    public struct Fold: Sendable {
        public var trainRows: Int
        public var testRows: Int
        public var metrics: EvaluationMetrics

        public init(trainRows: Int, testRows: Int, metrics: EvaluationMetrics) {
            self.trainRows = trainRows
            self.testRows = testRows
            self.metrics = metrics
        }
    }

    /// A metric's value per fold, with their mean and sample standard deviation (n − 1).
    public struct Summary: Sendable, Equatable {
        public var name: String
        public var values: [Double]
        public var mean: Double
        public var standardDeviation: Double

        public init(name: String, values: [Double]) {
            self.name = name
            self.values = values
            let finite = values.filter(\.isFinite)
            let n = Double(finite.count)
            mean = finite.isEmpty ? .nan : finite.reduce(0, +) / n
            let m = mean
            standardDeviation = finite.count < 2 ? 0 : (finite.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)).squareRoot()
        }
    }

    /// The grid point's label ("" without a grid) and its parameters.
    public var label: String
    public var parameters: ForestParameters
    public var folds: [Fold]
    /// Process CPU seconds spent training and scoring this combination's folds.
    public var cpuSeconds: Double

    public init(label: String, parameters: ForestParameters, folds: [Fold], cpuSeconds: Double) {
        self.label = label
        self.parameters = parameters
        self.folds = folds
        self.cpuSeconds = cpuSeconds
    }

    /// The metrics reported for the task: accuracy, AUC and log loss, or R², RMSE and MAE.
    public var summaries: [Summary] {
        guard let first = folds.first else { return [] }
        let values = folds.map { Self.reported($0.metrics) }
        return Self.reported(first.metrics).indices.map { i in Summary(name: values[0][i].name, values: values.map { $0[i].value }) }
    }

    /// The metrics a fold reports, in order: accuracy, AUC and log loss, or R², RMSE and MAE.
    public static func reported(_ metrics: EvaluationMetrics) -> [(name: String, value: Double)] {
        switch metrics {
        case .classification(let m): [("accuracy", m.accuracy), ("auc", m.auc), ("log_loss", m.logLoss)]
        case .regression(let m): [("r2", m.r2), ("rmse", m.rmse), ("mae", m.mae)]
        }
    }

    /// The headline metric (accuracy or R²) averaged over folds: what a grid is ranked by.
    public var score: Summary { summaries[0] }

    /// Indices of `results` (grid points) best first: by mean headline metric, ties in grid order.
    public static func ranking(_ results: [CrossValidationResult]) -> [Int] {
        results.indices.sorted {
            let a = results[$0].score.mean
            let b = results[$1].score.mean
            return a != b ? a > b : $0 < $1
        }
    }
}

/// Out-of-fold predictions: each row's prediction by the forest that did not train on it,
/// keyed by the row's physical line in the input.
public struct OutOfFoldPredictions: Sendable {
    /// Values per row: class probabilities, or 1.
    public var width: Int
    /// Physical line of each row, in input order once ``sort()`` has run.
    public var lines: [UInt64] = []
    /// Fold of each row.
    public var folds: [Int32] = []
    /// `lines.count * width` values, row-major.
    public var values: [Double] = []

    public init(width: Int) { self.width = width }

    /// Adds fold `fold`'s rows at lines `l`, with `predictions` (`l.count × width` values).
    public mutating func append(lines l: [UInt64], fold: Int, predictions: [Double]) {
        lines += l
        folds += Array(repeating: Int32(fold), count: l.count)
        values += predictions
    }

    /// Adds `other`'s rows (of the same width).
    public mutating func append(_ other: OutOfFoldPredictions) throws {
        guard other.width == width else {
            throw ForestError(.invalidData, "out-of-fold predictions of \(other.width) values a row added to ones of \(width)")
        }
        lines += other.lines
        folds += other.folds
        values += other.values
    }

    static let magic: UInt32 = 0x5354_4F46  // "STOF"
    static let version: UInt8 = 1

    /// `STOF`, version 1: width (u32), rows n (u64), n lines (u64), n folds (i32), n × width values (f64).
    public func write(to w: inout ByteWriter) {
        w.write(Self.magic)
        w.write(Self.version)
        w.write(UInt32(width))
        w.write(UInt64(lines.count))
        for l in lines { w.write(l) }
        for f in folds { w.write(f) }
        for v in values { w.write(v) }
    }

    /// Whether the next bytes of `r` are out-of-fold predictions.
    static func isNext(in r: ByteReader) -> Bool {
        var probe = r
        return (try? probe.read(UInt32.self)) == magic
    }

    public static func read(from r: inout ByteReader) throws -> OutOfFoldPredictions {
        guard try r.read(UInt32.self) == magic else { throw ForestError(.corrupted, "\(r.context): not out-of-fold predictions") }
        let version = try r.readByte()
        guard version == Self.version else {
            throw ForestError(.corrupted, "\(r.context): out-of-fold predictions of version \(version); this build reads \(Self.version)")
        }
        let width = Int(try r.read(UInt32.self))
        guard (1...65_536).contains(width) else { throw ForestError(.corrupted, "\(r.context): \(width) values a row") }
        let n = try r.readCount(elementSize: 12 + 8 * width)
        var p = OutOfFoldPredictions(width: width)
        p.lines.reserveCapacity(n)
        for _ in 0..<n { p.lines.append(try r.read(UInt64.self)) }
        for _ in 0..<n { p.folds.append(try r.read(Int32.self)) }
        p.values.reserveCapacity(n * width)
        for _ in 0..<(n * width) { p.values.append(try r.readDouble()) }
        return p
    }

    /// Puts the rows in input order.
    public mutating func sort() {
        let order = lines.indices.sorted { lines[$0] < lines[$1] }
        lines = order.map { lines[$0] }
        folds = order.map { folds[$0] }
        var v = [Double](repeating: 0, count: values.count)
        for (to, from) in order.enumerated() {
            for c in 0..<width { v[to * width + c] = values[from * width + c] }
        }
        values = v
    }
}
