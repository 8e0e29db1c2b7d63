import ArgumentParser
import Forest

/// The feature derivations of the running executable (``SpaceTimeTool/main(derivations:)``).
enum RegisteredDerivations {
    /// Written once by `SpaceTimeTool.main` before any command is parsed, only read after.
    nonisolated(unsafe) static var registry = FeatureDerivationRegistry()

    /// The derivation `model` records, built from the registry (nil for a model without one);
    /// an error naming it when this executable does not register it.
    static func derivation(for model: ForestModel) throws -> (any FeatureDerivation)? {
        try registry.derivation(for: model)
    }
}

/// `--derivation NAME`, shared by `train`, `local` and `coordinator`.
struct DerivationFlag: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A feature derivation registered in this executable, applied to every row (its name is recorded in the model; see docs/extending.md).",
            valueName: "name"))
    var derivation: String?

    func validate() throws {
        guard let derivation else { return }
        let registry = RegisteredDerivations.registry
        guard registry.contains(derivation) else {
            let known =
                registry.identifiers.isEmpty
                ? "this executable registers none" : "this executable registers \(registry.identifiers.joined(separator: ", "))"
            throw ValidationError(
                "--derivation \(derivation): no such feature derivation (\(known)); build a spacetime executable that registers it (docs/extending.md)"
            )
        }
    }

    /// The identifier given, or "" for none.
    var identifier: String { derivation ?? "" }

    /// Builds the derivation for the data set's input names (nil without `--derivation`).
    var factory: FeatureDerivationRegistry.Factory? {
        guard let derivation else { return nil }
        let registry = RegisteredDerivations.registry
        return { names in try registry.derivation(derivation, inputNames: names) }
    }
}
