import SpaceTime

extension TaskFailure.Reason {
    /// The reason a wire value stands for; nil for an unspecified or unknown value.
    public init?(wire: WireFailureReason) {
        switch wire {
        case .badInput: self = .badInput
        case .memoryBudget: self = .memoryBudget
        case .io: self = .io
        case .protocol: self = .protocol
        case .internal: self = .internal
        case .cancelled: self = .cancelled
        case .spillMissing: self = .spillMissing
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }

    /// The wire form. Bad parameters travel as bad input: both are final, and the protocol
    /// has no value of its own for them.
    public var wire: WireFailureReason {
        switch self {
        case .badInput, .badParameters: .badInput
        case .memoryBudget: .memoryBudget
        case .io: .io
        case .protocol: .protocol
        case .internal: .internal
        case .cancelled: .cancelled
        case .spillMissing: .spillMissing
        }
    }
}

extension TaskFailure {
    /// A worker's `task_failed` report: its reason (internal when unknown), message, line and
    /// column (0: unknown; the file is named in the message) and `retryable`. Bad input is
    /// final whatever the flag says.
    public init(wire: WireTaskFailed) {
        let reason = Reason(wire: wire.reason) ?? .internal
        let location =
            wire.line == 0 && wire.column == 0
            ? nil
            : Location(line: wire.line == 0 ? nil : Int(clamping: wire.line), column: wire.column == 0 ? nil : Int(wire.column))
        self.init(reason, wire.message, location: location, retryable: wire.retryable && reason != .badInput)
    }

    /// The `task_failed` report of this failure for the attempt: reason, message, line and
    /// column (0 when unknown) and `retryable`.
    public func wire(taskID: UInt64, attemptID: UInt64, peakRSS: UInt64) -> WireTaskFailed {
        var f = WireTaskFailed()
        f.taskID = taskID
        f.attemptID = attemptID
        f.reason = reason.wire
        f.message = message
        f.line = location?.line.map { UInt64(clamping: $0) } ?? 0
        f.column = location?.column.map { UInt32(clamping: $0) } ?? 0
        f.retryable = retryable
        f.peakRssBytes = peakRSS
        return f
    }
}
