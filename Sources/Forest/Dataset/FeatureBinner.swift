import Dispatch

/// The one binner of the data set path: bins a known number of parsed rows, appended in
/// order on one thread, into a column-major ``BinnedPartition`` with up to `threads`
/// threads. Rows are gathered in blocks and each block is binned on a worker thread into
/// its own rows of the output. Every value gets ``FeatureExtractor/bin(_:feature:)``'s
/// bin, so the partition is identical whatever the thread count.
///
/// The bins are written straight into the returned array's storage: the partition's
/// largest buffer exists once, never twice.
public final class FeatureBinner: @unchecked Sendable {
    // @unchecked: the block buffers are handed to one worker thread each and the output
    // ranges they write are disjoint; `waitForBlocks` orders them before the result is read.
    let extractor: FeatureExtractor
    let rowCount: Int
    let featureCount: Int
    private let blockRows: Int
    private let bins: UnsafeMutablePointer<UInt8>
    private var targets: [Double]
    private var block: [Double] = []
    private var blockStart = 0
    private var appended = 0
    /// Per numeric feature, its edges padded with +infinity to 256 entries (a branchless 8-step search).
    private let paddedEdges: [Double]
    private let group = DispatchGroup()
    private let slots: DispatchSemaphore
    private let threads: Int

    private init(extractor: FeatureExtractor, rowCount: Int, threads: Int, blockRows: Int, bins: UnsafeMutablePointer<UInt8>) {
        self.extractor = extractor
        self.rowCount = rowCount
        featureCount = extractor.featureCount
        self.threads = max(1, threads)
        self.blockRows = max(1, blockRows)
        self.bins = bins
        targets = [Double](repeating: 0, count: rowCount)
        paddedEdges = extractor.edges.flatMap { $0 + Array(repeating: Double.infinity, count: max(0, 256 - $0.count)) }
        slots = DispatchSemaphore(value: self.threads + 1)
    }

    /// Bins the `rowCount` rows `feed` appends (in order, through the closure it is
    /// given: the row's parsed values and its target — a class index or a value) into a
    /// partition. Rethrows what `feed` throws, after the blocks in flight have finished.
    public static func bin(
        extractor: FeatureExtractor, rowCount: Int, threads: Int, blockRows: Int = 4096,
        feed: ((UnsafeBufferPointer<Double>, Double) -> Void) throws -> Void
    ) rethrows -> BinnedPartition {
        let total = rowCount * extractor.featureCount
        var targets: [Double] = []
        let bins = try [UInt8](unsafeUninitializedCapacity: max(1, total)) { buffer, initialized in
            let binner = FeatureBinner(
                extractor: extractor, rowCount: rowCount, threads: threads, blockRows: blockRows,
                bins: buffer.baseAddress!)
            defer { binner.waitForBlocks() }
            try feed { values, target in binner.append(values, target: target) }
            binner.dispatchBlock()
            binner.waitForBlocks()
            precondition(binner.appended == rowCount, "\(binner.appended) rows appended, \(rowCount) announced")
            targets = binner.targets
            initialized = total
        }
        let target: TargetColumn =
            extractor.task.kind == .classification
            ? .classes(targets.map { Int32($0) }) : .values(targets)
        return BinnedPartition(
            rowCount: rowCount, featureCount: extractor.featureCount, classCount: extractor.classCount,
            bins: total == 0 ? [] : bins, target: target,
            valueBins: (0..<extractor.featureCount).map(extractor.valueBinCount),
            categorical: extractor.categoricalFeatures)
    }

    private func append(_ values: UnsafeBufferPointer<Double>, target: Double) {
        precondition(appended < rowCount && values.count == featureCount, "more rows than announced, or a row of the wrong width")
        if block.isEmpty { block.reserveCapacity(blockRows * featureCount) }
        block.append(contentsOf: values)
        targets[appended] = target
        appended += 1
        if appended - blockStart == blockRows { dispatchBlock() }
    }

    private func dispatchBlock() {
        let count = appended - blockStart
        guard count > 0 else { return }
        let values = block
        let start = blockStart
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
        let n = rowCount
        let d = featureCount
        values.withUnsafeBufferPointer { v in
            paddedEdges.withUnsafeBufferPointer { edges in
                for f in 0..<d {
                    let out = bins + (f &* n &+ start)
                    if extractor.kinds[f] == .categorical {
                        let table = extractor.levelBins[f]
                        for r in 0..<count {
                            let x = v[r &* d &+ f]
                            out[r] = x.isNaN ? FeatureExtractor.missingBin : (table[UInt64(x)] ?? FeatureExtractor.missingBin)
                        }
                        continue
                    }
                    let e = edges.baseAddress! + f &* 256
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
