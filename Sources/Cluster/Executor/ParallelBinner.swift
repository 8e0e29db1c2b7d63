import Dispatch
import Forest

/// Bins a known number of rows, appended in order on one thread, into a
/// column-major `BinnedPartition` with up to `threads` threads: rows are
/// gathered in blocks and each block is binned on a worker thread into its own
/// rows of the output. Every value gets the bin `BinnedPartitionBuilder` and
/// `FeatureExtractor.bin` give it (the count of edges below it; NaN → the
/// missing bin), so the partition is identical whatever the thread count.
///
/// The bins are written straight into the returned array's storage
/// (`bin(extractor:rowCount:threads:feed:)`): the partition's largest buffer
/// exists once, never twice (a final copy made a 4M-row × 50 partition peak
/// 200 MB higher, at 492 of a worker's 512 MiB).
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

    /// `bins`: storage for `rowCount × featureCount` bins, written column-major;
    /// it must outlive the binner's blocks in flight (`waitForBlocks`).
    private init(extractor: FeatureExtractor, rowCount: Int, threads: Int, blockRows: Int, bins: UnsafeMutablePointer<UInt8>) {
        self.extractor = extractor
        self.rowCount = rowCount
        featureCount = extractor.featureCount
        self.threads = max(1, threads)
        self.blockRows = max(1, blockRows)
        self.bins = bins
        labels = [Int32](repeating: 0, count: rowCount)
        paddedEdges = extractor.edges.flatMap { $0 + Array(repeating: Double.infinity, count: max(0, 256 - $0.count)) }
        slots = DispatchSemaphore(value: self.threads + 1)
    }

    /// Bins the `rowCount` rows `feed` appends (in order, through the closure it
    /// is given) into a partition. Rethrows what `feed` throws, after the blocks
    /// in flight have finished.
    static func bin(extractor: FeatureExtractor, rowCount: Int, threads: Int, blockRows: Int = 4096,
                    feed: ((UnsafeBufferPointer<Double>, Int32) -> Void) throws -> Void) throws -> BinnedPartition {
        let total = rowCount * extractor.featureCount
        var labels: [Int32] = []
        var appended = 0
        let bins = try [UInt8](unsafeUninitializedCapacity: max(1, total)) { buffer, initialized in
            let binner = ParallelBinner(extractor: extractor, rowCount: rowCount, threads: threads, blockRows: blockRows,
                                        bins: buffer.baseAddress!)
            defer { binner.waitForBlocks() }
            try feed { values, label in binner.append(values, label: label) }
            binner.dispatchBlock()
            binner.waitForBlocks()
            appended = binner.appended
            precondition(appended == rowCount, "\(appended) rows appended, \(rowCount) announced")
            labels = binner.labels
            initialized = total
        }
        return BinnedPartition(rowCount: rowCount, featureCount: extractor.featureCount, classCount: extractor.classCount,
                               bins: bins, labels: labels,
                               thresholds: (0..<extractor.featureCount).map { extractor.thresholds(feature: $0) })
    }

    /// Appends the next row (`values.count == featureCount`).
    private func append(_ values: UnsafeBufferPointer<Double>, label: Int32) {
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

    private func waitForBlocks() { group.wait() }
}
