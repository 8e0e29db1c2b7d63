import Foundation
import GRDB
import Testing

@testable import Cluster

/// Task variants: the key, the split decision, the job store's (kind, partition,
/// variant) tasks and its migration from stores written before variants.
@Suite struct TreeRangeTaskTests {
    private func spec(partitions: Int = 1, trees: Int = 10) -> JobSpec {
        JobSpec(
            jobID: "job-v", dataFiles: ["/data/a.csv"], parameters: Data([1]), seed: 7,
            partitions: partitions, testFraction: 0.2, trees: trees, maxAttempts: 3)
    }

    private func tree(_ p: Int, _ i: Int) -> Data { Data("tree \(p).\(i)".utf8) }

    @Test func variantKeysRoundTripAndNamesReadWell() throws {
        #expect(TaskVariant.whole.key == "")
        #expect(TaskVariant.trees(50..<100).key == "t50-100")
        for v in [TaskVariant.whole, .trees(0..<1), .trees(50..<100)] { #expect(TaskVariant(key: v.key) == v) }
        for bad in ["t", "t5", "t5-5", "t6-5", "t-1-3", "t05-9", "x1-2", "t1-2-3", "whole"] {
            #expect(TaskVariant(key: bad) == nil, "\(bad)")
        }
        #expect(TaskName(.train, 0).description == "train/p0")
        #expect(TaskName(.train, 0, .trees(50..<100)).description == "train/p0.t50-100")
        #expect(TaskName(.train, 0, .trees(50..<100)) > TaskName(.train, 0, .trees(0..<50)))
        #expect(TaskName(.train, 0, .trees(0..<50)) > TaskName(.train, 0))
        #expect(TaskName(.evaluate, 0) > TaskName(.train, 3, .trees(0..<5)))
        // Whole names encode as before (no variant key); ranges round-trip.
        let whole = String(decoding: try JSONEncoder().encode(TaskName(.train, 2)), as: UTF8.self)
        #expect(!whole.contains("variant"))
        let range = TaskName(.train, 2, .trees(3..<9))
        #expect(try JSONDecoder().decode(TaskName.self, from: JSONEncoder().encode(range)) == range)
        #expect(try JSONDecoder().decode(TaskName.self, from: Data(#"{"kind":"train","partition":2}"#.utf8)) == TaskName(.train, 2))
    }

    @Test func foldVariantKeysRoundTripAndSortAfterTreeRanges() throws {
        #expect(TaskVariant.fold(0, trees: 0..<5).key == "f1.t0-5")
        #expect(TaskName(.evaluate, 1, .fold(2, trees: 10..<15)).description == "evaluate/p1.f3.t10-15")
        for v in [TaskVariant.fold(0, trees: 0..<1), .fold(9, trees: 50..<100)] { #expect(TaskVariant(key: v.key) == v) }
        for bad in ["f", "f0.t0-5", "f1", "f1.", "f1.t5-5", "f01.t0-5", "f1t0-5", "f1.x0-5", "f-1.t0-5"] {
            #expect(TaskVariant(key: bad) == nil, "\(bad)")
        }
        #expect(TaskVariant.trees(90..<100) < .fold(0, trees: 0..<5))
        #expect(TaskVariant.fold(0, trees: 5..<10) < .fold(1, trees: 0..<5))
        #expect(TaskVariant.fold(1, trees: 0..<5).fold == 1 && TaskVariant.trees(0..<5).fold == nil)
        #expect(TaskVariant.fold(1, trees: 0..<5).spreadsOverWorkers(.train))
        #expect(!TaskVariant.fold(1, trees: 0..<5).spreadsOverWorkers(.evaluate))
    }

    /// A K-fold job: per partition one extract task, and a train and an evaluate task per
    /// fold over that fold's share of the partition's trees.
    @Test func crossValidationJobHasFoldTasksOverTheirOwnTrees() throws {
        let store = try JobStore()
        var cv = spec(partitions: 2, trees: 10)
        cv.folds = 3
        try store.createJob(cv, now: 0)
        #expect(try store.jobSpec()?.folds == 3)
        #expect(try store.partitions().map(\.trees) == [15, 15])
        let names = try store.tasks().map(\.name)
        #expect(names.filter { $0.kind == .extract } == [TaskName(.extract, 0), TaskName(.extract, 1)])
        for kind in [TaskKind.train, .evaluate] {
            #expect(
                names.filter { $0.kind == kind && $0.partition == 1 }
                    == (0..<3).map { k in TaskName(kind, 1, .fold(k, trees: (k * 5)..<((k + 1) * 5))) })
        }
        #expect(names.count == 2 * (1 + 3 + 3))
        // A fold's train task checkpoints and completes its own range.
        let f2 = TaskName(.train, 0, .fold(1, trees: 5..<10))
        let attempt = try store.beginAttempt(f2, workerID: "w1", leaseDeadline: 99, firstTree: 5, now: 1)
        _ = try store.attemptRunning(attempt, now: 1)
        #expect(throws: JobStoreError.self) { try store.saveTrees(attempt, firstTree: 4, trees: [tree(0, 4)], now: 2) }
        #expect(try store.saveTrees(attempt, firstTree: 5, trees: (5..<10).map { tree(0, $0) }, now: 2) == .applied)
        #expect(try store.completeAttempt(attempt, peakRSS: nil, now: 3) == .applied)
        #expect(try store.task(f2).state == .done)
        #expect(try store.task(TaskName(.train, 0, .fold(0, trees: 0..<5))).state == .pending)
    }

    @Test func splitDecision() {
        let two = [TreeRangeSplit.Worker(id: "w2", cores: 1), .init(id: "w1", cores: 1)]
        let d = TreeRangeSplit.decide(treeShares: [100], workers: two)
        #expect(d.ranges == [0: [0..<50, 50..<100]])
        #expect(d.tasks == 2)
        #expect(d.message.contains("1 partition for 2 workers (w1 1 core, w2 1 core)"), "\(d.message)")
        #expect(d.message.contains("p0's 100 trees in 0..<50, 50..<100"), "\(d.message)")
        // As many partitions as workers, or more: nothing to split.
        #expect(TreeRangeSplit.decide(treeShares: [50, 50], workers: two).ranges.isEmpty)
        #expect(TreeRangeSplit.decide(treeShares: [34, 33, 33], workers: two).ranges.isEmpty)
        #expect(TreeRangeSplit.decide(treeShares: [100], workers: [two[0]]).ranges.isEmpty)
        #expect(TreeRangeSplit.decide(treeShares: [100], workers: []).ranges.isEmpty)
        // 5 workers over 2 partitions: 3 + 2 ranges, uneven shares cut evenly, the first ranges one larger.
        let five = (1...5).map { TreeRangeSplit.Worker(id: "w\($0)", cores: 2) }
        let d5 = TreeRangeSplit.decide(treeShares: [11, 10], workers: five)
        #expect(d5.ranges == [0: [0..<4, 4..<8, 8..<11], 1: [0..<5, 5..<10]])
        #expect(d5.tasks == 5)
        // Never more ranges than trees (or than minimumTreesPerRange allows).
        #expect(TreeRangeSplit.decide(treeShares: [2], workers: five).ranges == [0: [0..<1, 1..<2]])
        #expect(TreeRangeSplit.decide(treeShares: [1], workers: five).ranges.isEmpty)
        #expect(TreeRangeSplit.decide(treeShares: [12], workers: five, minimumTreesPerRange: 4).ranges == [0: [0..<4, 4..<8, 8..<12]])
    }

    /// K·P fold tasks that do not divide evenly over W workers are each cut in
    /// W / gcd(K·P, W) ranges; fold boundaries stay range boundaries.
    @Test func foldSplitDecisionBalancesTheWorkers() {
        let two = [TreeRangeSplit.Worker(id: "w1", cores: 1), .init(id: "w2", cores: 1)]
        let d = TreeRangeSplit.decide(foldLayouts: [100].map { FoldTreeLayout(folds: 5, share: $0) }, workers: two)
        let halves: [Range<Int>] = (0..<10).map { i in (i * 50)..<((i + 1) * 50) }
        #expect(d.ranges == [0: halves])
        #expect(d.tasks == 10)
        #expect(d.message.contains("1 partition × 5 folds for 2 workers"), "\(d.message)")
        #expect(d.message.contains("(p0's 100 trees of each fold in 2 ranges)"), "\(d.message)")
        // 5 folds over 3 workers: 3 ranges per fold, 15 tasks, 5 per worker; uneven shares cut evenly.
        let three = two + [.init(id: "w3", cores: 1)]
        let d3 = TreeRangeSplit.decide(foldLayouts: [10].map { FoldTreeLayout(folds: 5, share: $0) }, workers: three)
        #expect(d3.ranges[0]?.count == 15 && d3.tasks == 15)
        #expect(d3.ranges[0]?.prefix(3) == [0..<4, 4..<7, 7..<10])
        #expect(d3.ranges[0]?.last == 47..<50)
        // K·P a multiple of W (or one worker): already balanced, nothing to split.
        #expect(TreeRangeSplit.decide(foldLayouts: [10, 10].map { FoldTreeLayout(folds: 5, share: $0) }, workers: two).ranges.isEmpty)
        #expect(TreeRangeSplit.decide(foldLayouts: [10, 10, 10].map { FoldTreeLayout(folds: 5, share: $0) }, workers: three).ranges.isEmpty)
        #expect(TreeRangeSplit.decide(foldLayouts: [10].map { FoldTreeLayout(folds: 5, share: $0) }, workers: [two[0]]).ranges.isEmpty)
        // Two folds over four workers: 2 ranges per fold; never more ranges than trees.
        let four = three + [.init(id: "w4", cores: 1)]
        #expect(
            TreeRangeSplit.decide(foldLayouts: [6].map { FoldTreeLayout(folds: 2, share: $0) }, workers: four).ranges == [
                0: [0..<3, 3..<6, 6..<9, 9..<12]
            ])
        #expect(TreeRangeSplit.decide(foldLayouts: [1].map { FoldTreeLayout(folds: 3, share: $0) }, workers: two).ranges.isEmpty)
    }

    /// Splitting a fold job's partition cuts every fold task in the ranges inside its own
    /// range; the fold's tasks then checkpoint and complete those ranges only.
    @Test func foldTasksSplitInsideTheirFold() throws {
        let store = try JobStore()
        var cv = spec(partitions: 1, trees: 4)
        cv.folds = 2
        try store.createJob(cv, now: 0)
        // A range across the fold boundary (tree 4) is refused.
        #expect(throws: JobStoreError.self) { try store.splitTrainTask(partition: 0, into: [0..<3, 3..<6, 6..<8], now: 1) }
        #expect(try store.splitTrainTask(partition: 0, into: [0..<2, 2..<4, 4..<6, 6..<8], now: 1))
        let names = try store.tasks().filter { $0.name.kind == .train }.map(\.name).sorted()
        #expect(
            names == [
                TaskName(.train, 0, .fold(0, trees: 0..<2)), TaskName(.train, 0, .fold(0, trees: 2..<4)),
                TaskName(.train, 0, .fold(1, trees: 4..<6)), TaskName(.train, 0, .fold(1, trees: 6..<8))
            ])
        #expect(try store.tasks().filter { $0.name.kind == .evaluate }.count == 2)
        #expect(try store.events().contains { $0.kind == .tasksSplit && $0.message.contains("train/p0.f2.t6-8") })
        let last = TaskName(.train, 0, .fold(1, trees: 6..<8))
        let attempt = try store.beginAttempt(last, workerID: "w1", leaseDeadline: 99, firstTree: 6, now: 2)
        _ = try store.attemptRunning(attempt, now: 2)
        #expect(throws: JobStoreError.self) { try store.saveTrees(attempt, firstTree: 4, trees: [tree(0, 4)], now: 3) }
        #expect(try store.saveTrees(attempt, firstTree: 6, trees: [tree(0, 6), tree(0, 7)], now: 3) == .applied)
        #expect(try store.completeAttempt(attempt, peakRSS: nil, now: 4) == .applied)
        #expect(try store.task(last).state == .done)
        #expect(try store.task(TaskName(.train, 0, .fold(1, trees: 4..<6))).state == .pending)
        // The rule both the store and the engine follow: only tasks as the job created them split.
        #expect(
            TaskVariant.areUnsplitTrainTasks([.fold(0, trees: 0..<4), .fold(1, trees: 4..<8)], layout: FoldTreeLayout(folds: 2, share: 4)))
        #expect(
            !TaskVariant.areUnsplitTrainTasks([.fold(0, trees: 0..<2), .fold(0, trees: 2..<4)], layout: FoldTreeLayout(folds: 2, share: 2)))
        #expect(
            !TaskVariant.areUnsplitTrainTasks([.fold(1, trees: 4..<8), .fold(0, trees: 0..<4)], layout: FoldTreeLayout(folds: 2, share: 4)))
        #expect(TaskVariant.areUnsplitTrainTasks([.whole], layout: nil))
        #expect(
            !TaskVariant.areUnsplitTrainTasks([.trees(0..<8)], layout: nil)
                && !TaskVariant.areUnsplitTrainTasks([], layout: FoldTreeLayout(folds: 2, share: 4)))
        // Once split (or attempted), a partition is not split again.
        #expect(try !store.splitTrainTask(partition: 0, into: [0..<1, 1..<2, 2..<4, 4..<6, 6..<8], now: 5))
    }

    /// The fold layout every reader of a CV job's tree indices shares: fold k's block is
    /// k·s ..< (k+1)·s, and an index outside the K blocks belongs to no fold.
    @Test func foldTreeLayoutPlacesEachFoldsBlock() {
        let layout = FoldTreeLayout(folds: 3, share: 4)
        #expect(layout.share == 4 && layout.partitionTrees == 12 && layout.points == 1)
        #expect(layout.trees(ofFold: 1) == 4..<8)
        #expect([0, 3, 4, 11].map { layout.fold(ofTree: $0) } == [0, 0, 1, 2])
        #expect(layout.fold(ofTree: 12) == nil && layout.fold(ofTree: -1) == nil)
        #expect(layout.variants.map(\.key) == ["f1.t0-4", "f2.t4-8", "f3.t8-12"])
        #expect(FoldTreeLayout(folds: 2, share: 0).fold(ofTree: 0) == nil)
    }

    /// A grid's points take point-major blocks: point g's fold k starts after every earlier
    /// point's K blocks; the first point's variants keep the keys of a job without a grid.
    @Test func gridLayoutPlacesEachPointsFoldBlocks() {
        let layout = FoldTreeLayout(folds: 2, shares: [3, 5])
        #expect(layout.points == 2 && layout.partitionTrees == 16)
        #expect(layout.trees(ofFold: 1, point: 0) == 3..<6)
        #expect(layout.trees(ofFold: 0, point: 1) == 6..<11 && layout.trees(ofFold: 1, point: 1) == 11..<16)
        #expect(layout.block(ofTree: 5) == .init(point: 0, fold: 1))
        #expect(layout.block(ofTree: 6) == .init(point: 1, fold: 0))
        #expect(layout.block(ofTree: 15) == .init(point: 1, fold: 1))
        #expect(layout.block(ofTree: 16) == nil)
        #expect(layout.variants.map(\.key) == ["f1.t0-3", "f2.t3-6", "g2.f1.t6-11", "g2.f2.t11-16"])
        #expect(layout.variants.map(\.point) == [0, 0, 1, 1])
        for v in layout.variants { #expect(TaskVariant(key: v.key) == v) }
        #expect(TaskVariant(key: "g1.f1.t0-3") == nil, "the first point has no g part")
        #expect(TaskVariant(key: "g02.f1.t0-3") == nil && TaskVariant(key: "g2.t0-3") == nil)
        #expect(TaskVariant.fold(1, trees: 3..<6) < .fold(0, trees: 6..<11, point: 1))
        // Partition p's shares of each point's trees, as a training job shares a forest.
        let p1 = FoldTreeLayout.partition(1, of: 3, folds: 5, pointTrees: [10, 4])
        #expect(p1.shares == [3, 1] && p1.partitionTrees == 20)
        // The range split cuts every (point, fold) block in as many ranges and counts G·K·P tasks.
        let three = (1...3).map { TreeRangeSplit.Worker(id: "w\($0)", cores: 1) }
        let d = TreeRangeSplit.decide(foldLayouts: [FoldTreeLayout(folds: 2, shares: [3, 6])], workers: three)
        #expect(d.tasks == 12)
        #expect(d.ranges[0] == [0..<1, 1..<2, 2..<3, 3..<4, 4..<5, 5..<6, 6..<8, 8..<10, 10..<12, 12..<14, 14..<16, 16..<18])
        #expect(d.message.contains("1 partition × 2 folds × 2 points"), "\(d.message)")
        let even = TreeRangeSplit.decide(foldLayouts: [FoldTreeLayout(folds: 3, shares: [2, 2])], workers: three)
        #expect(even.ranges.isEmpty && even.tasks == 6)
    }

    /// A grid job's store: one extract task per partition, and a train and an evaluate task
    /// per (partition, point, fold); splitting keeps each task's point.
    @Test func gridJobHasOneExtractTaskPerPartition() throws {
        let store = try JobStore()
        var cv = spec(partitions: 2, trees: 4)
        cv.folds = 3
        cv.pointTrees = [4, 6, 2, 8]
        try store.createJob(cv, now: 0)
        let tasks = try store.tasks()
        #expect(tasks.filter { $0.name.kind == .extract }.map(\.name.partition).sorted() == [0, 1])
        #expect(tasks.filter { $0.name.kind == .train }.count == 2 * 4 * 3)
        #expect(tasks.filter { $0.name.kind == .evaluate }.count == 2 * 4 * 3)
        #expect(try store.partitions().map(\.trees) == [3 * (2 + 3 + 1 + 4), 3 * (2 + 3 + 1 + 4)])
        #expect(tasks.contains { $0.name == TaskName(.train, 1, .fold(2, trees: 26..<30, point: 3)) })
        #expect(try store.splitTrainTask(partition: 0, into: (0..<30).map { $0..<($0 + 1) }, now: 1))
        let split = try store.tasks().filter { $0.name.kind == .train && $0.name.partition == 0 }
        #expect(split.count == 30)
        #expect(
            split.filter { $0.name.variant.point == 3 && $0.name.variant.fold == 2 }.compactMap(\.name.variant.treeRange) == [
                26..<27, 27..<28, 28..<29, 29..<30
            ])
        var tooFew = spec(partitions: 3, trees: 4)
        tooFew.folds = 2
        tooFew.pointTrees = [4, 2]
        #expect(throws: JobStoreError.self) { try JobStore().createJob(tooFew, now: 0) }
    }

    @Test func splitTasksCheckpointAndCompleteTheirOwnRange() throws {
        let store = try JobStore()
        try store.createJob(spec(), now: 0)
        let whole = try store.task(TaskName(.train, 0))
        #expect(try store.splitTrainTask(partition: 0, into: [0..<4, 4..<10], now: 1))
        let a = TaskName(.train, 0, .trees(0..<4))
        let b = TaskName(.train, 0, .trees(4..<10))
        #expect(try store.tasks().filter { $0.name.kind == .train }.map(\.name) == [a, b])
        #expect(try store.task(a).id == whole.id)
        #expect(throws: JobStoreError.self) { try store.task(TaskName(.train, 0)) }
        #expect(try store.events(kind: .tasksSplit).map(\.message) == ["train/p0 split in 2 tree ranges: train/p0.t0-4, train/p0.t4-10"])
        // Not again: the task is no longer whole.
        #expect(try !store.splitTrainTask(partition: 0, into: [0..<5, 5..<10], now: 2))

        let attempt = try store.beginAttempt(b, workerID: "w2", leaseDeadline: 99, firstTree: 4, now: 3)
        _ = try store.attemptRunning(attempt, now: 3)
        // Trees outside the range are refused.
        #expect(throws: JobStoreError.self) { try store.saveTrees(attempt, firstTree: 3, trees: [tree(0, 3)], now: 4) }
        #expect(throws: JobStoreError.self) { try store.saveTrees(attempt, firstTree: 9, trees: [tree(0, 9), tree(0, 10)], now: 4) }
        #expect(try store.saveTrees(attempt, firstTree: 4, trees: [tree(0, 4), tree(0, 5)], now: 4) == .applied)
        #expect(try store.firstMissingTree(partition: 0, in: 4..<10) == 6)
        #expect(try store.firstMissingTree(partition: 0, in: 0..<4) == 0)
        #expect(try store.firstMissingTree(partition: 0) == 0)
        #expect(throws: JobStoreError.self) { try store.completeAttempt(attempt, peakRSS: nil, now: 5) }
        _ = try store.saveTrees(attempt, firstTree: 6, trees: (6..<10).map { tree(0, $0) }, now: 6)
        #expect(try store.completeAttempt(attempt, peakRSS: nil, now: 7) == .applied)
        #expect(try store.task(b).state == .done)
        #expect(try store.task(a).state == .pending)
        #expect(try store.checkpointedTreeCount(partition: 0, in: 0..<10) == 6)
        #expect(try store.events().contains { $0.task == b && $0.kind == .attemptDone })
    }

    @Test func splitRefusesAttemptedTasksAndBadRanges() throws {
        let store = try JobStore()
        try store.createJob(spec(partitions: 2), now: 0)
        #expect(throws: JobStoreError.self) { try store.splitTrainTask(partition: 0, into: [0..<2, 3..<5], now: 1) }
        #expect(throws: JobStoreError.self) { try store.splitTrainTask(partition: 0, into: [0..<2, 2..<4], now: 1) }
        #expect(throws: JobStoreError.self) { try store.splitTrainTask(partition: 0, into: [0..<5], now: 1) }
        let attempt = try store.beginAttempt(TaskName(.train, 1), workerID: "w1", leaseDeadline: 9, firstTree: 0, now: 1)
        _ = try store.failAttempt(attempt, outcome: .lost, reason: "gone", peakRSS: nil, now: 2)
        #expect(try !store.splitTrainTask(partition: 1, into: [0..<2, 2..<5], now: 3))
        #expect(try store.tasks().filter { $0.name.kind == .train }.map(\.name) == [TaskName(.train, 0), TaskName(.train, 1)])
    }

    /// A store written before task variants (schema up to "v2 rss samples", tasks unique
    /// on (kind, partition)) opens, is migrated, and its job resumes where it was.
    @Test func storeFromBeforeVariantsOpensAndResumes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("variants-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("job.sqlite").path
        do {
            let old = try DatabaseQueue(path: path)
            try JobStore.migrator.migrate(old, upTo: "v2 rss samples")
            try old.write { db in
                try db.execute(
                    sql: "INSERT INTO job (id, job_id, spec, stage, created_at) VALUES (1, 'job-v', ?, 'train', 0)",
                    arguments: [try JobStore.json(spec(partitions: 2, trees: 6))])
                try db.execute(sql: "INSERT INTO partitions (partition, trees, train_rows, test_rows) VALUES (0, 3, 8, 2), (1, 3, 8, 2)")
                var id = 1
                for p in 0..<2 {
                    for kind in ["extract", "train", "evaluate"] {
                        let state = kind == "extract" ? "done" : (kind == "train" && p == 0 ? "running" : "pending")
                        try db.execute(
                            sql: "INSERT INTO tasks (id, kind, partition, state, current_attempt) VALUES (?, ?, ?, ?, ?)",
                            arguments: [id, kind, p, state, kind == "train" && p == 0 ? 1 : nil])
                        id += 1
                    }
                }
                try db.execute(
                    sql: "INSERT INTO attempts (id, task_id, worker_id, started_at, running_at, first_tree) VALUES (1, 2, 'w1', 1, 1, 0)")
                try db.execute(sql: "INSERT INTO leases (attempt_id, worker_id, deadline) VALUES (1, 'w1', 30)")
                try db.execute(sql: "INSERT INTO trees (partition, tree_index, attempt_id, tree) VALUES (0, 0, 1, x'01'), (0, 1, 1, x'02')")
                try db.execute(
                    sql:
                        "INSERT INTO events (at, kind, task_kind, partition, attempt_id, worker_id, message) VALUES (1, 'attemptStarted', 'train', 0, 1, 'w1', 'old')"
                )
            }
        }
        let store = try JobStore(path: path)
        let tasks = try store.tasks()
        #expect(tasks.count == 6)
        #expect(tasks.allSatisfy { $0.name.variant == .whole })
        #expect(try store.task(TaskName(.train, 0)).id == 2)
        #expect(try store.events().first?.task == TaskName(.train, 0))
        // The resume: the running attempt is abandoned, the task reruns from its first missing tree.
        let abandoned = try store.abandonActiveAttempts(reason: "coordinator restarted", now: 40)
        #expect(abandoned.map(\.task) == [TaskName(.train, 0)])
        #expect(try store.firstMissingTree(partition: 0, in: 0..<3) == 2)
        let rerun = try store.beginAttempt(TaskName(.train, 0), workerID: "w2", leaseDeadline: 90, firstTree: 2, now: 41)
        #expect(rerun == 2)
        _ = try store.attemptRunning(rerun, now: 41)
        _ = try store.saveTrees(rerun, firstTree: 2, trees: [Data([3])], now: 42)
        #expect(try store.completeAttempt(rerun, peakRSS: nil, now: 43) == .applied)
        #expect(try store.attempts(of: TaskName(.train, 0)).map(\.id) == [1, 2])
        // Its other whole train task can still be split (never attempted).
        #expect(try store.splitTrainTask(partition: 1, into: [0..<2, 2..<3], now: 44))
        // Reopening a migrated store migrates nothing again.
        let reopened = try JobStore(path: path)
        #expect(try reopened.tasks().count == 7)
        #expect(try JobStore(readOnlyPath: path).tasks().map(\.name).contains(TaskName(.train, 1, .trees(2..<3))))
    }

    @Test func schedulerRunsBothRangesAtOnceTheHolderFromItsSpill() {
        typealias S = Scheduler
        let scheduler = Scheduler(configuration: .init(localityWait: 5))
        let share = 100
        let views = [
            S.TaskView(name: TaskName(.extract, 0), state: .done),
            S.TaskView(name: TaskName(.train, 0, .trees(50..<100)), state: .pending, firstMissingTree: 50, treesInPartition: share),
            S.TaskView(name: TaskName(.train, 0, .trees(0..<50)), state: .pending, firstMissingTree: 0, treesInPartition: share),
            S.TaskView(name: TaskName(.evaluate, 0), state: .pending)
        ]
        let gates = S.Gates(produced: [.extractor])
        // The holder sorts last: it takes the first range from its spill, the other worker the second at once (no locality wait).
        for holder in ["w1", "w2"] {
            let plan = scheduler.plan(
                tasks: views, workers: [S.WorkerView(id: "w1", memoryLimit: 512 << 20), S.WorkerView(id: "w2", memoryLimit: 512 << 20)],
                holders: [0: S.SpillHolder(workerID: holder, extractAttemptID: 9)], gates: gates, now: 0)
            #expect(plan.stage == .train)
            let byWorker = Dictionary(uniqueKeysWithValues: plan.assignments.map { ($0.workerID, $0) })
            #expect(byWorker.count == 2)
            #expect(byWorker[holder]?.task == TaskName(.train, 0, .trees(0..<50)))
            #expect(byWorker[holder]?.source == .localSpill(extractAttemptID: 9))
            let other = holder == "w1" ? "w2" : "w1"
            #expect(byWorker[other]?.task == TaskName(.train, 0, .trees(50..<100)))
            #expect(byWorker[other]?.source == .streamed)
            #expect(byWorker[other]?.firstTree == 50)
            #expect(byWorker[other]?.note == "train/p0.t50-100 starts on \(other), rows streamed again")
        }
        // A whole task still waits for its busy holder.
        let wholeViews = [
            S.TaskView(name: TaskName(.train, 0), state: .pending, treesInPartition: share),
            S.TaskView(name: TaskName(.train, 1), state: .pending, readySince: 0, treesInPartition: share)
        ]
        let busy = scheduler.plan(
            tasks: wholeViews,
            workers: [
                S.WorkerView(id: "w1", memoryLimit: 512 << 20, running: [TaskName(.train, 0)]),
                S.WorkerView(id: "w2", memoryLimit: 512 << 20)
            ],
            holders: [0: S.SpillHolder(workerID: "w1", extractAttemptID: 9), 1: S.SpillHolder(workerID: "w1", extractAttemptID: 9)],
            gates: gates, now: 1)
        #expect(busy.assignments.isEmpty)
    }

    /// A worker holding a copy of a partition's spill reads fold tasks from it like the
    /// extract's worker; with both holders busy a whole task waits, and with the extract's
    /// worker gone the copy still serves the partition.
    @Test func schedulerReadsACopyOfTheSpillLikeTheSpill() {
        typealias S = Scheduler
        let scheduler = Scheduler(configuration: .init(localityWait: 5))
        let gates = S.Gates(produced: [.extractor])
        let views = [
            S.TaskView(name: TaskName(.extract, 0), state: .done),
            S.TaskView(name: TaskName(.train, 0, .fold(0, trees: 0..<5)), state: .done, firstMissingTree: 5, treesInPartition: 10),
            S.TaskView(name: TaskName(.train, 0, .fold(1, trees: 5..<10)), state: .pending, firstMissingTree: 5, treesInPartition: 10)
        ]
        let copy = S.SpillHolder(workerID: "w1", extractAttemptID: 9, copies: ["w2"])
        let onCopy = scheduler.plan(
            tasks: views,
            workers: [
                S.WorkerView(id: "w1", memoryLimit: 512 << 20, running: [TaskName(.extract, 1)]),
                S.WorkerView(id: "w2", memoryLimit: 512 << 20)
            ],
            holders: [0: copy], gates: gates, now: 0)
        #expect(onCopy.assignments.map(\.workerID) == ["w2"])
        #expect(onCopy.assignments.first?.source == .localSpill(extractAttemptID: 9))
        #expect(onCopy.assignments.first?.note == "train/p0.f2.t5-10 starts on w2, rows from its spill")
        // Only the copy is left: it serves the partition from its spill.
        let gone = scheduler.plan(
            tasks: views, workers: [S.WorkerView(id: "w2", memoryLimit: 512 << 20)],
            holders: [0: S.SpillHolder(workerID: "w2", extractAttemptID: 9)], gates: gates, now: 0)
        #expect(gone.assignments.first?.source == .localSpill(extractAttemptID: 9))
        // Both holders busy: a whole task waits for one of them, a third worker does not take it.
        let whole = [S.TaskView(name: TaskName(.train, 0), state: .pending, readySince: 0, treesInPartition: 10)]
        let waits = scheduler.plan(
            tasks: whole,
            workers: [
                S.WorkerView(id: "w1", memoryLimit: 512 << 20, running: [TaskName(.train, 1)]),
                S.WorkerView(id: "w2", memoryLimit: 512 << 20, running: [TaskName(.train, 2)]),
                S.WorkerView(id: "w3", memoryLimit: 512 << 20)
            ],
            holders: [0: copy], gates: gates, now: 1)
        #expect(waits.assignments.isEmpty)
    }

    @Test func schedulerResumesARangeAtItsFirstMissingTreeAndCompletesFullRanges() {
        typealias S = Scheduler
        let scheduler = Scheduler()
        let views = [
            S.TaskView(
                name: TaskName(.train, 0, .trees(0..<50)), state: .lost, failures: 1, failedOn: ["w1"],
                firstMissingTree: 50, treesInPartition: 100),
            S.TaskView(
                name: TaskName(.train, 0, .trees(50..<100)), state: .lost, failures: 1, failedOn: ["w1"],
                firstMissingTree: 73, treesInPartition: 100)
        ]
        let plan = scheduler.plan(
            tasks: views, workers: [S.WorkerView(id: "w2", memoryLimit: 512 << 20)], holders: [:],
            gates: S.Gates(produced: [.extractor]), now: 0)
        #expect(plan.completeFromCheckpoints == [TaskName(.train, 0, .trees(0..<50))])
        #expect(plan.assignments.map(\.task) == [TaskName(.train, 0, .trees(50..<100))])
        #expect(plan.assignments.first?.firstTree == 73)
        #expect(
            plan.assignments.first?.note == "train/p0.t50-100 resumed at tree 73 of 50..<100 on w2 (attempt 2 of 3), rows streamed again")
    }
}
