/// A user-supplied per-row feature derivation (ratios, logs, products of columns) that
/// runs on every parsed row before statistics, binning, training and prediction.
///
/// The derivation is code, not data: a model file records its ``identifier`` and the
/// derived feature names, and loading such a model requires passing the same derivation.
public protocol FeatureDerivation: Sendable {
    /// A stable name recorded in the model (e.g. "ratios-v1").
    var identifier: String { get }
    /// Names of the derived features given the input column names.
    func outputNames(inputNames: [String]) -> [String]
    /// Writes the derived features of one input row into `output`
    /// (`output.count == outputNames(...).count`). NaN marks a missing value.
    func derive(_ input: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>)
}

/// Applies an optional ``FeatureDerivation`` to rows, reusing one buffer.
public struct RowPreparer: Sendable {
    public let derivation: (any FeatureDerivation)?
    public let inputCount: Int
    public let outputCount: Int

    public init(derivation: (any FeatureDerivation)?, inputNames: [String]) {
        self.derivation = derivation
        self.inputCount = inputNames.count
        self.outputCount = derivation?.outputNames(inputNames: inputNames).count ?? inputNames.count
    }

    /// The prepared (derived) row; `row` itself when there is no derivation.
    @inline(__always)
    public func prepare(_ row: [Double]) -> [Double] {
        guard let derivation else { return row }
        var out = [Double](repeating: .nan, count: outputCount)
        row.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { derivation.derive(input, into: $0) }
        }
        return out
    }
}
