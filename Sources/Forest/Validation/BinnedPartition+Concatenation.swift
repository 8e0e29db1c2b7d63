extension BinnedPartition {
    /// The rows of `parts` (binned with one extractor) one after another, in the order given.
    public static func concatenated(_ parts: [BinnedPartition]) throws -> BinnedPartition {
        guard let first = parts.first else { throw ForestError(.invalidData, "no partitions to concatenate") }
        guard
            parts.allSatisfy({
                $0.featureCount == first.featureCount && $0.classCount == first.classCount
                    && $0.task == first.task && $0.categorical == first.categorical
            })
        else {
            throw ForestError(.incompatible, "partitions binned with different extractors")
        }
        if parts.count == 1 { return first }
        let n = parts.reduce(0) { $0 + $1.rowCount }
        let F = first.featureCount
        var bins = [UInt8]()
        bins.reserveCapacity(n * F)
        for f in 0..<F {
            for p in parts { bins += p.bins[(f * p.rowCount)..<((f + 1) * p.rowCount)] }
        }
        let target: TargetColumn
        switch first.target {
        case .classes: target = .classes(parts.flatMap(\.labels))
        case .values: target = .values(parts.flatMap(\.values))
        }
        var valueBins = first.valueBins
        for p in parts.dropFirst() { for f in 0..<F { valueBins[f] = max(valueBins[f], p.valueBins[f]) } }
        return BinnedPartition(
            rowCount: n, featureCount: F, classCount: first.classCount, bins: bins, target: target,
            valueBins: valueBins, categorical: first.categorical)
    }
}
