/// Per-column statistics of a CSV file computed in one streaming pass with bounded memory:
/// count, missing, mean, sample standard deviation, min, max (exact) and quantiles (approximate,
/// from a seeded uniform reservoir of `quantileSampleSize` rows, capped so that the sample holds
/// at most 2^20 values: 8 MiB).
public struct CSVStatistics: Sendable {
    /// Statistics of one numeric column.
    public struct Column: Sendable {
        public var name: String
        public var statistics: RunningStatistics
        /// Sorted reservoir sample of the column's non-missing values (for quantiles).
        public var sample: [Double]

        /// Approximate quantile `q` in [0, 1] with linear interpolation (pandas' default method).
        public func quantile(_ q: Double) -> Double {
            guard !sample.isEmpty else { return .nan }
            let pos = q * Double(sample.count - 1)
            let lo = Int(pos.rounded(.down))
            let hi = min(lo + 1, sample.count - 1)
            return sample[lo] + (sample[hi] - sample[lo]) * (pos - Double(lo))
        }
    }

    public var file: String
    /// Data rows read (excluding skipped bad rows).
    public var rows: Int
    public var columns: [Column]
    /// The label column's name and its class counts (label text → rows), if a label was given.
    public var label: String?
    public var classCounts: [String: Int]
    /// Rows skipped under the skip policy, and the first few errors.
    public var skippedRows: Int
    public var skippedErrors: [CSVError]
    /// Bytes of input read.
    public var bytes: Int

    /// Streams `path` and computes the statistics. Every non-label column must be numeric
    /// (empty and NA-like fields count as missing); the first bad value throws a located error
    /// unless `options.badRows` is `.skip`.
    public static func compute(
        path: String, options: CSVOptions = CSVOptions(), labelColumn: String? = nil,
        quantileSampleSize: Int = 10_000, seed: UInt64 = 0
    ) throws(CSVError) -> CSVStatistics {
        let reader = try CSVReader(path: path, options: options)
        let labelIndex = try labelColumn.map { (name) throws(CSVError) in try reader.columnIndex(named: name) }
        let n = reader.columnCount
        // The row sample holds at most 1 Mi values (8 MiB), however wide the file.
        let quantileSampleSize = max(1, min(quantileSampleSize, (1 << 20) / max(1, n)))
        var accumulators = ColumnAccumulators(columns: n)
        // One reservoir of rows (not of values per column): one skip decision per row.
        var rowSampler = ReservoirSampler<Int>(capacity: quantileSampleSize, seed: seed)
        let sample = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(1, quantileSampleSize * n))
        defer { sample.deallocate() }
        var classCounts: [String: Int] = [:]
        let row = UnsafeMutableBufferPointer<Double>.allocate(capacity: n)
        defer { row.deallocate() }
        var rows = 0
        while let r = try reader.next() {
            do throws(CSVError) {
                for i in 0..<n where i != labelIndex { row[i] = try r.double(at: i) }
            } catch {
                try reader.skipOrThrow(error)
                continue
            }
            if let labelIndex {
                classCounts[r.string(at: labelIndex), default: 0] += 1
                row[labelIndex] = .nan
            }
            accumulators.add(row)
            if rowSampler.wantsNext {
                let slot = rowSampler.items.count < quantileSampleSize ? rowSampler.items.count : -1
                rowSampler.offer(rows)
                // The sampler put the row at `slot` (filling) or replaced a random slot.
                let at = slot >= 0 ? slot : rowSampler.lastReplaced
                (sample.baseAddress! + at * n).update(from: row.baseAddress!, count: n)
            } else {
                rowSampler.offer(rows)
            }
            rows += 1
        }
        let stats = accumulators.finish()
        let sampled = rowSampler.items.count
        var samples: [[Double]] = Array(repeating: [], count: n)
        for i in 0..<n where i != labelIndex {
            var values: [Double] = []
            values.reserveCapacity(sampled)
            for j in 0..<sampled where !sample[j * n + i].isNaN { values.append(sample[j * n + i]) }
            samples[i] = values
        }
        var columns: [Column] = []
        for i in 0..<n where i != labelIndex {
            columns.append(Column(name: reader.header[i], statistics: stats[i], sample: samples[i].sorted()))
        }
        return CSVStatistics(
            file: path, rows: rows, columns: columns, label: labelIndex.map { reader.header[$0] },
            classCounts: classCounts, skippedRows: reader.skippedRows,
            skippedErrors: reader.skippedErrors, bytes: reader.bytesRead)
    }
}

/// Per-column count, missing, sum and sum of squares (shifted by each column's first value, summed
/// in blocks of 1,024 rows and folded into compensated totals: pairwise-like accuracy without a
/// division per value), min and max. `finish()` turns them into `RunningStatistics`.
struct ColumnAccumulators {
    let n: Int
    private var shift: [Double]
    private var hasShift: [Bool]
    private var count: [Int]
    private var missing: [Int]
    private var blockSum: [Double], blockSq: [Double]
    private var sum: [Double], sumC: [Double], sq: [Double], sqC: [Double]
    private var minV: [Double], maxV: [Double]
    private var inBlock = 0
    static let blockRows = 1024

    init(columns: Int) {
        n = columns
        shift = Array(repeating: 0, count: columns)
        hasShift = Array(repeating: false, count: columns)
        count = Array(repeating: 0, count: columns)
        missing = Array(repeating: 0, count: columns)
        blockSum = Array(repeating: 0, count: columns)
        blockSq = blockSum
        sum = blockSum
        sumC = blockSum
        sq = blockSum
        sqC = blockSum
        minV = Array(repeating: .infinity, count: columns)
        maxV = Array(repeating: -.infinity, count: columns)
    }

    mutating func add(_ row: UnsafeMutableBufferPointer<Double>) {
        for i in 0..<n {
            let x = row[i]
            if x.isNaN {
                missing[i] += 1
                continue
            }
            if !hasShift[i] {
                hasShift[i] = true
                shift[i] = x
            }
            count[i] += 1
            let d = x - shift[i]
            blockSum[i] += d
            blockSq[i] += d * d
            if x < minV[i] { minV[i] = x }
            if x > maxV[i] { maxV[i] = x }
        }
        inBlock += 1
        if inBlock == Self.blockRows { fold() }
    }

    private static func neumaier(_ s: inout Double, _ c: inout Double, _ x: Double) {
        let t = s + x
        c += abs(s) >= abs(x) ? (s - t) + x : (x - t) + s
        s = t
    }

    private mutating func fold() {
        for i in 0..<n {
            Self.neumaier(&sum[i], &sumC[i], blockSum[i])
            Self.neumaier(&sq[i], &sqC[i], blockSq[i])
            blockSum[i] = 0
            blockSq[i] = 0
        }
        inBlock = 0
    }

    mutating func finish() -> [RunningStatistics] {
        fold()
        return (0..<n).map { i in
            let c = count[i]
            let s1 = sum[i] + sumC[i]
            let s2 = sq[i] + sqC[i]
            let meanShifted = c > 0 ? s1 / Double(c) : 0
            var mean = c > 0 ? shift[i] + meanShifted : 0
            var m2 = max(0, s2 - s1 * meanShifted)
            if c > 0 && (minV[i] == -.infinity || maxV[i] == .infinity) {
                // Infinite values (`inf` in the file): the mean is ±inf (NaN if both), std NaN, as pandas.
                mean = minV[i] == -.infinity ? (maxV[i] == .infinity ? .nan : -.infinity) : .infinity
                m2 = .nan
            }
            return RunningStatistics(count: c, missing: missing[i], mean: mean, m2: m2, min: minV[i], max: maxV[i])
        }
    }
}
