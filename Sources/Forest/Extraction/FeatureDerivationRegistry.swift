/// The feature derivations an executable knows, by identifier: how a model's or a job's
/// recorded ``FeatureDerivation/identifier`` becomes code again (in `spacetime train`, on
/// every worker, in `predict`, `evaluate` and `transform`).
///
/// Each entry is a factory taking the data set's input feature names (the schema's feature
/// columns, in order), so that a derivation can find its columns by name once rather than
/// per row; it may throw to refuse a data set that lacks them. A factory's derivation must
/// report the identifier it is registered under.
public struct FeatureDerivationRegistry: Sendable {
    /// Builds the derivation for a data set with these input feature names.
    public typealias Factory = @Sendable (_ inputNames: [String]) throws -> any FeatureDerivation

    private var factories: [String: Factory] = [:]

    public init() {}

    /// The registered identifiers, sorted.
    public var identifiers: [String] { factories.keys.sorted() }

    /// Whether `identifier` is registered.
    public func contains(_ identifier: String) -> Bool { factories[identifier] != nil }

    /// Registers `factory` under `identifier` (replacing an earlier one). Identifiers are
    /// non-empty and at most 256 bytes (they travel in job parameters and model files).
    public mutating func register(_ identifier: String, _ factory: @escaping Factory) throws(ForestError) {
        guard !identifier.isEmpty, identifier.utf8.count <= 256 else {
            throw ForestError(.invalidParameter, "a feature derivation identifier must be 1 to 256 bytes, got \(identifier.utf8.count)")
        }
        factories[identifier] = factory
    }

    /// Registers a derivation that does not depend on the column names, under its own identifier.
    public mutating func register(_ derivation: any FeatureDerivation) throws(ForestError) {
        try register(derivation.identifier) { _ in derivation }
    }

    /// The derivation registered as `identifier`, built for `inputNames`. Throws an
    /// `.invalidParameter` error naming the identifier (and the registered ones) when it is
    /// not registered, or the factory's refusal of these columns.
    public func derivation(_ identifier: String, inputNames: [String]) throws(ForestError) -> any FeatureDerivation {
        guard let factory = factories[identifier] else {
            let known = identifiers.isEmpty ? "it has none" : "it has \(identifiers.map { "'\($0)'" }.joined(separator: ", "))"
            throw ForestError(
                .invalidParameter,
                "the feature derivation '\(identifier)' is not registered in this executable (\(known)); use the spacetime executable built with it (docs/extending.md)"
            )
        }
        let derivation: any FeatureDerivation
        do { derivation = try factory(inputNames) } catch {
            throw ForestError(.invalidParameter, "the feature derivation '\(identifier)' refuses the input columns: \(error)")
        }
        guard derivation.identifier == identifier else {
            throw ForestError(
                .invalidParameter,
                "the feature derivation registered as '\(identifier)' reports the identifier '\(derivation.identifier)'")
        }
        return derivation
    }

    /// The derivation a model was trained with: nil for a model without one; an error naming
    /// it when it is not registered or no longer derives the model's feature names.
    public func derivation(for model: ForestModel) throws(ForestError) -> (any FeatureDerivation)? {
        let identifier = model.extractor.derivationIdentifier
        guard !identifier.isEmpty else { return nil }
        guard contains(identifier) else {
            let known = identifiers.isEmpty ? "it has none" : "it has \(identifiers.map { "'\($0)'" }.joined(separator: ", "))"
            throw ForestError(
                .invalidParameter,
                "the model derives its features with '\(identifier)', which is not registered in this executable (\(known)); use the spacetime executable built with it (docs/extending.md)"
            )
        }
        let d = try derivation(identifier, inputNames: model.extractor.inputNames)
        let names = d.outputNames(inputNames: model.extractor.inputNames)
        guard names == model.extractor.featureNames else {
            throw ForestError(
                .incompatible,
                "the model derives its features with '\(identifier)', which now derives \(names.count) features (\(names.prefix(6).joined(separator: ", "))), not the model's \(model.extractor.featureCount) (\(model.extractor.featureNames.prefix(6).joined(separator: ", ")))"
            )
        }
        return d
    }
}
