import Testing

@testable import Cluster

@Suite struct PartitionPlannerTests {
    typealias Input = PartitionPlanner.Input

    @Test func smallDataIsOnePartition() {
        let plan = PartitionPlanner.plan(
            Input(
                dataBytes: 5 << 20, sampleBytesPerRow: 500, features: 50, histogramWordsPerBin: 2,
                memoryLimit: 512 << 20))
        #expect(plan.partitions == 1)
        #expect(plan.fits)
        #expect(plan.workingSetBytes <= plan.budgetBytes)
    }

    @Test func scaleRunSplitsSoEachPartitionFitsTheLimit() {
        // ~5 GB, 10M rows × 50 features, 512 MiB workers: the scale run
        let input = Input(dataBytes: 5_000_000_000, sampleBytesPerRow: 500, features: 50, histogramWordsPerBin: 2, memoryLimit: 512 << 20)
        let plan = PartitionPlanner.plan(input)
        #expect(plan.fits)
        #expect(plan.estimatedRows >= 10_000_000)
        #expect(plan.workingSetBytes <= plan.budgetBytes)
        let perRow = PartitionPlanner.bytesPerTrainingRow(features: 50)
        #expect(perRow == 66)
        // the partition count is the smallest that fits: one fewer would not
        let fewer = PartitionPlanner.plan(
            Input(
                dataBytes: input.dataBytes, sampleBytesPerRow: 500, features: 50, histogramWordsPerBin: 2,
                memoryLimit: 512 << 20, override: plan.partitions - 1))
        #expect(!fewer.fits)
        #expect(plan.partitions > 1 && plan.partitions < 64)
    }

    @Test func moreMemoryFewerPartitionsAndCountIgnoresWorkers() {
        func partitions(_ limit: UInt64) -> Int {
            PartitionPlanner.plan(
                Input(
                    dataBytes: 2_000_000_000, sampleBytesPerRow: 400, features: 100, histogramWordsPerBin: 3,
                    memoryLimit: limit)
            ).partitions
        }
        #expect(partitions(256 << 20) > partitions(1 << 30))
        #expect(partitions(1 << 30) >= partitions(8 << 30))
        // Input has no worker count: the plan cannot depend on it.
    }

    @Test func overrideWinsAndSaysWhenItDoesNotFit() {
        let ok = PartitionPlanner.plan(
            Input(
                dataBytes: 100 << 20, sampleBytesPerRow: 200, features: 10, histogramWordsPerBin: 2,
                memoryLimit: 512 << 20, override: 7))
        #expect(ok.partitions == 7 && ok.fits && ok.message == nil)
        let tooFew = PartitionPlanner.plan(
            Input(
                dataBytes: 50_000_000_000, sampleBytesPerRow: 200, features: 10, histogramWordsPerBin: 2,
                memoryLimit: 512 << 20, override: 2))
        #expect(tooFew.partitions == 2 && !tooFew.fits)
        #expect(tooFew.message?.hasPrefix("--partitions 2 gives") == true)
    }

    @Test func limitTooSmallIsReported() {
        let plan = PartitionPlanner.plan(
            Input(
                dataBytes: 1 << 20, sampleBytesPerRow: 100, features: 5000, histogramWordsPerBin: 10,
                memoryLimit: 64 << 20))
        #expect(!plan.fits)
        #expect(plan.message?.contains("raise --memory-limit") == true)
    }

    @Test func histogramMemoryDependsOnShapeNotRows() {
        let h = PartitionPlanner.histogramBytes(features: 50, histogramWordsPerBin: 2, threads: 2)
        #expect(h == 50 * 256 * 2 * 8 * 3 * 2)
        // the task's cell size scales the histograms; fewer than 2 words are sized as 2
        #expect(PartitionPlanner.histogramBytes(features: 50, histogramWordsPerBin: 5, threads: 2) == 50 * 256 * 5 * 8 * 3 * 2)
        #expect(PartitionPlanner.histogramBytes(features: 50, histogramWordsPerBin: 1, threads: 2) == h)
        #expect(PartitionPlanner.histogramBytes(features: 50, histogramWordsPerBin: 0, threads: 2) == h)
    }

    @Test func theTreesInFlightCountInThePartitionWorkingSet() {
        var model = PartitionPlanner.Model()
        model.treeBytesPerTrainingRow = 0
        let input = Input(
            dataBytes: 5_000_000_000, sampleBytesPerRow: 500, features: 50, histogramWordsPerBin: 2,
            memoryLimit: 512 << 20, threadsPerWorker: 8)
        let without = PartitionPlanner.plan(input, model: model)
        let with = PartitionPlanner.plan(input)
        #expect(with.fits && with.workingSetBytes <= with.budgetBytes)
        #expect(with.partitions > without.partitions, "trees grown on a partition's rows make it smaller")
        // 2 threads' trees + 1 checkpointed, at 4.5 B per training row each
        #expect(PartitionPlanner.treesInFlight(threads: 2, checkpointEvery: 1) == 3)
        #expect(PartitionPlanner.treeBytes(rows: 1_000_000) == 4_500_000)
    }

    @Test func treeSharesAreEvenAndDeterministic() {
        #expect(PartitionPlanner.treeShares(trees: 100, partitions: 3) == [34, 33, 33])
        #expect(PartitionPlanner.treeShares(trees: 4, partitions: 4) == [1, 1, 1, 1])
        #expect(PartitionPlanner.treeShares(trees: 100, partitions: 7).reduce(0, +) == 100)
        #expect(PartitionPlanner.treeShares(trees: 5, partitions: 0) == [])
    }
}
