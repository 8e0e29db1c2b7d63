/// A merged result the coordinator produces between two stages and keeps in the job store.
public enum JobArtifact: String, Sendable, Hashable, CaseIterable {
    /// The feature extractor merged from every partition's statistics.
    case extractor
    /// The forest merged from every partition's trees.
    case model
    /// A cross-validation job's extractor per fold, each merged from the other folds' statistics.
    case foldExtractors = "fold extractors"
    /// A cross-validation job's forest per fold, merged from every partition's trees of that fold.
    case foldModels = "fold models"

    /// The names the artifact is kept under in the job store, for a job of `folds` folds
    /// (0: not a cross-validation job, which has no fold artifacts) and `points` grid points.
    public func storeNames(folds: Int, points: Int = 1) -> [String] {
        switch self {
        case .extractor: ["extractor"]
        case .model: ["model"]
        case .foldExtractors: (0..<folds).map(Self.foldExtractorName)
        case .foldModels: (0..<max(1, points)).flatMap { g in (0..<folds).map { Self.foldModelName($0, point: g) } }
        }
    }

    /// Fold k's (0-based) extractor: `extractor-f<k+1>`.
    public static func foldExtractorName(_ k: Int) -> String { "extractor-f\(k + 1)" }

    /// The model of grid point g's fold k (both 0-based): `model-f<k+1>` for the first
    /// point (the only one without a grid), `model-g<g+1>-f<k+1>` for the others.
    public static func foldModelName(_ k: Int, point g: Int = 0) -> String {
        (g == 0 ? "model-" : "model-g\(g + 1)-") + "f\(k + 1)"
    }
}

/// Work the coordinator does itself between two stages of workers' tasks.
public enum CoordinatorStep: String, Sendable, Hashable, CaseIterable {
    /// Merge the partitions' statistics into the extractor.
    case mergeStatistics = "merge statistics"
    /// Merge the partitions' trees into the model.
    case mergeForests = "merge forests"
    /// Merge the partitions' per-fold statistics into one extractor per fold.
    case mergeFoldStatistics = "merge fold statistics"
    /// Merge the partitions' trees of each fold into that fold's model.
    case mergeFoldForests = "merge fold forests"
}

/// The order in which a stage's pending tasks are offered to the workers.
public enum TaskOrder: Sendable, Hashable {
    /// By task name: partition, then variant.
    case byName
    /// By variant, then partition: every block's first tree slice, then the next, so that a
    /// worker mostly keeps its slice of the model loaded while it takes the next block.
    case variantMajor
}

/// A job's shape as data: its steps in order. Workers' steps run every task of one kind and
/// end at a barrier (the next step starts when all of them are done); coordinator steps produce
/// an artifact; the last step saves the output. The scheduler reads the plan for the job's
/// stage and for which tasks to offer; the engine reads it for the timing step's name; a driver
/// declares the plan its job follows.
public struct JobPlan: Sendable, Hashable {
    public enum Step: Sendable, Hashable, CustomStringConvertible {
        /// Workers run every task of this kind, offered in this order.
        case run(TaskKind, TaskOrder)
        /// The coordinator produces the artifact.
        case produce(JobArtifact, CoordinatorStep)
        /// The coordinator writes the job's output (model file, prediction file).
        case save

        /// The stage `spacetime status` shows for the step.
        public var stage: JobStage {
            switch self {
            case .run(let kind, _): kind.stage
            case .produce: .merge
            case .save: .save
            }
        }

        /// The step's name in the job's timing table and the progress display: the task kind,
        /// the coordinator step ("merge statistics"), or "save".
        public var description: String {
            switch self {
            case .run(let kind, _): kind.rawValue
            case .produce(_, let step): step.rawValue
            case .save: "save"
            }
        }

        /// The task kind workers run in this step, if any.
        public var taskKind: TaskKind? {
            if case .run(let kind, _) = self { return kind }
            return nil
        }
    }

    /// The steps in order; the last is `save`.
    public let steps: [Step]

    public init(steps: [Step]) {
        self.steps = steps
    }

    /// Training: extract → merge statistics → train → merge forests → evaluate → save.
    public static let training = JobPlan(steps: [
        .run(.extract, .byName), .produce(.extractor, .mergeStatistics),
        .run(.train, .byName), .produce(.model, .mergeForests),
        .run(.evaluate, .byName), .save
    ])

    /// Cross-validation (`cv --workers`, `--bind`): extract (statistics per fold) → merge fold
    /// statistics → train (fold tasks) → merge fold forests → evaluate (each fold's rows) → save
    /// (the per-fold metrics).
    public static let crossValidation = JobPlan(steps: [
        .run(.extract, .byName), .produce(.foldExtractors, .mergeFoldStatistics),
        .run(.train, .byName), .produce(.foldModels, .mergeFoldForests),
        .run(.evaluate, .byName), .save
    ])

    /// The plan of a job: cross-validation when it has folds, else training.
    public static func of(_ spec: JobSpec) -> JobPlan { spec.folds == nil ? .training : .crossValidation }

    /// The artifacts of this plan's `produce` steps that `store` holds (for a job of `folds` folds).
    public func storedArtifacts(in store: JobStore, folds: Int, points: Int = 1) throws -> Set<JobArtifact> {
        var held: Set<JobArtifact> = []
        for case .produce(let artifact, _) in steps {
            let names = artifact.storeNames(folds: folds, points: points)
            if try !names.isEmpty && names.allSatisfy({ try store.artifactSize($0) != nil }) { held.insert(artifact) }
        }
        return held
    }

    /// Prediction and `transform --workers`: predict (blocks × tree slices) → save (concatenate the parts).
    public static let prediction = JobPlan(steps: [.run(.predict, .variantMajor), .save])

    /// The task kinds the plan runs, in order.
    public var taskKinds: [TaskKind] { steps.compactMap(\.taskKind) }

    /// The step the job is at: the first whose work is not complete (a task of its kind not
    /// done, or its artifact not produced); the last step when every earlier one is. Tasks of
    /// kinds the plan does not run are ignored.
    public func currentStep(tasks: [Scheduler.TaskView], artifacts: Set<JobArtifact>) -> Step {
        for step in steps {
            switch step {
            case .run(let kind, _):
                if tasks.contains(where: { $0.name.kind == kind && $0.state != .done }) { return step }
            case .produce(let artifact, _):
                if !artifacts.contains(artifact) { return step }
            case .save:
                return step
            }
        }
        return .save
    }
}

extension TaskKind {
    /// The stage in which workers run tasks of this kind.
    public var stage: JobStage {
        switch self {
        case .extract: .extract
        case .train: .train
        case .evaluate: .evaluate
        case .predict: .predict
        }
    }

    /// Whether a task of this kind scores rows with a merged model (or a tree slice of one):
    /// its assignment carries the model blob.
    public var scoresWithModel: Bool { self == .evaluate || self == .predict }

    /// Whether a task of this kind sends its outputs as prediction batches, under the
    /// coordinator's credit, before its `done`.
    public var streamsPredictions: Bool { self == .predict }

    /// Whether a task of this kind reads a partition's rows, either from the spill of the worker
    /// that extracted it or streamed again (extract tasks read the file; predict tasks get blocks).
    public var readsPartitionRows: Bool { self == .train || self == .evaluate }

    /// Whether a task of this kind takes the rows of the coordinator's pass over the input file.
    public var readsInputFile: Bool { !readsPartitionRows }
}
