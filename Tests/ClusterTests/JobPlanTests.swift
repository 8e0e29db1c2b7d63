import Foundation
import Testing

@testable import Cluster

/// The job plan as data: the current step from tasks and artifacts, step names and stages,
/// and the scheduler following whichever plan its configuration holds.
@Suite struct JobPlanTests {
    typealias S = Scheduler

    func views(_ states: [(TaskKind, Int, TaskState)]) -> [S.TaskView] {
        states.map { S.TaskView(name: TaskName($0.0, $0.1), state: $0.2) }
    }

    @Test func trainingStepsFollowTasksAndArtifacts() {
        let plan = JobPlan.training
        #expect(plan.taskKinds == [.extract, .train, .evaluate])
        #expect(plan.steps.map(\.description) == ["extract", "merge statistics", "train", "merge forests", "evaluate", "save"])
        #expect(plan.steps.map(\.stage) == [.extract, .merge, .train, .merge, .evaluate, .save])

        let extracting = views([(.extract, 0, .done), (.extract, 1, .running), (.train, 0, .pending)])
        #expect(plan.currentStep(tasks: extracting, artifacts: []) == .run(.extract, .byName))
        let extracted = views([(.extract, 0, .done), (.extract, 1, .done), (.train, 0, .pending)])
        #expect(plan.currentStep(tasks: extracted, artifacts: []) == .produce(.extractor, .mergeStatistics))
        #expect(plan.currentStep(tasks: extracted, artifacts: [.extractor]) == .run(.train, .byName))
        let trained = views([(.extract, 0, .done), (.train, 0, .done), (.evaluate, 0, .pending)])
        #expect(plan.currentStep(tasks: trained, artifacts: [.extractor]) == .produce(.model, .mergeForests))
        #expect(plan.currentStep(tasks: trained, artifacts: [.extractor, .model]) == .run(.evaluate, .byName))
        let evaluated = views([(.extract, 0, .done), (.train, 0, .done), (.evaluate, 0, .done)])
        #expect(plan.currentStep(tasks: evaluated, artifacts: [.extractor, .model]) == .save)
    }

    /// Cross-validation is a plan of its own: the training stages, merging fold artifacts. Its
    /// artifacts are in the store under one name per fold; a job spec with folds picks it.
    @Test func crossValidationPlanMergesFoldArtifacts() throws {
        let plan = JobPlan.crossValidation
        #expect(plan.taskKinds == [.extract, .train, .evaluate])
        #expect(
            plan.steps.map(\.description) == ["extract", "merge fold statistics", "train", "merge fold forests", "evaluate", "save"])
        let extracted = views([(.extract, 0, .done), (.train, 0, .pending)])
        #expect(plan.currentStep(tasks: extracted, artifacts: [.extractor]) == .produce(.foldExtractors, .mergeFoldStatistics))
        #expect(plan.currentStep(tasks: extracted, artifacts: [.foldExtractors]) == .run(.train, .byName))
        #expect(JobArtifact.foldModels.storeNames(folds: 3) == ["model-f1", "model-f2", "model-f3"])
        #expect(JobArtifact.extractor.storeNames(folds: 3) == ["extractor"])

        let store = try JobStore()
        var spec = JobSpec(jobID: "j", dataFiles: ["d.csv"], parameters: Data(), seed: 1, partitions: 1, testFraction: 0, trees: 4)
        #expect(JobPlan.of(spec) == .training)
        spec.folds = 2
        #expect(JobPlan.of(spec) == .crossValidation)
        try store.createJob(spec, now: 0)
        try store.putArtifact("extractor-f1", Data([1]), now: 1)
        #expect(try plan.storedArtifacts(in: store, folds: 2).isEmpty, "one fold's extractor is not the artifact")
        try store.putArtifact("extractor-f2", Data([2]), now: 1)
        #expect(try plan.storedArtifacts(in: store, folds: 2) == [.foldExtractors])
        try store.putArtifact("model", Data([3]), now: 1)
        #expect(try JobPlan.training.storedArtifacts(in: store, folds: 0) == [.model])
    }

    @Test func aPlanIgnoresKindsItDoesNotRun() {
        let predictOnly = views([(.predict, 0, .done), (.predict, 1, .pending)])
        #expect(JobPlan.prediction.currentStep(tasks: predictOnly, artifacts: []) == .run(.predict, .variantMajor))
        // A training plan does not run predict tasks: with none of its own, it waits for its first artifact.
        #expect(JobPlan.training.currentStep(tasks: predictOnly, artifacts: []) == .produce(.extractor, .mergeStatistics))
        let predicted = views([(.predict, 0, .done), (.predict, 1, .done)])
        #expect(JobPlan.prediction.currentStep(tasks: predicted, artifacts: []) == .save)
    }

    /// A plan declared as data drives the scheduler: here extract → merge statistics → train →
    /// save, without the training plan's evaluate stage.
    @Test func theSchedulerFollowsADeclaredPlan() {
        let plan = JobPlan(steps: [.run(.extract, .byName), .produce(.extractor, .mergeStatistics), .run(.train, .byName), .save])
        let scheduler = Scheduler(configuration: .init(plan: plan))
        let workers = [S.WorkerView(id: "w1", memoryLimit: 512 << 20)]
        var tasks = [
            S.TaskView(name: TaskName(.extract, 0), state: .done),
            S.TaskView(name: TaskName(.train, 0), state: .pending, treesInPartition: 4)
        ]
        var step = scheduler.plan(tasks: tasks, workers: workers, holders: [:], gates: S.Gates(), now: 0)
        #expect(step.stage == .merge && step.step.description == "merge statistics" && step.assignments.isEmpty)
        step = scheduler.plan(tasks: tasks, workers: workers, holders: [:], gates: S.Gates(produced: [.extractor]), now: 0)
        #expect(step.stage == .train && step.assignments.map(\.task) == [TaskName(.train, 0)])
        tasks[1].state = .done
        step = scheduler.plan(tasks: tasks, workers: workers, holders: [:], gates: S.Gates(produced: [.extractor]), now: 0)
        #expect(step.stage == .save && step.step == .save, "no model merge or evaluate in this plan")
    }

    @Test func taskOrderComesFromTheStep() {
        let names = [
            TaskName(.predict, 0, .trees(0..<4)), TaskName(.predict, 0, .trees(4..<8)),
            TaskName(.predict, 1, .trees(0..<4)), TaskName(.predict, 1, .trees(4..<8))
        ]
        let tasks = names.map { S.TaskView(name: $0, state: .pending) }
        let workers = [S.WorkerView(id: "w1", memoryLimit: 512 << 20), S.WorkerView(id: "w2", memoryLimit: 512 << 20)]
        let variantMajor = Scheduler(configuration: .init(plan: .prediction))
            .plan(tasks: tasks, workers: workers, holders: [:], gates: S.Gates(), now: 0)
        #expect(variantMajor.assignments.map(\.task.description) == ["predict/p0.t0-4", "predict/p1.t0-4"])
        let byName = Scheduler(configuration: .init(plan: JobPlan(steps: [.run(.predict, .byName), .save])))
            .plan(tasks: tasks, workers: workers, holders: [:], gates: S.Gates(), now: 0)
        #expect(byName.assignments.map(\.task.description) == ["predict/p0.t0-4", "predict/p0.t4-8"])
    }
}
