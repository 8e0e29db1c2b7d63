import Forest
import Foundation
import SpaceTime
import Testing

@testable import Cluster

/// A worker's parsed partition (Forest's `PartitionRowStore`): rows come back in order,
/// with their labels and lines, whether they stayed in memory or went through the spill file.
@Suite struct PartitionRowsTests {
    private func withSpill(_ body: (SpillDirectory) throws -> Void) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("partition-rows-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let directory = try SpillDirectory(base: base)
        defer { directory.remove() }
        try body(directory)
    }

    private func row(_ i: Int, features: Int) -> [Double] {
        (0..<features).map { Double(i) * 1000 + Double($0) + 0.25 }
    }

    private func fill(_ rows: PartitionRowStore, count: Int, features: Int) throws {
        for i in 0..<count {
            try row(i, features: features).withUnsafeBufferPointer {
                try rows.append($0, label: i % 3 == 0 ? "a" : "b", isTest: i % 5 == 0, line: UInt64(i + 2))
            }
        }
    }

    private func check(_ rows: PartitionRowStore, count: Int, features: Int) throws {
        var expectedTrain: [Int] = []
        var expectedTest: [Int] = []
        for i in 0..<count { if i % 5 == 0 { expectedTest.append(i) } else { expectedTrain.append(i) } }
        #expect(rows.trainCount == expectedTrain.count)
        #expect(rows.testCount == expectedTest.count)
        for (isTest, expected) in [(false, expectedTrain), (true, expectedTest)] {
            var k = 0
            try rows.forEachRow(test: isTest) { values, label, line in
                let i = expected[k]
                #expect(Array(values) == row(i, features: features))
                #expect(rows.labelTexts[Int(label)] == (i % 3 == 0 ? "a" : "b"))
                #expect(line == (isTest ? UInt64(i + 2) : 0))
                k += 1
            }
            #expect(k == expected.count)
        }
        #expect(rows.trainCounts.reduce(0, +) == UInt64(expectedTrain.count))
        #expect(rows.testCounts.reduce(0, +) == UInt64(expectedTest.count))
    }

    @Test func rowsInMemoryComeBackInOrder() throws {
        try withSpill { dir in
            let rows = PartitionRowStore(featureCount: 7, task: .classification, directory: dir, memoryBytes: 64 << 20, chunkBytes: 4096)
            try fill(rows, count: 1_000, features: 7)
            #expect(rows.spilledBytes == 0)
            try check(rows, count: 1_000, features: 7)
        }
    }

    @Test func rowsBeyondTheMemoryShareSpillAndComeBackInOrder() throws {
        try withSpill { dir in
            // ~20,000 rows x 12 features x 8 bytes ≈ 1.9 MB against a 256 KiB share.
            let rows = PartitionRowStore(featureCount: 12, task: .classification, directory: dir, memoryBytes: 256 << 10, chunkBytes: 8192)
            try fill(rows, count: 20_000, features: 12)
            #expect(rows.spilledBytes > 0)
            try check(rows, count: 20_000, features: 12)
            // Read twice: reading does not consume.
            try check(rows, count: 20_000, features: 12)
        }
    }

    @Test func anErrorFromTheBodyStopsTheWalkAndPropagates() throws {
        struct Stop: Error {}
        try withSpill { dir in
            let rows = PartitionRowStore(featureCount: 3, task: .classification, directory: dir, memoryBytes: 256 << 10, chunkBytes: 1024)
            try fill(rows, count: 5_000, features: 3)
            var seen = 0
            #expect(throws: Stop.self) {
                try rows.forEachRow(test: false) { _, _, _ in
                    seen += 1
                    if seen == 100 { throw Stop() }
                }
            }
            #expect(seen == 100)
        }
    }
}

extension PartitionRowsTests {
    /// Regression rows keep their target values (spilled or not) and the training targets' moments.
    @Test func regressionRowsKeepTheirValues() throws {
        try withSpill { dir in
            let rows = PartitionRowStore(featureCount: 4, task: .regression, directory: dir, memoryBytes: 256 << 10, chunkBytes: 2048)
            var moments = FeatureStatistics()
            for i in 0..<12_000 {
                let y = Double(i) * 0.5 - 7
                try row(i, features: 4).withUnsafeBufferPointer { try rows.append($0, value: y, isTest: i % 4 == 0, line: UInt64(i + 2)) }
                if i % 4 != 0 { moments.add(y) }
            }
            #expect(rows.spilledBytes > 0)
            for isTest in [false, true] {
                var expected = (0..<12_000).filter { ($0 % 4 == 0) == isTest }.makeIterator()
                try rows.forEachRow(test: isTest) { values, target, line in
                    let i = expected.next()!
                    #expect(Array(values) == row(i, features: 4))
                    #expect(target == Double(i) * 0.5 - 7)
                    #expect(line == (isTest ? UInt64(i + 2) : 0))
                }
                #expect(expected.next() == nil)
            }
            #expect(rows.targetSummary == .moments(moments))
        }
    }
}

/// Binning on several threads gives exactly the extractor's bin of every value.
@Suite struct ParallelBinnerTests {
    @Test func binsEqualTheExtractorsWhateverTheThreadCount() throws {
        let features = 5
        let rows = 10_007
        var state = PartialExtractorState(featureNames: (0..<features).map { "f\($0)" })
        var values: [Double] = []
        var rng = SystemRandomNumberGenerator()
        for r in 0..<rows {
            var row = (0..<features).map { _ in Double(Int.random(in: -500...500, using: &rng)) / 7 }
            if r % 97 == 0 { row[r % features] = .nan }
            state.add(row, label: r % 2 == 0 ? "a" : "b")
            values += row
        }
        let extractor = try FeatureExtractor.fit(from: state, inputNames: state.featureNames, derivationIdentifier: "", maxBins: 64)
        var expected = [UInt8](repeating: 0, count: rows * features)
        for r in 0..<rows { for f in 0..<features { expected[f * rows + r] = extractor.bin(values[r * features + f], feature: f) } }
        let labels = (0..<rows).map { Int32($0 % 2) }
        #expect(extractor.transform(rowMajor: values, labels: labels).bins == expected)
        for threads in [1, 2, 3] {
            let got = FeatureBinner.bin(extractor: extractor, rowCount: rows, threads: threads, blockRows: 1000) { append in
                for r in 0..<rows {
                    values.withUnsafeBufferPointer {
                        append(UnsafeBufferPointer(rebasing: $0[r * features..<(r + 1) * features]), Double(r % 2))
                    }
                }
            }
            #expect(got.bins == expected)
            #expect(got.labels == labels)
            #expect(got.rowCount == rows && got.featureCount == features)
        }
    }
}
