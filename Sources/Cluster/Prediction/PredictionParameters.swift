import Forest
import Foundation

/// The opaque `assignment.parameters` of a predict task: where the input came from (for
/// located errors), how its columns feed the model (the model's schema located in the
/// input's header: feature columns and their kinds) and the feature derivation the model
/// records, which the worker applies to each parsed row before scoring.
///
/// What the task sends back is its ``Output``: each row's predictions, or (for `transform
/// --workers`) each row's parsed features and label for the coordinator's shard writer.
///
/// Layout: `STPP`, version 2, then a Forest `ByteWriter` body: source path, schema; version 3
/// (written only for a model with a derivation) adds the derivation's identifier; version 4
/// (only for transform rows) adds it and the output byte.
public struct PredictionParameters: Sendable, Equatable {
    public enum Output: UInt8, Sendable {
        /// Each row's predictions (or a tree slice's partial sums), from the model blob.
        case predictions = 0
        /// Each row's ``TransformRow`` values, with the extractor as the task's blob.
        case transformRows = 1
    }

    /// The input path as the user gave it: errors read `PATH:LINE: column …` as in `spacetime predict`.
    public var source: String
    public var schema: DatasetSchema
    /// The model's feature derivation (``FeatureDerivationRegistry``), empty for none: the
    /// schema's features are its inputs.
    public var derivation: String
    public var output: Output

    public init(source: String, schema: DatasetSchema, derivation: String = "", output: Output = .predictions) {
        self.source = source
        self.schema = schema
        self.derivation = derivation
        self.output = output
    }

    /// CSV column of each model feature, in the model's feature order.
    public var featureIndices: [Int] { schema.featureIndices }

    static let magic: [UInt8] = Array("STPP".utf8)
    static let version: UInt8 = 2
    static let derivationVersion: UInt8 = 3
    static let outputVersion: UInt8 = 4

    public func serialize() -> Data {
        var w = ByteWriter()
        w.write(String(source.utf8.prefix(4096)) ?? "")
        w.write(bytes: schema.serialize())
        let version = output != .predictions ? Self.outputVersion : derivation.isEmpty ? Self.version : Self.derivationVersion
        if version >= Self.derivationVersion { w.write(derivation) }
        if version >= Self.outputVersion { w.write(output.rawValue) }
        return Data(Self.magic + [version] + w.bytes)
    }

    /// Decodes and checks the schema against an input of `columns` columns.
    public init(deserializing data: Data, columns: Int) throws {
        let bytes = [UInt8](data)
        guard bytes.count > 5, Array(bytes[0..<4]) == Self.magic, (Self.version...Self.outputVersion).contains(bytes[4]) else {
            throw PipelineError(.badParameters, "not prediction parameters (STPP version \(Self.version) to \(Self.outputVersion))")
        }
        do {
            var r = ByteReader(bytes, offset: 5, context: "prediction parameters")
            source = try r.readString()
            schema = try DatasetSchema(deserializing: try r.readBytes())
            derivation = bytes[4] >= Self.derivationVersion ? try r.readString() : ""
            output = .predictions
            if bytes[4] >= Self.outputVersion {
                let raw = try r.readByte()
                guard let o = Output(rawValue: raw) else {
                    throw PipelineError(.badParameters, "prediction parameters: unknown output \(raw)")
                }
                output = o
            }
            try r.expectEnd()
        } catch {
            throw PipelineError(.badParameters, "prediction parameters: \(error)")
        }
        guard schema.header.count == columns, schema.featureCount >= 1 else {
            throw PipelineError(
                .badParameters, "prediction parameters: a schema of \(schema.header.count) columns for a \(columns)-column input")
        }
    }
}
