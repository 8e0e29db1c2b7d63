/// The one scorer of parsed rows, used by `spacetime predict`, `evaluate` and the
/// workers' prediction and evaluation tasks, so their outputs are identical by
/// construction: the rows are binned with the model's extractor (``FeatureBinner``) and
/// scored by ``RandomForest/predict(binned:threads:)``, or, for one slice of the forest,
/// by ``ForestSlice/partialSums(binned:threads:)``.
public enum BatchScorer {
    /// Row-major predictions (`rows × outputWidth`) of `rows` parsed rows (row-major,
    /// `model.extractor.featureCount` values each).
    public static func predict(_ model: ForestModel, values: UnsafeBufferPointer<Double>, rows: Int, threads: Int) -> [Double] {
        model.forest.predict(binned: bin(model.extractor, values: values, rows: rows, threads: threads), threads: threads)
    }

    public static func predict(_ model: ForestModel, values: [Double], rows: Int, threads: Int) -> [Double] {
        values.withUnsafeBufferPointer { predict(model, values: $0, rows: rows, threads: threads) }
    }

    /// Row-major partial sums (`rows × slice.slice.valuesPerRow`) of a forest slice for
    /// `rows` parsed rows, which ``ForestScoringLayout/combine(slices:rows:)`` adds into
    /// exactly ``predict(_:values:rows:threads:)``'s values.
    public static func partialSums(_ slice: ForestModelSlice, values: [Double], rows: Int, threads: Int) -> [Double] {
        values.withUnsafeBufferPointer {
            slice.slice.partialSums(binned: bin(slice.model.extractor, values: $0, rows: rows, threads: threads), threads: threads)
        }
    }

    static func bin(_ extractor: FeatureExtractor, values: UnsafeBufferPointer<Double>, rows: Int, threads: Int) -> BinnedPartition {
        let d = extractor.featureCount
        precondition(values.count >= rows * d, "parsed rows must hold rows × features")
        return FeatureBinner.bin(extractor: extractor, rowCount: rows, threads: threads) { append in
            for r in 0..<rows { append(UnsafeBufferPointer(rebasing: values[r * d..<(r + 1) * d]), 0) }
        }
    }
}
