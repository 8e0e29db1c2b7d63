import Forest

/// `train --report-json`: the test metrics at the top level, the run's rows, partitions,
/// threads and seconds per phase (wall and CPU, with `total`), the parameters, and the
/// out-of-bag metrics and permutation importance when computed.
struct TrainReport: Encodable {
    var testMetrics: InlineMetrics
    var taskReason: String
    var categoricalFeatures: [String]
    var fingerprint: String
    var model: String
    var trainRows: Int
    var testRows: Int
    var partitions: Int
    var partitionRows: [Int]
    var threads: Int
    var trees: Int
    var seconds: [String: Double]
    var cpuSeconds: [String: Double]
    var parameters: ForestParametersReport
    var oob: MetricsReport?
    var oobAccuracy: Double?
    var permutationImportance: PermutationImportanceReport?

    enum CodingKeys: String, CodingKey {
        case taskReason = "task_reason"
        case categoricalFeatures = "categorical_features"
        case fingerprint, model
        case trainRows = "train_rows"
        case testRows = "test_rows"
        case partitions
        case partitionRows = "partition_rows"
        case threads, trees, seconds
        case cpuSeconds = "cpu_seconds"
        case parameters, oob
        case oobAccuracy = "oob_accuracy"
        case permutationImportance = "permutation_importance"
    }

    func encode(to encoder: any Encoder) throws {
        try testMetrics.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(taskReason, forKey: .taskReason)
        try c.encode(categoricalFeatures, forKey: .categoricalFeatures)
        try c.encode(fingerprint, forKey: .fingerprint)
        try c.encode(model, forKey: .model)
        try c.encode(trainRows, forKey: .trainRows)
        try c.encode(testRows, forKey: .testRows)
        try c.encode(partitions, forKey: .partitions)
        try c.encode(partitionRows, forKey: .partitionRows)
        try c.encode(threads, forKey: .threads)
        try c.encode(trees, forKey: .trees)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(cpuSeconds, forKey: .cpuSeconds)
        try c.encode(parameters, forKey: .parameters)
        try c.encodeIfPresent(oob, forKey: .oob)
        try c.encodeIfPresent(oobAccuracy, forKey: .oobAccuracy)
        try c.encodeIfPresent(permutationImportance, forKey: .permutationImportance)
    }
}
