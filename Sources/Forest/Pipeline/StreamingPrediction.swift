import Dispatch
import SpaceTime

/// Scores a CSV file with a model in fixed-size batches (bounded memory, input order kept).
public enum StreamingPrediction {
    /// One scored batch: row-major probabilities (`rows * classCount`), the label text of
    /// each row when the file has the model's label column, and the rows' 1-based lines.
    public struct Batch {
        public var probabilities: [Double]
        public var labels: [String]?
        public var lines: [Int]
        public var rows: Int { lines.count }
    }

    /// Streams `path` through `model`. Feature columns are matched by name (any order, extra
    /// columns ignored); with `requireLabel`, the model's label column must be present.
    public static func run(model: ForestModel, path: String, requireLabel: Bool,
                           batchRows: Int = 8192, threads: Int = 1,
                           onBatch: (Batch) throws -> Void) throws {
        guard model.extractor.derivationIdentifier.isEmpty else {
            throw ForestError(.invalidParameter,
                "the model uses the feature derivation '\(model.extractor.derivationIdentifier)', which must be supplied through the Forest API")
        }
        let source = try LabeledCSV(path: path, label: model.labelColumn, expectedFeatures: model.extractor.inputNames)
        defer { source.close() }
        if requireLabel && source.labelIndex == nil {
            throw ForestError(.invalidData, "\(path): no label column '\(model.labelColumn)' (needed to evaluate)")
        }
        let d = model.extractor.featureCount, C = model.forest.classCount
        let forest = model.forest
        var values = [Double](), labels: [String] = [], lines: [Int] = []
        values.reserveCapacity(batchRows * d)
        var row = [Double](), label: String? = nil
        func flush() throws {
            guard !lines.isEmpty else { return }
            let n = lines.count
            var probs = [Double](repeating: 0, count: n * C)
            let chunk = 512
            let chunks = (n + chunk - 1) / chunk
            values.withUnsafeBufferPointer { v in
                probs.withUnsafeMutableBufferPointer { p in
                    let vp = SendableDoubles(v), pp = SendablePointer(p.baseAddress)
                    let work: @Sendable (Int) -> Void = { ci in
                        let lo = ci * chunk, hi = min(n, lo + chunk)
                        forest.predictProba(rawRows: UnsafeBufferPointer(rebasing: vp.buffer[lo * d..<hi * d]), rowCount: hi - lo,
                                            into: UnsafeMutableBufferPointer(start: pp.pointer! + lo * C, count: (hi - lo) * C))
                    }
                    if threads > 1 && chunks > 1 { DispatchQueue.concurrentPerform(iterations: chunks, execute: work) }
                    else { for ci in 0..<chunks { work(ci) } }
                }
            }
            try onBatch(Batch(probabilities: probs, labels: source.labelIndex == nil ? nil : labels, lines: lines))
            values.removeAll(keepingCapacity: true); labels.removeAll(keepingCapacity: true); lines.removeAll(keepingCapacity: true)
        }
        while try source.next(features: &row, label: &label) {
            values.append(contentsOf: row)
            if let label { labels.append(label) }
            lines.append(source.line)
            if lines.count >= batchRows { try flush() }
        }
        try flush()
    }

    /// Evaluates `model` on a labelled CSV file: a mergeable ``MetricsAggregate``.
    /// A label the model does not know is an error naming its line.
    public static func evaluate(model: ForestModel, path: String, threads: Int = 1) throws -> MetricsAggregate {
        let lookup = model.extractor.classLookup()
        var metrics = MetricsAggregate(classCount: model.forest.classCount)
        let C = model.forest.classCount
        try run(model: model, path: path, requireLabel: true, threads: threads) { batch in
            try batch.probabilities.withUnsafeBufferPointer { p in
                for r in 0..<batch.rows {
                    let text = batch.labels![r]
                    guard let c = lookup[text] else {
                        throw ForestError(.invalidData,
                            "\(path):\(batch.lines[r]): label '\(text)' is not one of the model's classes (\(model.extractor.classes.prefix(10).joined(separator: ", ")))")
                    }
                    metrics.add(probabilities: UnsafeBufferPointer(rebasing: p[r * C..<(r + 1) * C]), trueClass: Int(c))
                }
            }
        }
        return metrics
    }
}

struct SendableDoubles: @unchecked Sendable {
    let buffer: UnsafeBufferPointer<Double>
    init(_ b: UnsafeBufferPointer<Double>) { buffer = b }
}
