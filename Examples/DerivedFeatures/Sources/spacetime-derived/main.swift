import Forest
import SpaceTimeCLI

// A `spacetime` executable with the example's feature derivation registered: every
// command of the tool, plus `--derivation loan-ratios-v1` for train, local and coordinator.
// Its workers are this same executable, so they apply the derivation too.
var derivations = FeatureDerivationRegistry()
do {
    try derivations.register(LoanRatios.name) { inputNames in try LoanRatios(inputNames: inputNames) }
} catch {
    fatalError("registering \(LoanRatios.name): \(error)")
}
await SpaceTimeTool.main(derivations: derivations)
