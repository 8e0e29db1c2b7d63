import Foundation
import Testing

@testable import SpaceTime

@Suite struct StratifiedAssignerTests {
    /// Class proportions per partition match the whole within ±1% (absolute) for classes of
    /// ≥ 1,000 rows, for shuffled and label-sorted streams; test fraction per class is exact.
    @Test(arguments: [false, true])
    func proportionsPerPartition(sortedByLabel: Bool) throws {
        var rng = SeededRandom(seed: 11)
        var labels: [String] = []
        for (c, n) in [("a", 20_000), ("b", 5_000), ("c", 1_000), ("rare", 37)] { labels += Array(repeating: c, count: n) }
        if !sortedByLabel { labels.shuffle(using: &rng) }
        var a = try StratifiedAssigner(seed: 42, testFraction: 0.2, partitions: 7)
        var counts: [Int: [String: Int]] = [:]
        var tests: [String: Int] = [:]
        var totals: [String: Int] = [:]
        var testPerPartition: [Int: [String: Int]] = [:]
        for l in labels {
            let r = a.assign(classKey: l)
            totals[l, default: 0] += 1
            if r.isTest {
                tests[l, default: 0] += 1
                testPerPartition[r.partition, default: [:]][l, default: 0] += 1
            }
            counts[r.partition, default: [:]][l, default: 0] += 1
            #expect(r.partition >= 0 && r.partition < 7)
        }
        for (c, n) in totals where n >= 1000 {
            #expect(abs(Double(tests[c]!) - 0.2 * Double(n)) <= 1, "\(c)")
            for p in 0..<7 {
                let size = counts[p]!.values.reduce(0, +)
                let whole = Double(n) / Double(labels.count)
                #expect(abs(Double(counts[p]![c] ?? 0) / Double(size) - whole) < 0.01)
                // Train and test rows are each spread evenly over partitions.
                #expect(abs(Double(testPerPartition[p]![c] ?? 0) - Double(tests[c]!) / 7) <= 1)
            }
        }
    }

    /// In a label-sorted file, the rows of one class that land in a partition are spread over the
    /// class's whole range (a random sample), not a contiguous slice.
    @Test func sortedFileGivesRandomSamplesOfEachClass() throws {
        var a = try StratifiedAssigner(seed: 1, testFraction: 0.25, partitions: 4)
        var positions: [Int: [Int]] = [:]
        for i in 0..<10_000 { positions[a.assign(classKey: "x").partition, default: []].append(i) }
        for (_, pos) in positions {
            let mean = Double(pos.reduce(0, +)) / Double(pos.count)
            #expect(abs(mean - 5_000) < 150)
            #expect(pos.first! < 50 && pos.last! > 9_950)
        }
        // Positions within blocks are random: partition 0 does not always get the same offset.
        let offsets = Set(positions[0]!.map { $0 % 4 })
        #expect(offsets.count == 4)
    }

    @Test func deterministicAndSeedSensitive() throws {
        let labels = (0..<5000).map { "c\($0 % 3)" }
        func run(_ seed: UInt64) throws -> [Assignment] {
            var a = try StratifiedAssigner(seed: seed, testFraction: 0.3, partitions: 5)
            return labels.map { a.assign(classKey: $0) }
        }
        #expect(try run(7) == run(7))
        #expect(try run(7) != run(8))
        var b = try StratifiedAssigner(seed: 7, testFraction: 0.3, partitions: 5)
        let viaBytes = labels.map { l in Array(l.utf8).withUnsafeBytes { b.assign(classBytes: $0) } }
        #expect(try viaBytes == run(7))
    }

    @Test func foldsAreBalancedPerClass() throws {
        var f = try StratifiedFoldAssigner(seed: 3, folds: 5)
        var counts: [String: [Int]] = [:]
        for i in 0..<10_003 {
            let c = i % 10 == 0 ? "minor" : "major"
            counts[c, default: Array(repeating: 0, count: 5)][f.fold(classKey: c)] += 1
        }
        for (_, perFold) in counts { #expect(perFold.max()! - perFold.min()! <= 1) }
    }

    @Test func rejectsBadParameters() {
        #expect(throws: SamplingError.self) { _ = try StratifiedAssigner(seed: 1, testFraction: 1.0) }
        #expect(throws: SamplingError.self) { _ = try StratifiedAssigner(seed: 1, testFraction: -0.1) }
        #expect(throws: SamplingError.self) { _ = try StratifiedAssigner(seed: 1, testFraction: 0.1, partitions: 0) }
        #expect(throws: SamplingError.self) { _ = try StratifiedFoldAssigner(seed: 1, folds: 1) }
    }
}
