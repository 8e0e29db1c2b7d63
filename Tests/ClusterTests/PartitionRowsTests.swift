import Foundation
import Forest
import SpaceTime
import Testing
@testable import Cluster

/// A worker's parsed partition: rows come back in order, with their labels and
/// lines, whether they stayed in memory or went through the spill file.
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

    private func fill(_ rows: PartitionRows, count: Int, features: Int) throws {
        for i in 0..<count {
            try rows.append(row(i, features: features), label: i % 3 == 0 ? "a" : "b", isTest: i % 5 == 0, line: UInt64(i + 2))
        }
    }

    private func check(_ rows: PartitionRows, count: Int, features: Int) throws {
        var expectedTrain: [Int] = [], expectedTest: [Int] = []
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
        // The array form yields the same rows.
        var n = 0
        try rows.forEach(test: true) { values, _, _ in
            #expect(values == row(expectedTest[n], features: features))
            n += 1
        }
        #expect(n == expectedTest.count)
        #expect(rows.trainCounts.reduce(0, +) == UInt64(expectedTrain.count))
        #expect(rows.testCounts.reduce(0, +) == UInt64(expectedTest.count))
    }

    @Test func rowsInMemoryComeBackInOrder() throws {
        try withSpill { dir in
            let rows = PartitionRows(featureCount: 7, directory: dir, memoryBytes: 64 << 20, chunkBytes: 4096)
            try fill(rows, count: 1_000, features: 7)
            #expect(rows.spilledBytes == 0)
            try check(rows, count: 1_000, features: 7)
        }
    }

    @Test func rowsBeyondTheMemoryShareSpillAndComeBackInOrder() throws {
        try withSpill { dir in
            // ~20,000 rows x 12 features x 8 bytes ≈ 1.9 MB against a 256 KiB share.
            let rows = PartitionRows(featureCount: 12, directory: dir, memoryBytes: 256 << 10, chunkBytes: 8192)
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
            let rows = PartitionRows(featureCount: 3, directory: dir, memoryBytes: 256 << 10, chunkBytes: 1024)
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

/// Binning on several threads gives exactly the builder's partition.
@Suite struct ParallelBinnerTests {
    @Test func binsEqualTheSequentialBuildersWhateverTheThreadCount() throws {
        let features = 5, rows = 10_007
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
        var builder = BinnedPartitionBuilder(extractor: extractor)
        for r in 0..<rows {
            values.withUnsafeBufferPointer { builder.append(UnsafeBufferPointer(rebasing: $0[r * features ..< (r + 1) * features]), label: Int32(r % 2)) }
        }
        let expected = builder.finish()
        for threads in [1, 2, 3] {
            let got = try ParallelBinner.bin(extractor: extractor, rowCount: rows, threads: threads, blockRows: 1000) { append in
                for r in 0..<rows {
                    values.withUnsafeBufferPointer { append(UnsafeBufferPointer(rebasing: $0[r * features ..< (r + 1) * features]), Int32(r % 2)) }
                }
            }
            #expect(got.bins == expected.bins)
            #expect(got.labels == expected.labels)
            #expect(got.rowCount == expected.rowCount && got.featureCount == expected.featureCount)
        }
    }
}
