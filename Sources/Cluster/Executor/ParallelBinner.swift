import Dispatch
import Forest

/// Bins a known number of rows, appended in order on one thread, into a
/// column-major `BinnedPartition` with up to `threads` threads: rows are
/// gathered in blocks and each block is binned on a worker thread into its own
/// rows of the output. Every value gets the bin `BinnedPartitionBuilder` and
/// `FeatureExtractor.bin` give it (the count of edges below it; NaN → the
/// missing bin), so the partition is identical whatever the thread count.
final class ParallelBinner: @unchecked Sendable {
    let extractor: FeatureExtractor
    let rowCount: Int
    let featureCount: Int
    private let blockRows: Int
    private let bins: UnsafeMutablePointer<UInt8>
    private var labels: [Int32]
    private var block: [Double] = []
    private var blockStart = 0
    private var appended = 0
    /// Per feature, its edges padded with +infinity to 256 entries (a branchless 8-step search).
    private let paddedEdges: [Double]
    private let group = DispatchGroup()
    private let slots: DispatchSemaphore
    private let threads: Int

    init(extractor: FeatureExtractor, rowCount: Int, threads: Int, blockRows: Int = 4096) {
        self.extractor = extractor
        self.rowCount = rowCount
        featureCount = extractor.featureCount
        self.threads = max(1, threads)
        self.blockRows = max(1, blockRows)
        bins = .allocate(capacity: max(1, rowCount * featureCount))
        labels = [Int32](repeating: 0, count: rowCount)
        paddedEdges = extractor.edges.flatMap { $0 + Array(repeating: Double.infinity, count: max(0, 256 - $0.count)) }
        slots = DispatchSemaphore(value: self.threads + 1)
    }

    deinit { bins.deallocate() }

    /// Appends the next row (`values.count == featureCount`).
    func append(_ values: UnsafeBufferPointer<Double>, label: Int32) {
        precondition(appended < rowCount && values.count == featureCount, "more rows than announced, or a row of the wrong width")
        if block.isEmpty { block.reserveCapacity(blockRows * featureCount) }
        block.append(contentsOf: values)
        labels[appended] = label
        appended += 1
        if appended - blockStart == blockRows { dispatchBlock() }
    }

    private func dispatchBlock() {
        let count = appended - blockStart
        guard count > 0 else { return }
        let values = block, start = blockStart
        block = []
        blockStart = appended
        if threads == 1 {
            binBlock(values, start: start, count: count)
            return
        }
        slots.wait()
        DispatchQueue.global().async(group: group) { [self] in
            binBlock(values, start: start, count: count)
            slots.signal()
        }
    }

    private func binBlock(_ values: [Double], start: Int, count: Int) {
        let n = rowCount, d = featureCount
        values.withUnsafeBufferPointer { v in
            paddedEdges.withUnsafeBufferPointer { edges in
                for f in 0..<d {
                    let e = edges.baseAddress! + f &* 256
                    let out = bins + (f &* n &+ start)
                    for r in 0..<count {
                        let x = v[r &* d &+ f]
                        var pos = 0
                        var step = 128
                        while step > 0 {
                            pos = e[pos &+ step &- 1] < x ? pos &+ step : pos
                            step &>>= 1
                        }
                        out[r] = x.isNaN ? FeatureExtractor.missingBin : UInt8(truncatingIfNeeded: pos)
                    }
                }
            }
        }
    }

    /// Waits for the blocks in flight and returns the partition (all announced rows must have been appended).
    func finish() -> BinnedPartition {
        dispatchBlock()
        group.wait()
        precondition(appended == rowCount, "\(appended) rows appended, \(rowCount) announced")
        let all = Array(UnsafeBufferPointer(start: bins, count: rowCount * featureCount))
        return BinnedPartition(rowCount: rowCount, featureCount: featureCount, classCount: extractor.classCount,
                               bins: all, labels: labels,
                               thresholds: (0..<featureCount).map { extractor.thresholds(feature: $0) })
    }
}
