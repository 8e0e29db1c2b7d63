import Foundation
import SwiftProtobuf

/// Which way a message travels; each body is allowed in one direction only
/// (`heartbeat` in both).
public enum WireDirection: Sendable, Hashable {
    case toCoordinator
    case toWorker
}

/// One protocol message: the header `Envelope` plus the optional payload frame.
///
/// On the wire it is `[header]` or `[header][payload]` after the ROUTER routing
/// id. Bulk bytes (CSV records, trees, blobs) live only in `payload`.
public struct WireMessage: Sendable {
    public var envelope: WireEnvelope
    public var payload: Data?

    public init(_ body: WireEnvelope.OneOf_Body, payload: Data? = nil, seq: UInt64 = 0, session: UInt64 = 0) {
        var envelope = WireEnvelope()
        envelope.body = body
        envelope.seq = seq
        envelope.session = session
        self.envelope = envelope
        self.payload = payload
    }

    public init(envelope: WireEnvelope, payload: Data?) {
        self.envelope = envelope
        self.payload = payload
    }

    public var body: WireEnvelope.OneOf_Body? { envelope.body }

    /// The body's protobuf field name ("row_batch", …), for logs.
    public var kind: String { envelope.body.map(WireMessage.kindName) ?? "empty" }

    /// Header (and payload) frames, ready for a multipart send.
    public func encodeFrames() throws(ProtocolError) -> [Data] {
        let header: Data
        do {
            header = try envelope.serializedData()
        } catch {
            throw ProtocolError(.malformedHeader, "cannot encode: \(error)", messageKind: kind)
        }
        if let payload { return [header, payload] }
        return [header]
    }

    /// Decodes and structurally validates `frames` (routing id already removed)
    /// that arrived travelling `direction`. Stateful checks (session, sequence,
    /// leases) are `PeerSession`'s.
    public static func decode(
        frames: [Data], direction: WireDirection,
        limits: ProtocolLimits = ProtocolLimits()
    ) throws(ProtocolError) -> WireMessage {
        guard frames.count == 1 || frames.count == 2 else {
            throw ProtocolError(.frameCount, "expected 1 or 2 frames, got \(frames.count)")
        }
        let header = frames[0]
        guard header.count <= limits.maxHeaderBytes else {
            throw ProtocolError(.tooLarge, "header of \(header.count) bytes exceeds \(limits.maxHeaderBytes)")
        }
        if frames.count == 2, frames[1].count > limits.maxPayloadBytes {
            throw ProtocolError(.tooLarge, "payload of \(frames[1].count) bytes exceeds \(limits.maxPayloadBytes)")
        }
        let envelope: WireEnvelope
        do {
            envelope = try WireEnvelope(serializedBytes: header)
        } catch {
            throw ProtocolError(.malformedHeader, "undecodable header of \(header.count) bytes: \(error)")
        }
        let message = WireMessage(envelope: envelope, payload: frames.count == 2 ? frames[1] : nil)
        try MessageValidator(limits: limits).validate(message, direction: direction)
        return message
    }

    static func kindName(_ body: WireEnvelope.OneOf_Body) -> String {
        switch body {
        case .hello: "hello"
        case .welcome: "welcome"
        case .reject: "reject"
        case .heartbeat: "heartbeat"
        case .assignment: "assignment"
        case .started: "started"
        case .rowBatch: "row_batch"
        case .rowsEnd: "rows_end"
        case .credit: "credit"
        case .checkpoint: "checkpoint"
        case .checkpointAck: "checkpoint_ack"
        case .done: "done"
        case .failed: "failed"
        case .cancel: "cancel"
        case .shutdown: "shutdown"
        case .goodbye: "goodbye"
        case .blobRequest: "blob_request"
        case .blobChunk: "blob_chunk"
        case .predictionBatch: "prediction_batch"
        }
    }
}
