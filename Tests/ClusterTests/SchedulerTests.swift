import SpaceTime
import Testing

@testable import Cluster

@Suite struct SchedulerTests {
    typealias S = Scheduler
    let scheduler = Scheduler(
        configuration: .init(
            maxAttempts: 3, extractTaskBytes: 32 << 20, workerBaselineBytes: 48 << 20,
            maxExtractTasksPerWorker: 64, localityWait: 5))

    func tasks(
        partitions: Int, extract: TaskState = .pending, train: TaskState = .pending,
        evaluate: TaskState = .pending, share: Int = 10
    ) -> [S.TaskView] {
        (0..<partitions).flatMap { p in
            [
                S.TaskView(name: TaskName(.extract, p), state: extract),
                S.TaskView(name: TaskName(.train, p), state: train, treesInPartition: share),
                S.TaskView(name: TaskName(.evaluate, p), state: evaluate)
            ]
        }
    }

    func workers(_ ids: [String], limit: UInt64 = 512 << 20) -> [S.WorkerView] {
        ids.map { S.WorkerView(id: $0, memoryLimit: limit) }
    }

    @Test func stagesFollowTheBarriers() {
        let g0 = S.Gates()
        let g1 = S.Gates(produced: [.extractor])
        let g2 = S.Gates(produced: [.extractor, .model])
        #expect(scheduler.stage(tasks: tasks(partitions: 2), gates: g0) == .extract)
        var t = tasks(partitions: 2, extract: .done)
        t[0].state = .running
        #expect(scheduler.stage(tasks: t, gates: g1) == .extract, "one extract still running")
        #expect(scheduler.stage(tasks: tasks(partitions: 2, extract: .done), gates: g0) == .merge)
        #expect(scheduler.stage(tasks: tasks(partitions: 2, extract: .done), gates: g1) == .train)
        #expect(scheduler.stage(tasks: tasks(partitions: 2, extract: .done, train: .done), gates: g1) == .merge)
        #expect(scheduler.stage(tasks: tasks(partitions: 2, extract: .done, train: .done), gates: g2) == .evaluate)
        #expect(scheduler.stage(tasks: tasks(partitions: 2, extract: .done, train: .done, evaluate: .done), gates: g2) == .save)
        var failed = tasks(partitions: 2, extract: .done)
        failed[1].state = .failed
        #expect(scheduler.stage(tasks: failed, gates: g1) == .failed)
    }

    @Test func noTrainTaskBeforeTheExtractorIsMerged() {
        let plan = scheduler.plan(
            tasks: tasks(partitions: 3, extract: .done), workers: workers(["w1", "w2"]),
            holders: [:], gates: S.Gates(), now: 0)
        #expect(plan.stage == .merge)
        #expect(plan.assignments.isEmpty)
    }

    @Test func extractTasksAllLeasedAtOnceSpreadOverWorkers() {
        // 512 MiB - 48 MiB baseline = 464 MiB → 14 extract slots per worker
        #expect(scheduler.capacity(memoryLimit: 512 << 20, kind: .extract) == 14)
        #expect(scheduler.capacity(memoryLimit: 16 << 20, kind: .extract) == 1)
        #expect(scheduler.capacity(memoryLimit: 512 << 20, kind: .train) == 1)
        let plan = scheduler.plan(tasks: tasks(partitions: 6), workers: workers(["w2", "w1"]), holders: [:], gates: S.Gates(), now: 0)
        #expect(plan.stage == .extract)
        #expect(plan.assignments.map(\.task.partition) == [0, 1, 2, 3, 4, 5])
        #expect(plan.assignments.map(\.workerID) == ["w1", "w2", "w1", "w2", "w1", "w2"])
        #expect(plan.assignments.allSatisfy { $0.source == .streamed && $0.firstTree == nil })
    }

    @Test func extractCapacityIsBoundedByMemory() {
        let plan = scheduler.plan(
            tasks: tasks(partitions: 10), workers: workers(["w1"], limit: 128 << 20),
            holders: [:], gates: S.Gates(), now: 0)
        #expect(plan.assignments.count == 2)  // (128 - 48) / 32
    }

    @Test func trainPrefersTheWorkerHoldingThePartition() {
        let holders: [Int: S.SpillHolder] = [
            0: .init(workerID: "w2", extractAttemptID: 11),
            1: .init(workerID: "w1", extractAttemptID: 12)
        ]
        let plan = scheduler.plan(
            tasks: tasks(partitions: 2, extract: .done), workers: workers(["w1", "w2"]),
            holders: holders, gates: S.Gates(produced: [.extractor]), now: 0)
        #expect(plan.stage == .train)
        #expect(Set(plan.assignments.map { "\($0.task)@\($0.workerID)" }) == ["train/p0@w2", "train/p1@w1"])
        #expect(plan.assignments.first { $0.task.partition == 0 }?.source == .localSpill(extractAttemptID: 11))
        #expect(plan.assignments.allSatisfy { $0.firstTree == 0 })
        #expect(plan.assignments.first { $0.task.partition == 1 }?.note == "train/p1 starts on w1, rows from its spill")
    }

    @Test func trainWaitsForABusyHolderThenRunsElsewhere() {
        let holders: [Int: S.SpillHolder] = [
            0: .init(workerID: "w1", extractAttemptID: 1),
            1: .init(workerID: "w1", extractAttemptID: 2)
        ]
        var t = tasks(partitions: 2, extract: .done)
        t[1].state = .running  // train/p0 runs on w1
        let ws = [
            S.WorkerView(id: "w1", memoryLimit: 512 << 20, running: [TaskName(.train, 0)]),
            S.WorkerView(id: "w2", memoryLimit: 512 << 20)
        ]
        for i in t.indices where t[i].name == TaskName(.train, 1) { t[i].readySince = 100 }
        let early = scheduler.plan(tasks: t, workers: ws, holders: holders, gates: S.Gates(produced: [.extractor]), now: 104)
        #expect(early.assignments.isEmpty, "w2 idles while train/p1 waits for its holder")
        let late = scheduler.plan(tasks: t, workers: ws, holders: holders, gates: S.Gates(produced: [.extractor]), now: 105)
        #expect(late.assignments.map(\.workerID) == ["w2"])
        #expect(late.assignments.first?.source == .streamed)
        #expect(late.assignments.first?.note == "train/p1 starts on w2, rows streamed again")
    }

    @Test func holderGoneMeansStreamedElsewhereAtOnce() {
        let holders: [Int: S.SpillHolder] = [0: .init(workerID: "w9", extractAttemptID: 1)]
        let plan = scheduler.plan(
            tasks: tasks(partitions: 1, extract: .done), workers: workers(["w1"]), holders: holders,
            gates: S.Gates(produced: [.extractor]), now: 0)
        #expect(plan.assignments.map(\.workerID) == ["w1"])
        #expect(plan.assignments.first?.source == .streamed)
    }

    @Test func idleHolderIsNotBypassed() {
        let holders: [Int: S.SpillHolder] = [0: .init(workerID: "w2", extractAttemptID: 1)]
        let plan = scheduler.plan(
            tasks: tasks(partitions: 1, extract: .done), workers: workers(["w1", "w2"]), holders: holders,
            gates: S.Gates(produced: [.extractor]), now: 1000)
        #expect(plan.assignments.map(\.workerID) == ["w2"])
    }

    @Test func resumedTrainStartsAtFirstMissingTree() throws {
        var t = tasks(partitions: 2, extract: .done, share: 13)
        for i in t.indices where t[i].name == TaskName(.train, 1) {
            t[i].state = .lost
            t[i].failures = 1
            t[i].firstMissingTree = 7
            t[i].failedOn = ["w2"]
        }
        for i in t.indices where t[i].name == TaskName(.train, 0) { t[i].state = .done }
        let plan = scheduler.plan(
            tasks: t, workers: workers(["w2", "w3"]), holders: [1: .init(workerID: "w2", extractAttemptID: 4)],
            gates: S.Gates(produced: [.extractor]), now: 0)
        let d = try #require(plan.assignments.first)
        #expect(plan.assignments.count == 1)
        #expect(d.workerID == "w3", "the retry avoids w2 where it failed, even though w2 holds the spill")
        #expect(d.firstTree == 7)
        #expect(d.note == "train/p1 resumed at tree 7 of 13 on w3 (attempt 2 of 3), rows streamed again")
    }

    @Test func retryGoesBackToAFailedWorkerWhenNoOtherExists() {
        var t = tasks(partitions: 1)
        t[0].state = .lost
        t[0].failures = 1
        t[0].failedOn = ["w1"]
        let plan = scheduler.plan(tasks: t, workers: workers(["w1"]), holders: [:], gates: S.Gates(), now: 0)
        #expect(plan.assignments.map(\.workerID) == ["w1"])
    }

    @Test func fullyCheckpointedTrainTaskCompletesWithoutAWorker() {
        var t = tasks(partitions: 2, extract: .done, share: 5)
        for i in t.indices where t[i].name == TaskName(.train, 0) { t[i].firstMissingTree = 5 }
        let plan = scheduler.plan(tasks: t, workers: workers(["w1"]), holders: [:], gates: S.Gates(produced: [.extractor]), now: 0)
        #expect(plan.completeFromCheckpoints == [TaskName(.train, 0)])
        #expect(plan.assignments.map(\.task) == [TaskName(.train, 1)])
    }

    @Test func busyOrDrainingWorkersGetNothing() {
        var ws = workers(["w1", "w2"])
        ws[0].accepting = false
        ws[1].running = [TaskName(.evaluate, 0)]
        var t = tasks(partitions: 2, extract: .done, train: .done)
        t[2].state = .running
        let plan = scheduler.plan(tasks: t, workers: ws, holders: [:], gates: S.Gates(produced: [.extractor, .model]), now: 0)
        #expect(plan.stage == .evaluate)
        #expect(plan.assignments.isEmpty)
    }

    @Test func failedJobSaysWhatHappened() {
        var t = tasks(partitions: 4, extract: .done)
        for i in t.indices where t[i].name == TaskName(.train, 3) {
            t[i].state = .failed
            t[i].failures = 3
        }
        let last = AttemptFailure(.killed(signal: 9), workerID: "w2", pid: 4121, peakRSS: 498 << 20, memoryLimit: 512 << 20)
        let plan = scheduler.plan(
            tasks: t, workers: workers(["w1"]), holders: [:], gates: S.Gates(produced: [.extractor]),
            lastFailures: [TaskName(.train, 3): last], now: 0)
        #expect(plan.stage == .failed)
        #expect(plan.assignments.isEmpty)
        #expect(plan.failure == "train/p3 failed 3 times: worker w2 (pid 4121) was killed by signal 9 at 498 MiB of its 512 MiB limit")
    }

    @Test func failureDescriptions() {
        #expect(
            AttemptFailure(.silent(seconds: 9), workerID: "w3", pid: 77).description
                == "worker w3 (pid 77) stopped responding (no heartbeat for 9.0 s)")
        let bad = AttemptFailure(
            .reported(TaskFailure(.badInput, "data.csv line 12, column 3: \"abc\" is not a number")),
            workerID: "w1")
        #expect(!bad.retryable)
        #expect(
            scheduler.failureMessage(task: TaskName(.extract, 0), failures: 1, last: bad)
                == "extract/p0 failed: worker w1 reported: data.csv line 12, column 3: \"abc\" is not a number")
        #expect(AttemptFailure(.refused(message: "needs ~700 MiB"), workerID: "w1", memoryLimit: 512 << 20).retryable)
        #expect(scheduler.failureMessage(task: TaskName(.train, 1), failures: 2, last: nil) == "train/p1 failed 2 times")
    }
}
