import Forest
import Foundation
import Testing

@testable import Cluster

/// `--resume` rules without processes: which flags count as given, which model flags
/// conflict with the job's, and what the store does to a failed job on a resume.
@Suite struct ResumeRulesTests {
    static func jobParameters() -> ForestJobParameters {
        var forest = ForestParameters()
        forest.trees = 4
        forest.seed = 42
        forest.maxDepth = 8
        let schema = DatasetSchema(
            header: ["a", "zip", "id", "y"], targetIndex: 3, task: .classification,
            featureIndices: [0, 1], featureKinds: [.numeric, .categorical])
        return ForestJobParameters(forest: forest, schema: schema, maxBins: 255)
    }

    static let spec = JobSpec(
        jobID: "job-7", dataFiles: ["d.csv"], parameters: Data(), seed: 42, partitions: 2,
        testFraction: 0.2, trees: 4, maxAttempts: 3)

    func conflicts(
        _ change: (inout ForestParameters, inout ColumnChoices) -> Void, given: Set<String>?,
        maxBins: Int = 255, partitions: Int? = nil, testFraction: Double = 0.2
    ) -> [String] {
        var forest = Self.jobParameters().forest
        var columns = ColumnChoices()
        change(&forest, &columns)
        return ResumeRules.conflicts(
            stored: Self.jobParameters(), spec: Self.spec, hasTestFile: false, forest: forest,
            maxBins: maxBins, partitions: partitions, testFraction: testFraction,
            columns: columns, given: given
        ).map(\.description)
    }

    @Test func givenFlagsAreTheLongOptionsOnTheCommandLine() {
        let given = ResumeRules.givenFlags([
            "spacetime", "local", "d.csv", "--trees", "6", "--seed=3", "-o", "x", "--resume",
            "--", "--max-depth"
        ])
        #expect(given == ["trees", "seed", "resume"])
    }

    @Test func sameValuesAndFlagsLeftOutDoNotConflict() {
        #expect(conflicts({ _, _ in }, given: nil).isEmpty, "the job's own values")
        // Defaults differ from the job's (trees 100, no depth limit) but were not given.
        #expect(
            conflicts(
                { f, _ in
                    f.trees = 100
                    f.maxDepth = nil
                }, given: ["workers", "memory-limit", "resume"]
            ).isEmpty)
    }

    @Test func eachChangedModelFlagIsNamedWithBothValues() {
        let found = conflicts(
            { f, c in
                f.trees = 6
                f.seed = 1
                f.maxDepth = nil
                f.minSamplesLeaf = 3
                f.bootstrap = false
                c.target = "id"
                c.task = .regression
                c.categorical = ["a"]
                c.ignore = ["zip"]
            },
            given: [
                "trees", "seed", "max-depth", "min-samples-leaf", "no-bootstrap", "label", "task", "categorical", "ignore",
                "max-bins", "partitions", "test-fraction"
            ], maxBins: 64, partitions: 3, testFraction: 0.3)
        #expect(
            found == [
                "--trees 6 (the job's: 4)", "--seed 1 (the job's: 42)", "--max-depth unlimited (the job's: 8)",
                "--min-samples-leaf 3 (the job's: 1)", "--no-bootstrap no bootstrap (the job's: bootstrap)",
                "--max-bins 64 (the job's: 255)", "--partitions 3 (the job's: 2)", "--test-fraction 0.3 (the job's: 0.2)",
                "--label `id` (the job's: `y`)", "--task regression (the job's: classification)",
                "--categorical `a` (the job's: not categorical in the job)", "--ignore `zip` (the job's: read by the job)"
            ])
        let message = ResumeRules.refusal(jobID: "job-7", conflicts: [.init(flag: "--trees", given: "6", job: "4")])
        #expect(message.contains("job job-7 was created with other model parameters") && message.contains("--trees 6 (the job's: 4)"))
    }

    @Test func columnChoicesMatchingTheJobsSchemaDoNotConflict() {
        #expect(
            conflicts(
                { _, c in
                    c.target = "y"
                    c.task = .classification
                    c.categorical = ["zip"]
                    c.ignore = ["id"]
                },
                given: ["label", "task", "categorical", "ignore"]
            ).isEmpty)
        #expect(conflicts({ _, c in c.task = .auto }, given: ["task"]).isEmpty, "auto decided classification")
    }

    /// A job failed at evaluate (every tree checkpointed): a resume revives it at the merge,
    /// the failed tasks pending with a fresh budget, the trees and finished tasks kept.
    @Test func aFailedJobIsRevivedWithItsCheckpointedWork() throws {
        let store = try JobStore()
        try store.createJob(
            JobSpec(
                jobID: "j", dataFiles: ["d"], parameters: Data([1]), seed: 1, partitions: 1,
                testFraction: 0.2, trees: 2, maxAttempts: 2), now: 0)
        let e = try store.beginAttempt(TaskName(.extract, 0), workerID: "w1", leaseDeadline: 99, now: 1)
        _ = try store.attemptRunning(e, now: 1)
        _ = try store.saveExtractCheckpoint(e, stats: Data([7]), counts: PartitionCounts(trainRows: 8, testRows: 2), now: 1)
        _ = try store.completeAttempt(e, peakRSS: nil, now: 2)
        try store.putArtifact("extractor", Data([1]), now: 2)
        let t = try store.beginAttempt(TaskName(.train, 0), workerID: "w1", leaseDeadline: 99, firstTree: 0, now: 3)
        _ = try store.attemptRunning(t, now: 3)
        _ = try store.saveTrees(t, firstTree: 0, trees: [Data("t0".utf8), Data("t1".utf8)], now: 4)
        _ = try store.completeAttempt(t, peakRSS: nil, now: 5)
        for n in 0..<2 {
            let a = try store.beginAttempt(TaskName(.evaluate, 0), workerID: "w1", leaseDeadline: 99, now: Double(6 + n))
            try store.failAttempt(a, outcome: .failed, reason: "needs ~62 MiB", peakRSS: nil, now: Double(6 + n))
        }
        try store.failJob("evaluate/p0 failed 2 times: needs ~62 MiB", now: 9)
        #expect(try store.task(TaskName(.evaluate, 0)).state == .failed)

        var seen: [TaskRecord] = []
        let failure = try store.resetForResume(
            stage: { tasks in
                seen = tasks
                return .merge
            }, now: 10)
        #expect(failure == "evaluate/p0 failed 2 times: needs ~62 MiB")
        #expect(seen.first { $0.name == TaskName(.evaluate, 0) }?.state == .pending, "the stage is derived after the reset")
        #expect(try store.stage() == .merge)
        #expect(try store.failure() == nil)
        let evaluate = try store.task(TaskName(.evaluate, 0))
        #expect(evaluate.state == .pending && evaluate.failures == 0)
        #expect(try store.task(TaskName(.train, 0)).state == .done)
        #expect(try store.checkpointedTrees(partition: 0) == [0, 1])
        #expect(try store.events(kind: .resumed).last?.message.contains("failed job resumed at stage merge") == true)
        // A job that had not failed keeps its stage; unfinished tasks get a fresh budget.
        #expect(try store.resetForResume(stage: { _ in .extract }, now: 11) == nil)
        #expect(try store.stage() == .merge)
    }

    @Test func aResumeCanTakeANewSpec() throws {
        let store = try JobStore()
        try store.createJob(Self.spec, now: 0)
        var spec = Self.spec
        spec.maxAttempts = 5
        spec.dataFiles = ["moved.csv"]
        try store.updateJobSpec(spec, note: "resumed with --max-attempts 5 (was 3)", now: 1)
        #expect(try store.jobSpec() == spec)
        #expect(try store.events(kind: .resumed).map(\.message) == ["resumed with --max-attempts 5 (was 3)"])
    }
}
