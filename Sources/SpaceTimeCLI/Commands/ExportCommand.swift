import ArgumentParser
import Forest
import ForestExport
import Foundation
import SpaceTime

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a saved model for other runtimes (ONNX, for onnxruntime).",
        discussion: """
            Writes an ONNX model that onnxruntime scores as 'spacetime predict' does. Inputs: one per \
            feature column, named as in the CSV, each [N, 1]: numeric columns as double (missing = NaN), \
            text columns as string (levels mapped inside the graph with LabelEncoder; a level not seen \
            in training, or a missing token, reads as missing). Outputs: 'label' [N] (int64 when every \
            class label is an integer, else string) and 'probabilities' float [N, classes], or 'value' \
            float [N, 1] for regression.

            Operators: a forest without categorical level-set splits uses TreeEnsembleClassifier / \
            TreeEnsembleRegressor (ai.onnx.ml opset 3, double thresholds; onnxruntime 1.15 to 1.32 \
            tested); a forest with them uses TreeEnsemble with BRANCH_MEMBER (ai.onnx.ml opset 5: \
            onnxruntime 1.21 or later, 1.24 or later for columns with many levels, which 1.21 and 1.22 \
            take minutes to load; a classification tree is written once per class). --ml-opset 5 also \
            exports a numeric forest with TreeEnsemble.

            A categorical column's rare levels share one "other" bin, and the model keeps them as \
            hashes only: when a column has any, pass --levels-from with the training data (or any CSV \
            holding those levels) so the graph can map their texts, or --other-as-missing to let them \
            read as missing (their predictions may then differ from SpaceTime's).
            """
    )

    /// `--format`: the file formats a model exports to.
    enum Format: String, CaseIterable, ExpressibleByArgument {
        case onnx
    }

    @Argument(help: "Model file written by 'spacetime train' or 'spacetime local'.") var model: String
    @Option(help: "Export format.") var format: Format = .onnx
    @Option(name: .shortAndLong, help: "Output file.") var out = "model.onnx"
    @Option(
        name: .customLong("ml-opset"), parsing: .unconditional,
        help:
            "ai.onnx.ml operator set: 3 (TreeEnsembleClassifier/Regressor) or 5 (TreeEnsemble); default 3, or 5 when the forest has categorical splits."
    )
    var mlOpset: Int?
    @Option(
        name: .customLong("levels-from"),
        help: "CSV with the model's categorical columns (the training data): the texts of its 'other' levels are read from it.")
    var levelsFrom: String?
    @Flag(name: .customLong("other-as-missing"), help: "Export without the texts of 'other' levels; those levels read as missing.")
    var otherAsMissing = false
    @Flag(help: "Print what was written as JSON.") var json = false

    func validate() throws {
        if let mlOpset, mlOpset != 3 && mlOpset != 5 { throw ValidationError("--ml-opset must be 3 or 5, got \(mlOpset)") }
        if levelsFrom != nil && otherAsMissing { throw ValidationError("--levels-from and --other-as-missing exclude each other") }
        try OutputPaths.refuseOverwrite(outputs: [("--out", out)], inputs: [("model", model), ("--levels-from", levelsFrom)])
        try probeWritable([("--out", out)])
    }

    func run() throws {
        let m = try ForestModel.load(from: model)
        let extractor = m.extractor
        let withOthers = extractor.featureNames.indices.filter { extractor.kinds[$0] == .categorical && !extractor.otherLevels[$0].isEmpty }
        var options = OnnxExportOptions(mlOpset: mlOpset, producerVersion: SpaceTimeVersion.string)
        if let levelsFrom {
            options.otherLevelTexts = try OnnxExporter.otherLevelTexts(model: m, csvPath: levelsFrom)
        } else if !withOthers.isEmpty && !otherAsMissing {
            let list = withOthers.map { "\(quoteForMessage(extractor.featureNames[$0])) (\(extractor.otherLevels[$0].count))" }
            throw OnnxExportError(
                .invalidOption,
                """
                model \(model): categorical column(s) \(list.joined(separator: ", ")) group rare levels as "other", \
                which the model keeps as hashes only; pass --levels-from TRAIN.csv (the training data) so the ONNX \
                graph can map their texts, or --other-as-missing to let them read as missing
                """)
        }
        let export = try OnnxExporter.export(m, options: options)
        do {
            let writer = try AtomicFileWriter(path: out)
            do {
                try writer.append(export.bytes)
                try writer.commit()
            } catch {
                writer.abort()
                throw error
            }
        } catch {
            throw OutputWriteError(what: "--out \(out)", errno: (error as? SystemError)?.errno ?? EIO)
        }
        if json {
            let report = ExportReport(
                out: out, bytes: export.bytes.count, treeOperator: export.treeOperator, mlOpset: export.mlOpset,
                fingerprint: m.fingerprintHex,
                inputs: export.inputs.map { ExportReport.Tensor(name: $0.name, type: $0.type, shape: "[N, 1]") },
                outputs: export.outputs.map { ExportReport.Tensor(name: $0.name, type: $0.type, shape: $0.shape) },
                otherLevels: export.otherLevels.map {
                    ExportReport.OtherLevels(feature: $0.feature, mapped: $0.mapped, unmapped: $0.unmapped)
                })
            try writeJSONReport(report, to: nil)
            return
        }
        var s =
            "wrote \(out) (\(export.bytes.count) bytes): \(export.treeOperator), ai.onnx.ml opset \(export.mlOpset), \(m.forest.trees.count) trees, model \(m.fingerprintHex)\n"
        let numeric = export.inputs.filter { $0.type == "double" }.count
        s += "inputs   \(export.inputs.count) ([N, 1] each: \(numeric) double, \(export.inputs.count - numeric) string): "
        s +=
            export.inputs.prefix(12).map { "\($0.name) \($0.type)" }.joined(separator: ", ") + (export.inputs.count > 12 ? ", …" : "")
            + "\n"
        s += "outputs  " + export.outputs.map { "\($0.name) \($0.type) \($0.shape)" }.joined(separator: ", ") + "\n"
        for o in export.otherLevels {
            s +=
                "levels   \(o.feature): \(o.mapped) 'other' level text(s) mapped"
                + (o.unmapped > 0 ? ", \(o.unmapped) not found (read as missing)" : "") + "\n"
        }
        try Output.print(s, terminator: "")
    }
}
