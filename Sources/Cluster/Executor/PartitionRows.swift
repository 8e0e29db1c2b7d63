import Foundation
import SpaceTime

/// One partition's parsed rows on a worker, kept in the spill directory
/// (LZ4-compressed blocks via `SpillableArray`) between extraction and the
/// train / evaluate tasks that run on the same worker: values row-major as
/// Float64, labels as interned ids, test rows with their file lines.
/// Filled on one thread, then read-only.
final class PartitionRows: @unchecked Sendable {
    let featureCount: Int
    private let trainValues: SpillableArray<Double>
    private let trainLabels: SpillableArray<Int32>
    private let testValues: SpillableArray<Double>
    private let testLabels: SpillableArray<Int32>
    private let testLines: SpillableArray<UInt64>
    private(set) var labelTexts: [String] = []
    private var labelIDs: [String: Int32] = [:]
    /// Per label id: training and test rows.
    private(set) var trainCounts: [UInt64] = []
    private(set) var testCounts: [UInt64] = []
    var trainCount: Int { trainLabels.count }
    var testCount: Int { testLabels.count }

    /// `memoryBytes`: in-memory bytes for all five arrays together (the rest spills).
    init(featureCount: Int, directory: SpillDirectory, memoryBytes: Int) {
        self.featureCount = featureCount
        let share = max(64 << 10, memoryBytes / 8)
        trainValues = SpillableArray(memoryLimit: share * 3, directory: directory)
        testValues = SpillableArray(memoryLimit: share, directory: directory)
        trainLabels = SpillableArray(memoryLimit: share / 2, directory: directory)
        testLabels = SpillableArray(memoryLimit: share / 2, directory: directory)
        testLines = SpillableArray(memoryLimit: share / 2, directory: directory)
    }

    deinit { close() }

    func close() {
        trainValues.close()
        trainLabels.close()
        testValues.close()
        testLabels.close()
        testLines.close()
    }

    private func intern(_ label: String) -> Int32 {
        if let id = labelIDs[label] { return id }
        let id = Int32(labelTexts.count)
        labelIDs[label] = id
        labelTexts.append(label)
        trainCounts.append(0)
        testCounts.append(0)
        return id
    }

    func append(_ values: [Double], label: String, isTest: Bool, line: UInt64) throws(SpillError) {
        let id = intern(label)
        if isTest {
            try testValues.append(contentsOf: values)
            try testLabels.append(id)
            try testLines.append(line)
            testCounts[Int(id)] += 1
        } else {
            try trainValues.append(contentsOf: values)
            try trainLabels.append(id)
            trainCounts[Int(id)] += 1
        }
    }

    /// Calls `body(row, labelID, line)` for every training or test row in order.
    func forEach(test: Bool, _ body: ([Double], Int32, UInt64) throws -> Void) throws {
        let values = test ? testValues : trainValues
        let labels = try (test ? testLabels : trainLabels).toArray()
        let lines: [UInt64] = test ? try testLines.toArray() : []
        var row = [Double](repeating: 0, count: featureCount)
        var k = 0, r = 0
        var failure: (any Error)?
        try values.forEach { v in
            guard failure == nil else { return }
            row[k] = v
            k += 1
            if k == featureCount {
                do { try body(row, labels[r], test ? lines[r] : 0) } catch { failure = error }
                k = 0
                r += 1
            }
        }
        if let failure { throw failure }
    }
}
