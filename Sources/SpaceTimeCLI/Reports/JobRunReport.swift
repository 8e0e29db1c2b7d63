import Forest

/// `coordinator` and `local --report-json`: the test metrics at the top level, the model,
/// its partitions, the wall time per stage, each worker's memory and exit, the
/// coordinator's peak RSS, the parameters, and the permutation importance when computed.
struct JobRunReport: Encodable {
    /// One step of the job: its wall seconds and the rows it read (null where it reads none).
    struct Stage: Encodable {
        var stage: String
        var seconds: Double
        @NullWhenAbsent var rows: Int?
    }

    /// One worker: its peak RSS and memory limit in bytes, its cgroup's peak in bytes and
    /// how it exited (null where not known: a worker this process did not start).
    struct Worker: Encodable {
        var id: String
        var pid: Int
        var peakRSS: UInt64
        var limit: UInt64
        @NullWhenAbsent var cgroupPeak: Int?
        @NullWhenAbsent var exit: String?

        enum CodingKeys: String, CodingKey {
            case id, pid
            case peakRSS = "peak_rss"
            case limit
            case cgroupPeak = "cgroup_peak"
            case exit
        }
    }

    var testMetrics: InlineMetrics
    var fingerprint: String
    var model: String
    var partitions: Int
    var partitionRows: [Int]
    var trees: Int
    var stages: [Stage]
    var workers: [Worker]
    /// Bytes.
    var coordinatorPeakRSS: Int
    var parameters: ForestParametersReport
    var permutationImportance: PermutationImportanceReport?

    enum CodingKeys: String, CodingKey {
        case fingerprint, model, partitions
        case partitionRows = "partition_rows"
        case trees, stages, workers
        case coordinatorPeakRSS = "coordinator_peak_rss"
        case parameters
        case permutationImportance = "permutation_importance"
    }

    func encode(to encoder: any Encoder) throws {
        try testMetrics.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(fingerprint, forKey: .fingerprint)
        try c.encode(model, forKey: .model)
        try c.encode(partitions, forKey: .partitions)
        try c.encode(partitionRows, forKey: .partitionRows)
        try c.encode(trees, forKey: .trees)
        try c.encode(stages, forKey: .stages)
        try c.encode(workers, forKey: .workers)
        try c.encode(coordinatorPeakRSS, forKey: .coordinatorPeakRSS)
        try c.encode(parameters, forKey: .parameters)
        try c.encodeIfPresent(permutationImportance, forKey: .permutationImportance)
    }
}
