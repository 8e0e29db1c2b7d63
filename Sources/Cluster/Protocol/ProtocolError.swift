import SpaceTime

/// A message that failed validation. The receiver logs it with the peer and
/// drops the message; it never crashes or stalls on one.
public struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of violation this is; stable across versions, for tests and metrics.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Not one or two frames after the routing id.
        public static let frameCount = Code("frameCount")
        /// The header or payload frame is larger than the limits allow.
        public static let tooLarge = Code("tooLarge")
        /// The header frame is not a decodable `Envelope`.
        public static let malformedHeader = Code("malformedHeader")
        /// The envelope has no body (or one from a newer protocol).
        public static let missingBody = Code("missingBody")
        /// A payload frame is missing, present when it must not be, or disagrees with the header.
        public static let payloadMismatch = Code("payloadMismatch")
        /// A required field is zero or empty.
        public static let missingField = Code("missingField")
        /// A number or string is outside its allowed range.
        public static let outOfRange = Code("outOfRange")
        /// An enum field holds an unspecified or unknown value.
        public static let invalidEnum = Code("invalidEnum")
        /// The message may not travel in this direction.
        public static let wrongDirection = Code("wrongDirection")
        /// The peer speaks another protocol version.
        public static let versionMismatch = Code("versionMismatch")
        /// The envelope's session is not the peer's current session.
        public static let sessionMismatch = Code("sessionMismatch")
        /// The envelope sequence number did not increase.
        public static let sequenceNotIncreasing = Code("sequenceNotIncreasing")
        /// A batch number is not the next one expected for its attempt.
        public static let batchOutOfOrder = Code("batchOutOfOrder")
        /// The attempt is not (or no longer) leased to this peer: a stale result.
        public static let staleAttempt = Code("staleAttempt")
        /// The task id does not match the one leased with the attempt.
        public static let taskMismatch = Code("taskMismatch")
        /// The sender sent more than the receiver's credit allows.
        public static let creditExceeded = Code("creditExceeded")
        /// The message is valid but not allowed in the session's current state.
        public static let unexpectedMessage = Code("unexpectedMessage")
    }

    public var code: Code
    /// The message kind, e.g. "row_batch", when the header could be decoded.
    public var messageKind: String?
    /// The offending field, e.g. "record_lengths".
    public var field: String?
    public var detail: String
    /// The peer (worker id or routing id), filled in by the socket layer.
    public var peer: String?
    /// The attempt the message referred to, when known (stale results are recorded by it).
    public var attemptID: UInt64?

    public init(
        _ code: Code, _ detail: String, messageKind: String? = nil, field: String? = nil,
        peer: String? = nil, attemptID: UInt64? = nil
    ) {
        self.code = code
        self.detail = detail
        self.messageKind = messageKind
        self.field = field
        self.peer = peer
        self.attemptID = attemptID
    }

    /// The same error attributed to `peer`.
    public func from(peer: String) -> ProtocolError {
        var copy = self
        copy.peer = peer
        return copy
    }

    public var description: String {
        var s = "protocol error [\(code)]"
        if let peer { s += " from \(peer)" }
        if let messageKind { s += " in \(messageKind)" }
        if let field { s += ".\(field)" }
        if let attemptID { s += " (attempt \(attemptID))" }
        return s + ": " + detail
    }
}

extension ProtocolError: TaskFailureConvertible {
    /// A protocol failure, retryable: another peer or session may send a valid message.
    public var taskFailure: TaskFailure { TaskFailure(.protocol, description) }
}
