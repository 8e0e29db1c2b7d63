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
        return Self.reported(first.metrics).indices.map { i in
            Summary(name: values[0][i].name, values: values.compactMap { $0.indices.contains(i) ? $0[i].value : nil })
        }
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

    mutating func append(lines l: [UInt64], fold: Int, predictions: [Double]) {
        lines += l
        folds += Array(repeating: Int32(fold), count: l.count)
        values += predictions
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
