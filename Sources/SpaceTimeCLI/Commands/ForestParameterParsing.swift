import ArgumentParser
import Forest
import Foundation

/// Which column is the label, what to learn, and how to read the other columns; shared
/// by `train`, `coordinator` and `local` so that one file gives one schema everywhere.
struct ColumnFlags: ParsableArguments {
    @Option(help: "Label column name (default: the last column).") var label: String?
    @Option(
        help:
            "What to learn: classification, regression, or auto (text or ≤ 20 distinct integers: classification; other numbers: regression; the choice and its reason are printed)."
    )
    var task: TaskChoice = .auto
    @Option(help: ArgumentHelp("Columns to read as categorical even when they hold numbers (comma-separated).", valueName: "names"))
    var categorical: String?
    @Option(help: ArgumentHelp("Columns to leave out (ids, free text; comma-separated).", valueName: "names"))
    var ignore: String?

    var choices: ColumnChoices {
        var c = ColumnChoices(target: label)
        c.task = task
        c.categorical = Self.names(categorical)
        c.ignore = Self.names(ignore)
        return c
    }

    static func names(_ list: String?) -> [String] {
        (list ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// The forest's learning flags, shared by `train`, `coordinator` and `local` so that
/// the same flags give the same model (and fingerprint) in one process or many.
struct ForestParameterFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: "Number of trees, 1...1000000.") var trees = 100
    @Option(
        name: .customLong("max-depth"), parsing: .unconditional,
        help:
            "Maximum tree depth, at least 1 (default: unlimited, or the depth that keeps the model within the scoring budget of the memory limit)."
    ) var maxDepth: Int?
    @Option(name: .customLong("min-samples-split"), parsing: .unconditional, help: "Minimum rows to split a node, 2...4294967295.")
    var minSamplesSplit = 2
    @Option(name: .customLong("min-samples-leaf"), parsing: .unconditional, help: "Minimum rows in a leaf, 1...4294967295 (default 1).")
    var minSamplesLeaf: Int?
    @Option(
        name: .customLong("max-features"),
        help: "Features per split: auto (sqrt for classification, all for regression), sqrt, log2, all, a fraction or a count.")
    var maxFeatures: MaxFeatures = .auto
    @Option(help: "Split criterion.") var criterion: SplitCriterion = .gini
    @Option(name: .customLong("class-weight"), help: "Class weighting (balanced: rows of class c weigh n / (classes × n_c)).")
    var classWeight: ClassWeighting = .none
    @Flag(name: .customLong("no-bootstrap"), help: "Grow every tree on all rows.") var noBootstrap = false
    @Option(help: "Random seed (split, bootstrap, features).") var seed: UInt64 = 42
    @Option(
        name: .customLong("min-category-rows"), parsing: .unconditional,
        help: "Rows a categorical level needs in a node to be split off there, 1...4294967295 (1: every level).")
    var minCategoryRows = 10

    func validate() throws {
        try OptionRange.check(trees, 1...ForestParameters.maxTrees, "--trees")
        if let maxDepth { try OptionRange.atLeast(maxDepth, 1, "--max-depth") }
        try OptionRange.check(minSamplesSplit, 2...Int(UInt32.max), "--min-samples-split")
        if let minSamplesLeaf { try OptionRange.check(minSamplesLeaf, 1...Int(UInt32.max), "--min-samples-leaf") }
        try OptionRange.check(minCategoryRows, 1...Int(UInt32.max), "--min-category-rows")
        _ = try parameters()
    }

    /// Whether `--max-depth` or `--min-samples-leaf` was given: then the tree-size rule
    /// (``TreeSizeRule``) only warns.
    var treeSizeGiven: Bool { maxDepth != nil || minSamplesLeaf != nil }

    /// The parameters these flags describe; every bad value is a `ValidationError` naming its flag.
    func parameters() throws -> ForestParameters {
        var p = ForestParameters()
        p.trees = trees
        p.maxDepth = maxDepth
        p.minSamplesSplit = minSamplesSplit
        p.minSamplesLeaf = minSamplesLeaf ?? 1
        p.maxFeatures = maxFeatures
        p.criterion = criterion
        p.classWeighting = classWeight
        p.bootstrap = !noBootstrap
        p.seed = seed
        p.minCategoryRows = minCategoryRows
        do { try p.validate() } catch { throw ValidationError("\(error)") }
        return p
    }
}
