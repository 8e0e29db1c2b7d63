/// Per-column statistics of a CSV file computed in one streaming pass with bounded memory:
/// count, missing, mean, sample standard deviation, min, max (exact) and quantiles (approximate,
/// from a seeded uniform reservoir of `quantileSampleSize` values per column).
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
            let lo = Int(pos.rounded(.down)), hi = min(lo + 1, sample.count - 1)
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
    public static func compute(path: String, options: CSVOptions = CSVOptions(), labelColumn: String? = nil,
                               quantileSampleSize: Int = 10_000, seed: UInt64 = 0) throws(CSVError) -> CSVStatistics {
        let reader = try CSVReader(path: path, options: options)
        let labelIndex = try labelColumn.map { (name) throws(CSVError) in try reader.columnIndex(named: name) }
        let n = reader.columnCount
        var stats = [RunningStatistics](repeating: RunningStatistics(), count: n)
        var samples = (0..<n).map { ReservoirSampler<Double>(capacity: quantileSampleSize, seed: StableHash.combine(seed, UInt64($0))) }
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
            if let labelIndex { classCounts[r.string(at: labelIndex), default: 0] += 1 }
            for i in 0..<n where i != labelIndex {
                let x = row[i]
                stats[i].add(x)
                if !x.isNaN { samples[i].offer(x) }
            }
            rows += 1
        }
        var columns: [Column] = []
        for i in 0..<n where i != labelIndex {
            columns.append(Column(name: reader.header[i], statistics: stats[i], sample: samples[i].items.sorted()))
        }
        return CSVStatistics(file: path, rows: rows, columns: columns, label: labelIndex.map { reader.header[$0] },
                             classCounts: classCounts, skippedRows: reader.skippedRows,
                             skippedErrors: reader.skippedErrors, bytes: reader.bytesRead)
    }
}
