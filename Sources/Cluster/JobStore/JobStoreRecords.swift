import Foundation

/// Seconds since 1970 (UTC). The store never reads a clock: callers pass time in.
public typealias Timestamp = Double

/// What the user asked for; fixed when the job is created.
public struct JobSpec: Sendable, Hashable, Codable {
    public var jobID: String
    /// Input CSV files in the order they are read.
    public var dataFiles: [String]
    /// Opaque training parameters (the Forest engine's encoding).
    public var parameters: Data
    public var seed: UInt64
    public var partitions: Int
    /// Fraction of the rows held out for evaluation, in [0, 1) (stratified by the target for classification).
    public var testFraction: Double
    /// Trees in the whole forest; each partition grows its share.
    public var trees: Int
    /// Attempts a task gets before the job fails.
    public var maxAttempts: Int
    /// A cross-validation job's fold count (nil: a training job). Each fold's forest has
    /// `trees` trees, shared by the partitions as a training job's are.
    public var folds: Int?
    /// A cross-validation job over a parameter grid (`cv --grid`): each point's trees per
    /// fold forest, in point order (nil: one point of `trees` trees).
    public var pointTrees: [Int]?

    public init(
        jobID: String, dataFiles: [String], parameters: Data, seed: UInt64, partitions: Int,
        testFraction: Double, trees: Int, maxAttempts: Int = 3
    ) {
        self.jobID = jobID
        self.dataFiles = dataFiles
        self.parameters = parameters
        self.seed = seed
        self.partitions = partitions
        self.testFraction = testFraction
        self.trees = trees
        self.maxAttempts = maxAttempts
    }

    /// The parameter points a cross-validation job evaluates (1 without a grid).
    public var points: Int { pointTrees?.count ?? 1 }

    /// Where partition `p`'s trees sit among the job's (point, fold) forests; nil in a training job.
    public func foldLayout(partition p: Int) -> FoldTreeLayout? {
        folds.map { K in FoldTreeLayout.partition(p, of: partitions, folds: K, pointTrees: pointTrees ?? [trees]) }
    }
}

/// The job's stage, as `spacetime status` shows it.
public enum JobStage: String, Sendable, Hashable, CaseIterable, Codable {
    case extract, merge, train, evaluate, save, done, failed
    /// A prediction job's only working stage (`predict/pK` tasks over row blocks, `predict/pK.tA-B` per tree slice when sharded).
    case predict
}

/// One partition: its share of trees and, after extraction, its row counts. What the
/// rows hold (class counts, target sums) is in the opaque statistics blob only.
public struct PartitionRecord: Sendable, Hashable {
    public var partition: Int
    public var trees: Int
    public var trainRows: Int?
    public var testRows: Int?
}

/// Row counts an extract checkpoint reports for its partition.
public struct PartitionCounts: Sendable, Hashable {
    public var trainRows: Int
    public var testRows: Int

    public init(trainRows: Int, testRows: Int) {
        self.trainRows = trainRows
        self.testRows = testRows
    }
}

public struct TaskRecord: Sendable, Hashable {
    public var id: Int64
    public var name: TaskName
    public var state: TaskState
    public var currentAttempt: UInt64?
    public var failures: Int
}

public enum AttemptOutcome: String, Sendable, Hashable, Codable {
    case done, failed, lost, abandoned
}

public struct AttemptRecord: Sendable, Hashable {
    public var id: UInt64
    public var taskID: Int64
    public var workerID: String
    public var startedAt: Timestamp
    public var endedAt: Timestamp?
    public var outcome: AttemptOutcome?
    public var reason: String?
    public var peakRSS: UInt64?
    /// Train attempts: the first tree this attempt was asked to build.
    public var firstTree: Int?
}

public struct LeaseRecord: Sendable, Hashable {
    public var attemptID: UInt64
    public var workerID: String
    public var deadline: Timestamp
}

public enum WorkerState: String, Sendable, Hashable, Codable {
    case connected, lost, left
}

public struct WorkerRecord: Sendable, Hashable {
    public var id: String
    public var host: String
    public var pid: Int
    public var cores: Int
    public var memoryLimit: UInt64
    public var state: WorkerState
    public var lastHeartbeat: Timestamp?
    public var rss: UInt64?
    public var peakRSS: UInt64?

    public init(
        id: String, host: String, pid: Int, cores: Int, memoryLimit: UInt64,
        state: WorkerState = .connected, lastHeartbeat: Timestamp? = nil,
        rss: UInt64? = nil, peakRSS: UInt64? = nil
    ) {
        self.id = id
        self.host = host
        self.pid = pid
        self.cores = cores
        self.memoryLimit = memoryLimit
        self.state = state
        self.lastHeartbeat = lastHeartbeat
        self.rss = rss
        self.peakRSS = peakRSS
    }
}

public enum JobEventKind: String, Sendable, Hashable, Codable {
    case jobCreated, stageChanged, resumed, jobFailed
    case workerJoined, workerLost, workerLeft
    case attemptStarted, attemptDone, attemptFailed, attemptLost, attemptAbandoned
    case checkpoint, staleDiscarded, taskFailed
    /// A partition's train task was split in tree ranges.
    case tasksSplit
    /// How the train stage's tasks were cut over the workers (`TreeRangeSplit`'s message).
    case trainPlan
    /// How evaluate or predict tasks score: whole model or tree slices, and why.
    case scoringPlan
}

public struct JobEvent: Sendable, Hashable {
    public var id: Int64
    public var at: Timestamp
    public var kind: JobEventKind
    public var task: TaskName?
    public var attemptID: UInt64?
    public var workerID: String?
    public var message: String
}

/// Wall time of one step of the job. `step` is a stage name, with the two
/// merges told apart: "extract", "merge statistics", "train", "merge forests",
/// "evaluate", "save".
public struct StageTiming: Sendable, Hashable {
    public var step: String
    public var startedAt: Timestamp
    public var endedAt: Timestamp?
    public var rows: Int?

    public init(step: String, startedAt: Timestamp, endedAt: Timestamp?, rows: Int?) {
        self.step = step
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.rows = rows
    }
}
