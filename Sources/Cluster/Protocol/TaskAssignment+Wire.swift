import Foundation

/// The conversion between ``TaskAssignment`` and its protobuf message: the coordinator sends
/// `WireTaskAssignment`, the worker engine converts it once on arrival, and nothing past
/// that edge reads the wire type.
extension TaskAssignment {
    /// The assignment `a`; a ``ProtocolError`` naming the field when a value has no domain
    /// meaning (an unknown kind or row source, an invalid variant or tree range).
    public init(wire a: WireTaskAssignment) throws(ProtocolError) {
        func invalid(_ field: String, _ detail: String) -> ProtocolError {
            ProtocolError(.outOfRange, detail, messageKind: "assignment", field: field)
        }
        guard let kind = TaskKind(wire: a.kind) else { throw invalid("kind", "task kind \(a.kind.rawValue) is not one this worker runs") }
        guard let variant = TaskVariant(wire: a.hasVariant ? a.variant : nil) else {
            throw invalid("variant", "not a task variant this worker knows")
        }
        let source: RowSource
        switch a.source {
        case .streamed: source = .streamed
        case .localSpill: source = .localSpill
        default: throw invalid("source", "row source \(a.source.rawValue) is not streamed or a local spill")
        }
        let first = Int(a.trees.first)
        let end = Int(a.trees.end)
        guard first <= end else { throw invalid("trees", "range [\(first), \(end)) is reversed") }
        self.init(
            jobID: a.jobID, taskID: a.taskID, attemptID: a.attemptID, kind: kind, partition: Int(a.partition), variant: variant,
            seed: a.seed, parameters: a.parameters,
            schema: CSVSchema(wire: a.schema),
            source: source, spillAttemptID: a.spillAttemptID, expectedRows: a.expectedRows,
            expectedTrainRows: a.expectedTrainRows, expectedTestRows: a.expectedTestRows, trees: first..<end,
            treesInPartition: Int(a.treesInPartition), checkpointEvery: Int(a.checkpointEvery),
            histogramWordsPerBin: Int(a.classes), expectedTreeBytes: a.expectedTreeBytes,
            extractor: a.hasExtractor ? Blob(wire: a.extractor) : nil, model: a.hasModel ? Blob(wire: a.model) : nil)
    }
}

extension TaskAssignment.Blob {
    /// The blob `b` carries; nil when it holds neither bytes nor a reference.
    init?(wire b: WireBlob) {
        switch b.value {
        case .inline(let data)?: self = .inline(data)
        case .ref(let ref)?: self = .reference(digest: ref.digest, size: ref.size)
        case nil: return nil
        }
    }
}

extension TaskAssignment.CSVSchema {
    /// The schema `s` carries.
    public init(wire s: WireCsvSchema) {
        self.init(
            headerRecord: s.headerRecord, labelColumn: Int(s.labelColumn), delimiter: UInt8(truncatingIfNeeded: s.delimiter),
            columnCount: Int(s.columnCount))
    }
}
