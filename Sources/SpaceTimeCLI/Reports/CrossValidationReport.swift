import Forest

/// `cv --report-json`: the data, the folds, every grid point's results, their ranking
/// (indices into `points`, best first) and the refit model when `--refit` made one.
struct CrossValidationReport: Encodable {
    var task: String
    var taskReason: String
    var folds: Int
    var rows: Int
    var threads: Int
    var classes: [String]
    /// Wall seconds: `read`, `bin` and `total`.
    var seconds: [String: Double]
    /// Process CPU seconds: `total`.
    var cpuSeconds: [String: Double]
    var points: [CrossValidationPointReport]
    var ranking: [Int]
    var best: Int
    var model: String?
    var fingerprint: String?

    enum CodingKeys: String, CodingKey {
        case task
        case taskReason = "task_reason"
        case folds, rows, threads, classes, seconds
        case cpuSeconds = "cpu_seconds"
        case points, ranking, best, model, fingerprint
    }
}

/// One grid point's cross-validation (in the `cv` report, and as the refit model's
/// `cross_validation` provenance): its metrics per fold, their mean and standard deviation
/// (null where no fold has a finite value: AUC without both classes).
struct CrossValidationPointReport: Encodable {
    /// One fold's rows and metrics (keys: the task's metric names).
    struct Fold: Encodable {
        var fold: Int
        var trainRows: Int
        var testRows: Int
        var metrics: [(name: String, value: Double?)]

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(fold, forKey: Key(stringValue: "fold"))
            try c.encode(trainRows, forKey: Key(stringValue: "train_rows"))
            try c.encode(testRows, forKey: Key(stringValue: "test_rows"))
            for (name, value) in metrics { try c.encode(value, forKey: Key(stringValue: name)) }
        }
    }

    var label: String
    var parameters: ForestParametersReport
    /// Process CPU seconds of this point's folds.
    var cpuSeconds: Double
    var folds: [Fold]
    var mean: [String: Double?]
    var std: [String: Double?]

    enum CodingKeys: String, CodingKey {
        case label, parameters
        case cpuSeconds = "cpu_seconds"
        case folds, mean, std
    }

    init(_ result: CrossValidationResult, task: TaskKind) {
        let summaries = result.summaries
        label = result.label
        parameters = ForestParametersReport(result.parameters, task: task)
        cpuSeconds = result.cpuSeconds
        folds = result.folds.enumerated().map { k, fold in
            Fold(
                fold: k + 1, trainRows: fold.trainRows, testRows: fold.testRows,
                metrics: summaries.map { ($0.name, ReportJSON.finite($0.values[k])) })
        }
        mean = Dictionary(uniqueKeysWithValues: summaries.map { ($0.name, ReportJSON.finite($0.mean)) })
        std = Dictionary(uniqueKeysWithValues: summaries.map { ($0.name, ReportJSON.finite($0.standardDeviation)) })
    }
}
