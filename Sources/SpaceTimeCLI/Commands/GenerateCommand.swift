import ArgumentParser
import Forest
import Foundation
import SpaceTime

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a deterministic synthetic classification data set as CSV (streaming, bounded memory).",
        discussion: """
            In the spirit of scikit-learn's make_classification: Gaussian clusters on hypercube \
            vertices in the informative subspace, redundant linear combinations, noise features, \
            label noise (--flip-y), columns shuffled. Header f0..f{d-1},label.
            """
    )

    @Option(parsing: .unconditional, help: "Number of rows (0 or more).") var rows = 100_000
    @Option(help: "Number of features (informative + redundant + noise).") var features = 50
    @Option(help: "Number of classes.") var classes = 2
    @Option(help: "Informative features (default: 40 % of --features, at least 1; 20 of 50).") var informative: Int?
    @Option(help: "Redundant features, linear combinations of the informative ones (default: 20 % of --features; 10 of 50).")
    var redundant: Int?
    @Option(name: .customLong("clusters-per-class"), help: "Gaussian clusters per class.") var clustersPerClass = 2
    @Option(name: .customLong("class-sep"), help: "Class separation (hypercube half side).") var classSep = 1.0
    @Option(name: .customLong("flip-y"), help: "Fraction of labels replaced at random.") var flipY = 0.01
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(name: .shortAndLong, help: "Output CSV path, or - for standard output.") var out = "data.csv"

    func validate() throws {
        try OptionRange.atLeast(rows, 0, "--rows")
    }

    func run() throws {
        var c = SyntheticClassification.Configuration()
        let counts = SyntheticClassification.Configuration.scaledCounts(
            features: features, classes: classes,
            clustersPerClass: clustersPerClass,
            informative: informative, redundant: redundant)
        c.features = features
        c.classes = classes
        c.informative = counts.informative
        c.redundant = counts.redundant
        c.clustersPerClass = clustersPerClass
        c.classSeparation = classSep
        c.flipY = flipY
        c.seed = seed
        let problem: SyntheticClassification
        do { problem = try SyntheticClassification(c) } catch let e as ForestError { throw ValidationError(e.message) }
        if out == "-" {
            try problem.writeCSV(rows: rows) { try Output.write($0) }
            return
        }
        let writer = try AtomicFileWriter(path: out)
        do {
            try problem.writeCSV(rows: rows) { try writer.append($0) }
            try writer.commit()
        } catch {
            writer.abort()
            throw error
        }
        writeStandardError("wrote \(rows) rows × \(features) features (\(classes) classes, seed \(seed)) to \(out)\n")
    }
}
