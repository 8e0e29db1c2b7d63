/// The protocol version this build speaks. Peers with another version are rejected.
public enum ProtocolVersion {
    public static let current: UInt32 = 1
}

/// Bounds every decoded message is checked against. Set `ZMQ_MAXMSGSIZE` to
/// `max(maxHeaderBytes, maxPayloadBytes)` so oversized frames never reach Swift.
public struct ProtocolLimits: Sendable, Hashable {
    /// Largest header (`Envelope`) frame, bytes.
    public var maxHeaderBytes: Int = 1 << 20
    /// Largest payload frame, bytes.
    public var maxPayloadBytes: Int = 64 << 20
    /// Largest blob carried inline in a header; larger ones go by reference.
    public var maxInlineBlobBytes: Int = 512 << 10
    /// Most records in one `RowBatch`.
    public var maxRowsPerBatch: Int = 1 << 16
    /// Most trees in one checkpoint.
    public var maxTreesPerCheckpoint: Int = 4096
    /// Most classes in class counts.
    public var maxClasses: Int = 1 << 16
    /// Most entries in `Heartbeat.running` and `Hello.held`.
    public var maxListEntries: Int = 1 << 16
    /// Longest identifier (worker id, job id), bytes.
    public var maxIdentifierBytes: Int = 128
    /// Longest host name, bytes.
    public var maxHostBytes: Int = 255
    /// Longest free-text field (reasons, messages), bytes.
    public var maxTextBytes: Int = 4096
    /// Longest CSV header record, bytes.
    public var maxHeaderRecordBytes: Int = 1 << 20
    /// Allowed lease lengths, milliseconds.
    public var leaseRangeMs: ClosedRange<UInt32> = 100...86_400_000
    /// Allowed heartbeat intervals, milliseconds.
    public var heartbeatRangeMs: ClosedRange<UInt32> = 10...600_000
    /// Most cores a worker may announce.
    public var maxCores: UInt32 = 4096

    public init() {}

    /// The value for `ZMQ_MAXMSGSIZE`.
    public var maxFrameBytes: Int { max(maxHeaderBytes, maxPayloadBytes) }
}
