import Foundation
import SpaceTime

/// Collects parsed rows, in input order, into shard buffers and writes each full shard of a
/// ``DatasetTransform`` (`features-NNNNN.npy`, `labels-NNNNN.npy`): used by `spacetime
/// transform` in one process and by the coordinator of `transform --workers` on the rows its
/// workers parsed, so both write the same bytes. Memory is one shard's buffers.
public struct TransformShardWriter {
    let extractor: FeatureExtractor
    let directory: String
    let options: DatasetTransform.Options
    let labels: Bool
    let regression: Bool
    /// The shards written so far, in input order.
    public private(set) var shards: [TransformManifest.Shard] = []
    private var values: [Double] = []
    private var classes: [Int64] = []
    private var targets: [Double] = []
    private var firstLine = 0
    private var rows = 0

    /// `labels`: the input has the label column (a labels file per shard).
    public init(extractor: FeatureExtractor, directory: String, options: DatasetTransform.Options, labels: Bool) {
        self.extractor = extractor
        self.directory = directory
        self.options = options
        self.labels = labels
        self.regression = extractor.task.kind == .regression
        values.reserveCapacity(min(options.shardRows, 1 << 20) * extractor.featureCount)
    }

    /// Adds `lines.count` rows: `values` row-major (`featureCount` per row, derived features
    /// with a derivation), each row's source line, and with labels its class index
    /// (classification) or target (regression).
    public mutating func add(
        values input: UnsafeBufferPointer<Double>, lines: [Int], classes batchClasses: [Int64], targets batchTargets: [Double]?
    ) throws {
        let d = extractor.featureCount
        let count = lines.count
        var r = 0
        while r < count {
            if rows == 0 { firstLine = lines[r] }
            let take = min(options.shardRows - rows, count - r)
            values.append(contentsOf: input[(r * d)..<((r + take) * d)])
            if let t = batchTargets { targets.append(contentsOf: t[r..<(r + take)]) }
            if !batchClasses.isEmpty { classes.append(contentsOf: batchClasses[r..<(r + take)]) }
            rows += take
            r += take
            if rows == options.shardRows { try flush() }
        }
    }

    /// Writes the last, partial shard.
    public mutating func finish() throws {
        if rows > 0 { try flush() }
    }

    private mutating func flush() throws {
        let index = shards.count
        let name = String(format: "features-%05d.npy", index)
        let d = extractor.featureCount
        if options.binned {
            let binned = values.withUnsafeBufferPointer { v in
                FeatureBinner.bin(extractor: extractor, rowCount: rows, threads: 1) { append in
                    for i in 0..<rows { append(UnsafeBufferPointer(rebasing: v[(i * d)..<((i + 1) * d)]), 0) }
                }
            }
            try Self.write(NpyHeader(type: .uint8, shape: [rows, d], fortranOrder: true), binned.bins, to: path(name))
        } else {
            var out = [Float](repeating: 0, count: rows * d)
            for i in 0..<rows {
                for f in 0..<d {
                    let x = values[i * d + f]
                    if extractor.kinds[f] == .categorical {
                        let b = extractor.bin(x, feature: f)
                        out[i * d + f] = b == FeatureExtractor.missingBin ? .nan : Float(b)
                    } else {
                        out[i * d + f] = Float(x)
                    }
                }
            }
            try Self.write(NpyHeader(type: .float32, shape: [rows, d]), out, to: path(name))
        }
        var labelName: String?
        if labels {
            let n = String(format: "labels-%05d.npy", index)
            if regression {
                try Self.write(NpyHeader(type: .float64, shape: [rows]), targets, to: path(n))
            } else {
                try Self.write(NpyHeader(type: .int64, shape: [rows]), classes, to: path(n))
            }
            labelName = n
        }
        shards.append(TransformManifest.Shard(features: name, labels: labelName, rows: rows, firstLine: firstLine))
        values.removeAll(keepingCapacity: true)
        targets.removeAll(keepingCapacity: true)
        classes.removeAll(keepingCapacity: true)
        rows = 0
    }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// Writes a header and little-endian elements atomically.
    private static func write<T>(_ header: NpyHeader, _ elements: [T], to path: String) throws {
        precondition(header.dataBytes == elements.count * MemoryLayout<T>.stride, "the header announces the data")
        do {
            let writer = try AtomicFileWriter(path: path)
            try writer.append(header.encoded())
            try elements.withUnsafeBytes { try writer.append($0) }
            try writer.commit()
        } catch {
            throw ForestError(.io, "\(path): \(error)")
        }
    }
}
