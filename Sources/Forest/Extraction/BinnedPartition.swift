/// A partition's rows binned with global edges: one byte per value, column-major
/// (`bins[feature * rowCount + row]`), with class indices and the real thresholds of
/// each bin. This is what the tree learner trains on.
public struct BinnedPartition: Sendable {
    static let magic: UInt32 = 0x5354_4250 // "STBP"
    public let rowCount: Int
    public let featureCount: Int
    public let classCount: Int
    /// Column-major bins (missing = ``FeatureExtractor/missingBin``).
    public let bins: [UInt8]
    /// Class index per row, in `0..<classCount`.
    public let labels: [Int32]
    /// Per feature: the real upper edge of each value bin (last = +infinity).
    public let thresholds: [[Double]]

    public init(rowCount: Int, featureCount: Int, classCount: Int, bins: [UInt8], labels: [Int32], thresholds: [[Double]]) {
        precondition(bins.count == rowCount * featureCount && labels.count == rowCount && thresholds.count == featureCount)
        self.rowCount = rowCount
        self.featureCount = featureCount
        self.classCount = classCount
        self.bins = bins
        self.labels = labels
        self.thresholds = thresholds
    }

    /// Rows per class.
    public var classCounts: [Int] {
        var c = [Int](repeating: 0, count: classCount)
        for l in labels { c[Int(l)] += 1 }
        return c
    }

    /// Bytes for spilling or sending a partition (bins are stored raw).
    public func serialize() -> [UInt8] {
        var w = ByteWriter(capacity: bins.count + labels.count * 4 + 64)
        w.write(Self.magic)
        w.write(UInt64(rowCount)); w.write(UInt64(featureCount)); w.write(UInt32(classCount))
        w.write(array: bins); w.write(array: labels)
        for t in thresholds { w.write(array: t) }
        return w.bytes
    }

    public init(deserializing bytes: [UInt8]) throws {
        var r = ByteReader(bytes, context: "binned partition")
        guard try r.read(UInt32.self) == Self.magic else { throw ForestError(.corrupted, "binned partition: bad magic") }
        let rows = Int(try r.read(UInt64.self)), features = Int(try r.read(UInt64.self))
        let classes = Int(try r.read(UInt32.self))
        let bins = try r.readArray(UInt8.self), labels = try r.readArray(Int32.self)
        var thresholds: [[Double]] = []
        for _ in 0..<min(features, r.remaining) { thresholds.append(try r.readDoubles()) }
        try r.expectEnd()
        guard rows >= 0, features >= 0, bins.count == rows &* features, labels.count == rows,
              thresholds.count == features, labels.allSatisfy({ $0 >= 0 && Int($0) < classes }) else {
            throw ForestError(.corrupted, "binned partition: inconsistent sizes")
        }
        self.init(rowCount: rows, featureCount: features, classCount: classes, bins: bins, labels: labels, thresholds: thresholds)
    }
}

/// Appends prepared rows one at a time and produces a column-major ``BinnedPartition``.
public struct BinnedPartitionBuilder: Sendable {
    public let extractor: FeatureExtractor
    private var columns: [[UInt8]]
    private var labels: [Int32] = []
    /// Feature f's edges at `paddedEdges[f * 256 ..< f * 256 + count]`, padded with +infinity
    /// to 256 entries for a branchless 8-step search.
    private let paddedEdges: [Double]

    public init(extractor: FeatureExtractor, expectedRows: Int = 0) {
        self.extractor = extractor
        paddedEdges = extractor.edges.flatMap { $0 + Array(repeating: Double.infinity, count: 256 - $0.count) }
        columns = Array(repeating: [], count: extractor.featureCount)
        if expectedRows > 0 {
            for f in columns.indices { columns[f].reserveCapacity(expectedRows) }
            labels.reserveCapacity(expectedRows)
        }
    }

    public var rowCount: Int { labels.count }

    /// Appends one prepared row (`values.count == featureCount`) with its class index.
    public mutating func append(_ values: UnsafeBufferPointer<Double>, label: Int32) {
        paddedEdges.withUnsafeBufferPointer { edges in
            for f in 0..<values.count {
                let x = values[f]
                let e = edges.baseAddress! + f &* 256
                var pos = 0
                var step = 128
                while step > 0 {
                    pos = e[pos &+ step &- 1] < x ? pos &+ step : pos
                    step &>>= 1
                }
                columns[f].append(x.isNaN ? FeatureExtractor.missingBin : UInt8(truncatingIfNeeded: pos))
            }
        }
        labels.append(label)
    }

    public mutating func append(_ values: [Double], label: Int32) {
        values.withUnsafeBufferPointer { append($0, label: label) }
    }

    public func finish() -> BinnedPartition {
        var bins: [UInt8] = []
        bins.reserveCapacity(labels.count * columns.count)
        for c in columns { bins.append(contentsOf: c) }
        return BinnedPartition(rowCount: labels.count, featureCount: columns.count,
                               classCount: extractor.classCount, bins: bins, labels: labels,
                               thresholds: (0..<extractor.featureCount).map { extractor.thresholds(feature: $0) })
    }
}
