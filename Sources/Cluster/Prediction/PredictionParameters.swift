import Foundation
import Forest

/// The opaque `assignment.parameters` of a predict task: where the input came from (for
/// located errors), how its columns feed the model (the model's schema located in the
/// input's header: feature columns and their kinds) and the feature derivation the model
/// records, which the worker applies to each parsed row before scoring.
///
/// Layout: `STPP`, version 2, then a Forest `ByteWriter` body: source path, schema; version 3
/// (written only for a model with a derivation) adds the derivation's identifier.
public struct PredictionParameters: Sendable, Equatable {
    /// The input path as the user gave it: errors read `PATH:LINE: column …` as in `spacetime predict`.
    public var source: String
    public var schema: DatasetSchema
    /// The model's feature derivation (``FeatureDerivationRegistry``), empty for none: the
    /// schema's features are its inputs.
    public var derivation: String

    public init(source: String, schema: DatasetSchema, derivation: String = "") {
        self.source = source
        self.schema = schema
        self.derivation = derivation
    }

    /// CSV column of each model feature, in the model's feature order.
    public var featureIndices: [Int] { schema.featureIndices }

    static let magic: [UInt8] = Array("STPP".utf8)
    static let version: UInt8 = 2
    static let derivationVersion: UInt8 = 3

    public func serialize() -> Data {
        var w = ByteWriter()
        w.write(String(source.utf8.prefix(4096)) ?? "")
        w.write(bytes: schema.serialize())
        if !derivation.isEmpty { w.write(derivation) }
        return Data(Self.magic + [derivation.isEmpty ? Self.version : Self.derivationVersion] + w.bytes)
    }

    /// Decodes and checks the schema against an input of `columns` columns.
    public init(deserializing data: Data, columns: Int) throws {
        let bytes = [UInt8](data)
        guard bytes.count > 5, Array(bytes[0..<4]) == Self.magic, bytes[4] == Self.version || bytes[4] == Self.derivationVersion else {
            throw PipelineError(.badParameters, "not prediction parameters (STPP version \(Self.version) or \(Self.derivationVersion))")
        }
        do {
            var r = ByteReader(bytes, offset: 5, context: "prediction parameters")
            source = try r.readString()
            schema = try DatasetSchema(deserializing: try r.readBytes())
            derivation = bytes[4] == Self.derivationVersion ? try r.readString() : ""
            try r.expectEnd()
        } catch {
            throw PipelineError(.badParameters, "prediction parameters: \(error)")
        }
        guard schema.header.count == columns, schema.featureCount >= 1 else {
            throw PipelineError(.badParameters, "prediction parameters: a schema of \(schema.header.count) columns for a \(columns)-column input")
        }
    }
}
