import Forest
import Foundation
import SpaceTime
import SwiftProtobuf

/// An export that cannot be made, with what to do about it.
public struct OnnxExportError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable, Equatable {
        /// The model holds something the chosen operator set cannot express.
        case unsupportedModel
        /// An option is out of range or inconsistent with the model.
        case invalidOption
        /// Reading the level file or writing the output failed.
        case io
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Choices of an ONNX export.
public struct OnnxExportOptions: Sendable {
    /// The ai.onnx.ml operator set: 3 (`TreeEnsembleClassifier` / `TreeEnsembleRegressor`)
    /// or 5 (`TreeEnsemble`, needed for categorical level-set splits); nil picks 3 unless
    /// the forest has a categorical split.
    public var mlOpset: Int?
    /// Per feature (extractor order), the texts of the levels the model keeps as "other"
    /// hashes only (``OnnxExporter/otherLevelTexts(model:csvPath:)``); missing entries
    /// leave those levels out of the graph, where they read as missing.
    public var otherLevelTexts: [Int: [String]]
    /// Written as the model's producer version.
    public var producerVersion: String

    public init(mlOpset: Int? = nil, otherLevelTexts: [Int: [String]] = [:], producerVersion: String = "") {
        self.mlOpset = mlOpset
        self.otherLevelTexts = otherLevelTexts
        self.producerVersion = producerVersion
    }
}

/// What an export wrote: the file's bytes and its interface.
public struct OnnxExport: Sendable {
    /// The serialized `ModelProto`.
    public let bytes: [UInt8]
    /// The ai.onnx.ml opset the file imports (3 or 5).
    public let mlOpset: Int
    /// The tree operator used (`TreeEnsembleClassifier`, `TreeEnsembleRegressor`, `TreeEnsemble`).
    public let treeOperator: String
    /// Graph inputs in model feature order: name and element type (`double` or `string`), each `[N, 1]`.
    public let inputs: [(name: String, type: String)]
    /// Graph outputs: name, element type and shape.
    public let outputs: [(name: String, type: String, shape: String)]
    /// Per categorical feature with "other" levels: (feature name, hashes with a text, hashes without one).
    public let otherLevels: [(feature: String, mapped: Int, unmapped: Int)]
}

/// Turns a ``ForestModel`` into an ONNX model that onnxruntime scores as SpaceTime does.
///
/// Graph: one input per feature column, named as in the CSV (`double [N, 1]` numeric, NaN
/// missing; `string [N, 1]` categorical, mapped to level codes with `LabelEncoder`: kept
/// levels 0…k−1, "other" levels k, anything else NaN = missing), concatenated into
/// `double [N, F]`, then the tree operator with double thresholds (`x <= edges[b]`), the
/// learned missing side (`nodes_missing_value_tracks_true`) and leaf values folded with the
/// tree weights, then the same division or renormalisation as
/// ``RandomForest/predict(binned:threads:)``. Outputs: `label [N]` (int64 when every class
/// label is an integer, else string) and `probabilities float [N, C]`, or `value float [N, 1]`.
public enum OnnxExporter {
    /// The default (ai.onnx) operator set the graph imports.
    static let defaultOpset: Int64 = 13
    static let irVersion: Int64 = 8

    /// Exports `model`. Refuses a model with a feature derivation, an opset that cannot
    /// express its splits, and output names taken by an input column.
    public static func export(_ model: ForestModel, options: OnnxExportOptions = OnnxExportOptions()) throws(OnnxExportError) -> OnnxExport
    {
        let built = try build(model, options: options)
        let bytes: [UInt8]
        do { bytes = try built.proto.serializedBytes() } catch {
            throw OnnxExportError(.io, "cannot serialize the ONNX model: \(error)")
        }
        return OnnxExport(
            bytes: bytes, mlOpset: built.mlOpset, treeOperator: built.treeOperator, inputs: built.inputs,
            outputs: built.outputs, otherLevels: built.otherLevels)
    }

    /// Whether any tree of `forest` splits on a level set.
    public static func hasCategoricalSplits(_ forest: RandomForest) -> Bool {
        forest.trees.contains { $0.categoricalSplitCount > 0 }
    }

    struct Built {
        var proto: Onnx_ModelProto
        var mlOpset: Int
        var treeOperator: String
        var inputs: [(name: String, type: String)]
        var outputs: [(name: String, type: String, shape: String)]
        var otherLevels: [(feature: String, mapped: Int, unmapped: Int)]
    }

    static func build(_ model: ForestModel, options: OnnxExportOptions) throws(OnnxExportError) -> Built {
        let extractor = model.extractor
        let forest = model.forest
        guard extractor.derivationIdentifier.isEmpty else {
            throw OnnxExportError(
                .unsupportedModel,
                "the model derives its features with '\(extractor.derivationIdentifier)', code that an ONNX graph does not hold; export a model trained without a derivation"
            )
        }
        guard extractor.featureNames == model.schema.featureNames else {
            throw OnnxExportError(.unsupportedModel, "the model's feature names differ from its input columns")
        }
        let categoricalSplits = hasCategoricalSplits(forest)
        let mlOpset = options.mlOpset ?? (categoricalSplits ? 5 : 3)
        guard mlOpset == 3 || mlOpset == 5 else {
            throw OnnxExportError(.invalidOption, "ai.onnx.ml opset \(mlOpset) is not supported (3 or 5)")
        }
        if mlOpset == 3 && categoricalSplits {
            throw OnnxExportError(
                .unsupportedModel,
                "the forest splits categorical columns on level sets, which ai.onnx.ml opset 3 cannot express; use --ml-opset 5 (TreeEnsemble with BRANCH_MEMBER, onnxruntime 1.21 or later)"
            )
        }
        var graph = GraphBuilder(reserved: extractor.featureNames)
        let outputNames = try reserveOutputs(&graph, task: forest.task)

        // Inputs → X [N, F] double.
        var columns: [String] = []
        var inputs: [(name: String, type: String)] = []
        var otherLevels: [(feature: String, mapped: Int, unmapped: Int)] = []
        for (f, name) in extractor.featureNames.enumerated() {
            if extractor.kinds[f] == .numeric {
                graph.input(name, type: .double, shape: [nil, 1])
                inputs.append((name, "double"))
                columns.append(name)
                continue
            }
            graph.input(name, type: .string, shape: [nil, 1])
            inputs.append((name, "string"))
            let levels = extractor.levels[f]
            let others = options.otherLevelTexts[f] ?? []
            if !extractor.otherLevels[f].isEmpty {
                otherLevels.append((name, others.count, max(0, extractor.otherLevels[f].count - others.count)))
            }
            let keys = levels + others
            let values = levels.indices.map { Float($0) } + Array(repeating: Float(levels.count), count: others.count)
            let codes = graph.fresh("\(name).code")
            graph.node(
                "LabelEncoder", inputs: [name], outputs: [codes], domain: "ai.onnx.ml",
                attributes: [
                    .strings("keys_strings", keys), .floats("values_floats", values), .float("default_float", .nan)
                ])
            let asDouble = graph.fresh("\(name).double")
            graph.node("Cast", inputs: [codes], outputs: [asDouble], attributes: [.int("to", DataType.double.rawValue)])
            columns.append(asDouble)
        }
        let features = graph.fresh("features")
        graph.node("Concat", inputs: columns, outputs: [features], attributes: [.int("axis", 1)])

        let scaling = OnnxLeafScaling(forest)
        let C = forest.outputWidth
        let labels = classLabels(extractor.classes)
        let treeOperator: String
        var outputs: [(name: String, type: String, shape: String)] = []
        if mlOpset == 3 {
            let arrays = try ClassicTreeArrays(model: model, scaling: scaling)
            var attributes: [Attribute] = [
                .ints("nodes_treeids", arrays.treeIds), .ints("nodes_nodeids", arrays.nodeIds),
                .ints("nodes_featureids", arrays.featureIds), .strings("nodes_modes", arrays.modes),
                .tensor("nodes_values_as_tensor", .doubles(arrays.values)),
                .ints("nodes_truenodeids", arrays.trueNodeIds), .ints("nodes_falsenodeids", arrays.falseNodeIds),
                .ints("nodes_missing_value_tracks_true", arrays.missingTracksTrue),
                .string("post_transform", "NONE")
            ]
            if forest.task == .classification {
                treeOperator = "TreeEnsembleClassifier"
                // onnxruntime decides a two-class label by `p1 > 0.5` on its internal sum
                // (`p1 > 0` when both classes carry weights), not by the argmax SpaceTime
                // takes (first class on ties); a third class that no leaf scores keeps it on
                // the argmax path. It is sliced off the probabilities.
                let declared = C == 2 ? labels.withUnusedClass() : labels
                attributes += [
                    .ints("class_treeids", arrays.leafTreeIds), .ints("class_nodeids", arrays.leafNodeIds),
                    .ints("class_ids", arrays.leafTargetIds), .tensor("class_weights_as_tensor", .doubles(arrays.leafWeights)),
                    declared.attribute
                ]
                let scores = graph.fresh("scores")
                graph.node(
                    treeOperator, inputs: [features], outputs: [outputNames.label, scores], domain: "ai.onnx.ml", attributes: attributes)
                var probabilities = scores
                if declared.count > C {
                    probabilities = graph.fresh("scores.classes")
                    graph.node(
                        "Slice",
                        inputs: [
                            scores, graph.constant(.int64s([0])), graph.constant(.int64s([Int64(C)])),
                            graph.constant(.int64s([1]))
                        ], outputs: [probabilities])
                }
                finishProbabilities(&graph, probabilities, scaling: scaling, type: .float, into: outputNames.probabilities)
                outputs = [(outputNames.label, labels.typeName, "[N]"), (outputNames.probabilities, "float", "[N, \(C)]")]
                graph.output(outputNames.label, type: labels.dataType, shape: [nil])
                graph.output(outputNames.probabilities, type: .float, shape: [nil, C])
            } else {
                treeOperator = "TreeEnsembleRegressor"
                let aggregate: String
                if case .divideSum = scaling { aggregate = "AVERAGE" } else { aggregate = "SUM" }
                attributes += [
                    .ints("target_treeids", arrays.leafTreeIds), .ints("target_nodeids", arrays.leafNodeIds),
                    .ints("target_ids", arrays.leafTargetIds), .tensor("target_weights_as_tensor", .doubles(arrays.leafWeights)),
                    .int("n_targets", 1), .string("aggregate_function", aggregate)
                ]
                graph.node(treeOperator, inputs: [features], outputs: [outputNames.value], domain: "ai.onnx.ml", attributes: attributes)
                graph.output(outputNames.value, type: .float, shape: [nil, 1])
                outputs = [(outputNames.value, "float", "[N, 1]")]
            }
        } else {
            treeOperator = "TreeEnsemble"
            let arrays = try EnsembleTreeArrays(model: model, scaling: scaling)
            var attributes: [Attribute] = [
                .int("n_targets", Int64(C)), .int("aggregate_function", 1), .int("post_transform", 0),
                .ints("tree_roots", arrays.treeRoots), .ints("nodes_featureids", arrays.featureIds),
                .tensor("nodes_modes", .uint8s(arrays.modes)), .tensor("nodes_splits", .doubles(arrays.splits)),
                .ints("nodes_truenodeids", arrays.trueIds), .ints("nodes_trueleafs", arrays.trueLeafs),
                .ints("nodes_falsenodeids", arrays.falseIds), .ints("nodes_falseleafs", arrays.falseLeafs),
                .ints("nodes_missing_value_tracks_true", arrays.missingTracksTrue),
                .ints("leaf_targetids", arrays.leafTargetIds), .tensor("leaf_weights", .doubles(arrays.leafWeights))
            ]
            if !arrays.membershipValues.isEmpty { attributes.append(.tensor("membership_values", .doubles(arrays.membershipValues))) }
            let sums = graph.fresh("sums")
            graph.node(treeOperator, inputs: [features], outputs: [sums], domain: "ai.onnx.ml", attributes: attributes)
            let predictions = graph.fresh("predictions")
            if forest.task == .classification {
                finishProbabilities(&graph, sums, scaling: scaling, type: .double, into: predictions)
                let index = graph.fresh("class_index")
                graph.node("ArgMax", inputs: [predictions], outputs: [index], attributes: [.int("axis", 1), .int("keepdims", 0)])
                graph.node(
                    "Gather", inputs: [graph.constant(labels.tensor), index], outputs: [outputNames.label],
                    attributes: [.int("axis", 0)])
                graph.node(
                    "Cast", inputs: [predictions], outputs: [outputNames.probabilities],
                    attributes: [.int("to", DataType.float.rawValue)])
                graph.output(outputNames.label, type: labels.dataType, shape: [nil])
                graph.output(outputNames.probabilities, type: .float, shape: [nil, C])
                outputs = [(outputNames.label, labels.typeName, "[N]"), (outputNames.probabilities, "float", "[N, \(C)]")]
            } else {
                finishProbabilities(&graph, sums, scaling: scaling, type: .double, into: predictions, renormalise: false)
                graph.node("Cast", inputs: [predictions], outputs: [outputNames.value], attributes: [.int("to", DataType.float.rawValue)])
                graph.output(outputNames.value, type: .float, shape: [nil, 1])
                outputs = [(outputNames.value, "float", "[N, 1]")]
            }
        }

        var proto = Onnx_ModelProto()
        proto.irVersion = irVersion
        proto.producerName = "spacetime"
        proto.producerVersion = options.producerVersion
        proto.domain = "ai.spacetime"
        proto.modelVersion = 1
        proto.docString =
            "SpaceTime random forest (\(forest.task.rawValue), \(forest.trees.count) trees) exported with \(treeOperator), ai.onnx.ml opset \(mlOpset)"
        proto.opsetImport = [opset("", defaultOpset), opset("ai.onnx.ml", Int64(mlOpset))]
        proto.metadataProps = [
            entry("spacetime.fingerprint", model.fingerprintHex),
            entry("spacetime.task", forest.task.rawValue),
            entry("spacetime.label_column", model.labelColumn),
            entry("spacetime.trees", String(forest.trees.count))
        ]
        proto.graph = graph.graph(name: "spacetime_forest")
        return Built(
            proto: proto, mlOpset: mlOpset, treeOperator: treeOperator, inputs: inputs, outputs: outputs,
            otherLevels: otherLevels)
    }

    /// Divides the summed leaf values by the tree count, or renormalises weighted
    /// probabilities to sum 1, as SpaceTime's scorer does.
    private static func finishProbabilities(
        _ graph: inout GraphBuilder, _ sums: String, scaling: OnnxLeafScaling,
        type: DataType, into output: String, renormalise: Bool = true
    ) {
        switch scaling {
        case .divideSum(let trees):
            let count: TensorValue = type == .float ? .floats([Float(trees)]) : .doubles([Double(trees)])
            graph.node("Div", inputs: [sums, graph.constant(count)], outputs: [output])
        case .treeWeights where renormalise:
            let total = graph.fresh("\(sums).total")
            graph.node("ReduceSum", inputs: [sums, graph.constant(.int64s([1]))], outputs: [total], attributes: [.int("keepdims", 1)])
            graph.node("Div", inputs: [sums, total], outputs: [output])
        case .treeWeights:
            graph.node("Identity", inputs: [sums], outputs: [output])
        }
    }

    private static func reserveOutputs(_ graph: inout GraphBuilder, task: TaskKind) throws(OnnxExportError) -> (
        label: String, probabilities: String, value: String
    ) {
        let wanted = task == .classification ? ["label", "probabilities"] : ["value"]
        for name in wanted where graph.isTaken(name) {
            throw OnnxExportError(
                .unsupportedModel,
                "feature column \(quoteForMessage(name)) has the name of the ONNX model's output '\(name)'; graph inputs and outputs must differ (retrain with the column renamed)"
            )
        }
        for name in wanted { graph.reserve(name) }
        return ("label", "probabilities", "value")
    }

    private static func opset(_ domain: String, _ version: Int64) -> Onnx_OperatorSetIdProto {
        var o = Onnx_OperatorSetIdProto()
        o.domain = domain
        o.version = version
        return o
    }

    private static func entry(_ key: String, _ value: String) -> Onnx_StringStringEntryProto {
        var e = Onnx_StringStringEntryProto()
        e.key = key
        e.value = value
        return e
    }

    /// The classes as ONNX labels: int64 when every label is an integer's canonical text.
    static func classLabels(_ classes: [String]) -> ClassLabels {
        let numbers = classes.map { Int64($0) }
        if !classes.isEmpty, zip(classes, numbers).allSatisfy({ $1 != nil && String($1!) == $0 }) {
            return .int64s(numbers.map { $0! })
        }
        return .strings(classes)
    }

    /// Reads `csvPath` (a file with the model's categorical columns, normally its training
    /// data) and returns, per categorical feature with "other" levels, the texts whose
    /// ``LevelHash`` is one of them: the model keeps those levels as hashes only.
    public static func otherLevelTexts(model: ForestModel, csvPath: String) throws(OnnxExportError) -> [Int: [String]] {
        let extractor = model.extractor
        let wanted = extractor.featureNames.indices.filter { extractor.kinds[$0] == .categorical && !extractor.otherLevels[$0].isEmpty }
        guard !wanted.isEmpty else { return [:] }
        do {
            let reader = try CSVReader(path: csvPath)
            defer { reader.close() }
            let schema = try model.schema.relocated(header: reader.header, file: csvPath)
            var pending = Dictionary(uniqueKeysWithValues: wanted.map { ($0, Set(extractor.otherLevels[$0])) })
            var found: [Int: [String]] = [:]
            while let record = try reader.next() {
                for f in wanted where !(pending[f]?.isEmpty ?? true) {
                    let column = schema.featureIndices[f]
                    record.withField(at: column) { bytes in
                        guard !record.isMissingToken(bytes) else { return }
                        let hash = UInt64(LevelHash.of(bytes))
                        guard pending[f]?.remove(hash) != nil else { return }
                        found[f, default: []].append(String(decoding: bytes, as: UTF8.self))
                    }
                }
                if pending.values.allSatisfy(\.isEmpty) { break }
            }
            return found.mapValues { $0.sorted() }
        } catch let error as CSVError {
            throw OnnxExportError(.io, error.description)
        } catch {
            throw OnnxExportError(.io, "\(csvPath): \(error)")
        }
    }
}

/// Class labels as the classifier's attribute and as a constant tensor.
enum ClassLabels: Equatable {
    case strings([String])
    case int64s([Int64])

    var count: Int {
        switch self {
        case .strings(let s): return s.count
        case .int64s(let i): return i.count
        }
    }

    var dataType: DataType { if case .strings = self { return .string } else { return .int64 } }
    var typeName: String { if case .strings = self { return "string" } else { return "int64" } }

    var attribute: Attribute {
        switch self {
        case .strings(let s): return .strings("classlabels_strings", s)
        case .int64s(let i): return .ints("classlabels_int64s", i)
        }
    }

    var tensor: TensorValue {
        switch self {
        case .strings(let s): return .strings(s)
        case .int64s(let i): return .int64s(i)
        }
    }

    /// The labels followed by one that is none of them (empty text is never a class label).
    func withUnusedClass() -> ClassLabels {
        switch self {
        case .strings(let s): return .strings(s + [""])
        case .int64s(let i):
            let used = Set(i)
            var candidate = (i.max() ?? 0) &+ 1
            while used.contains(candidate) { candidate &+= 1 }
            return .int64s(i + [candidate])
        }
    }
}
