import ArgumentParser
import Forest
import Foundation

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a saved model: classes, features, trees, depth, importances, metrics, parameters, fingerprint."
    )

    @Argument(help: "Model file.") var model: String
    @Flag(help: "Print JSON.") var json = false
    @Option(parsing: .unconditional, help: "Feature importances to list in text mode (0 or more).") var top = 10

    func validate() throws {
        try OptionRange.atLeast(top, 0, "--top")
    }

    func run() throws {
        let m = try ForestModel.load(from: model)
        let trees = m.forest.trees
        let depths = trees.map(\.depth)
        let nodes = trees.map(\.nodeCount)
        let leaves = trees.map(\.leafCount)
        let importances = m.forest.featureImportances
        let names = m.extractor.featureNames
        let storedBytes = trees.reduce(0) { $0 + $1.storedBytes }
        let totalNodes = nodes.reduce(0, +)
        let bytesPerNode = Double(storedBytes) / Double(max(totalNodes, 1))
        let bytesPerTree = Double(storedBytes) / Double(max(trees.count, 1))
        let ranked = importances.indices.sorted { importances[$0] > importances[$1] || (importances[$0] == importances[$1] && $0 < $1) }
        if json {
            let classes = m.extractor.classes
            let report = ModelReport(
                fingerprint: m.fingerprintHex, formatVersion: Int(ForestModel.formatVersion), labelColumn: m.labelColumn,
                task: m.forest.task.rawValue,
                columnKinds: names.indices.map {
                    ModelReport.ColumnKind(name: names[$0], kind: m.extractor.kinds[$0].description, levels: m.extractor.levels[$0])
                },
                ignoredColumns: m.schema.ignoredNames, classes: classes, classCounts: m.extractor.classCounts, features: names,
                constantFeatures: names.indices.filter { m.extractor.constantFeatures[$0] }.map { names[$0] },
                binsPerFeature: names.indices.map(m.extractor.valueBinCount),
                trees: trees.count, nodes: nodes.reduce(0, +), leaves: leaves.reduce(0, +), maxDepth: depths.max() ?? 0,
                meanDepth: Double(depths.reduce(0, +)) / Double(max(trees.count, 1)),
                treeBytes: storedBytes, bytesPerNode: bytesPerNode, bytesPerTree: bytesPerTree,
                featureImportances: names.indices.map { FeatureImportanceReport(feature: names[$0], importance: importances[$0]) },
                parameters: ForestParametersReport(m.parameters, task: m.schema.task), provenance: m.provenance,
                testMetrics: m.testMetrics.map { MetricsReport($0, classes: classes) },
                oobMetrics: m.outOfBagMetrics.map { MetricsReport($0, classes: classes) })
            try writeJSONReport(report, to: nil)
            return
        }
        var s = "model \(model) (format version \(ForestModel.formatVersion))\n"
        s += "fingerprint  \(m.fingerprintHex)\n"
        switch m.extractor.task {
        case .classification(let classes, let counts):
            s +=
                "task         classification; label \(m.labelColumn); classes \(classes.prefix(20).joined(separator: ", ")) (counts \(counts.prefix(20).map(String.init).joined(separator: ", ")))\n"
        case .regression(let y):
            s +=
                "task         regression; label \(m.labelColumn); training target mean \(String(format: "%.6g", y.mean)), sd \(String(format: "%.6g", y.variance.squareRoot())), min \(y.minimum), max \(y.maximum)\n"
        }
        s +=
            "features     \(names.count) (\(m.extractor.kinds.filter { $0 == .categorical }.count) categorical, \(m.extractor.constantFeatures.filter { $0 }.count) constant)\n"
        for f in names.indices {
            let st = m.extractor.statistics[f]
            if m.extractor.kinds[f] == .categorical {
                let levels = m.extractor.levels[f]
                let other = m.extractor.otherLevels[f].count
                s +=
                    "  \(names[f]): categorical, \(levels.count) level(s) kept\(other > 0 ? " + other (\(other) rarer level(s))" : ""), \(st.missing) missing: \(levels.prefix(8).joined(separator: ", "))\(levels.count > 8 ? ", …" : "")\n"
            } else {
                s +=
                    "  \(names[f]): numeric, \(m.extractor.valueBinCount(f)) bin(s), \(st.missing) missing, range [\(st.minimum), \(st.maximum)]\n"
            }
        }
        if !m.schema.ignoredNames.isEmpty { s += "ignored      \(m.schema.ignoredNames.joined(separator: ", "))\n" }
        s +=
            "trees        \(trees.count), \(nodes.reduce(0, +)) nodes, \(leaves.reduce(0, +)) leaves, depth max \(depths.max() ?? 0) mean \(String(format: "%.1f", Double(depths.reduce(0, +)) / Double(max(trees.count, 1))))\n"
        s +=
            "storage      \(storedBytes) bytes of trees: \(String(format: "%.2f", bytesPerNode)) per node, \(Int(bytesPerTree.rounded())) per tree (\(Tree.nodeBytes) per node word, \(4 * m.forest.outputWidth) per leaf, 40 per categorical split)\n"
        let p = m.parameters
        s +=
            "parameters   criterion \(p.criterionName(for: m.schema.task)), max depth \(p.maxDepth.map(String.init) ?? "unlimited"), min samples split \(p.minSamplesSplit), min samples leaf \(p.minSamplesLeaf), max features \(p.maxFeatures), bootstrap \(p.bootstrap), class weight \(p.classWeighting.rawValue), seed \(p.seed)\n"
        for (k, v) in m.provenance.sorted(by: { $0.key < $1.key }) { s += "provenance   \(k): \(v)\n" }
        s +=
            "importances  "
            + ranked.prefix(max(top, 0)).map { "\(names[$0]) \(String(format: "%.4f", importances[$0]))" }.joined(separator: ", ") + "\n"
        if let t = m.testMetrics { s += "test metrics\n" + t.textReport(classes: m.extractor.classes) }
        if let o = m.outOfBagMetrics { s += "out-of-bag " + o.textReport(classes: m.extractor.classes) }
        try Output.print(s, terminator: "")
    }
}
