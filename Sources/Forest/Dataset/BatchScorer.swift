/// The one scorer of parsed rows, used by `spacetime predict`, `evaluate` and the
/// workers' prediction and evaluation tasks, so their outputs are identical by
/// construction: the rows are binned with the model's extractor (``FeatureBinner``) and
/// scored by ``RandomForest/predict(binned:threads:)``.
public enum BatchScorer {
    /// Row-major predictions (`rows × outputWidth`) of `rows` parsed rows (row-major,
    /// `model.extractor.featureCount` values each).
    public static func predict(_ model: ForestModel, values: UnsafeBufferPointer<Double>, rows: Int, threads: Int) -> [Double] {
        let d = model.extractor.featureCount
        precondition(values.count >= rows * d, "parsed rows must hold rows × features")
        let binned = FeatureBinner.bin(extractor: model.extractor, rowCount: rows, threads: threads) { append in
            for r in 0..<rows { append(UnsafeBufferPointer(rebasing: values[r * d..<(r + 1) * d]), 0) }
        }
        return model.forest.predict(binned: binned, threads: threads)
    }

    public static func predict(_ model: ForestModel, values: [Double], rows: Int, threads: Int) -> [Double] {
        values.withUnsafeBufferPointer { predict(model, values: $0, rows: rows, threads: threads) }
    }
}
