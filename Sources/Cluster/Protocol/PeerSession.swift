import Foundation

/// Checks that hold across messages from one peer: the session id from
/// `Welcome`, strictly increasing envelope sequence numbers, and per-attempt
/// ordering. The envelope sequence advances for every in-order message even
/// when a later check rejects it, so one bad message never wedges a session.
struct SequenceCheck: Sendable {
    private(set) var last: UInt64?

    mutating func accept(_ seq: UInt64, kind: String) throws(ProtocolError) {
        if let last, seq <= last {
            throw ProtocolError(.sequenceNotIncreasing, "sequence \(seq) after \(last)", messageKind: kind, field: "seq")
        }
        last = seq
    }
}

/// The coordinator's view of one connected worker after `Welcome`.
///
/// Messages naming an attempt are accepted only while that attempt is leased
/// to this worker; anything else is a `staleAttempt` (a result from a task
/// that was reassigned), which the coordinator records and discards.
public struct WorkerPeerSession: Sendable {
    public struct Lease: Sendable, Hashable {
        public var taskID: UInt64
        public var kind: WireTaskKind
        /// Next expected `PredictionBatch.batch_seq`.
        public var nextPredictionBatch: UInt64 = 0
    }

    public let session: UInt64
    public private(set) var leases: [UInt64: Lease] = [:]
    private var sequence = SequenceCheck()

    public init(session: UInt64) {
        self.session = session
    }

    /// Record that `attemptID` (of `taskID`) was assigned to this worker.
    public mutating func lease(attemptID: UInt64, taskID: UInt64, kind: WireTaskKind) {
        leases[attemptID] = Lease(taskID: taskID, kind: kind)
    }

    /// The attempt ended (done, failed, cancelled, lost); later messages about it are stale.
    public mutating func release(attemptID: UInt64) {
        leases[attemptID] = nil
    }

    /// Validates `message` (already structurally valid) against the session state.
    public mutating func accept(_ message: WireMessage) throws(ProtocolError) {
        let kind = message.kind
        guard message.envelope.session == session else {
            throw ProtocolError(
                .sessionMismatch, "session \(message.envelope.session) is not the current \(session)",
                messageKind: kind, field: "session")
        }
        try sequence.accept(message.envelope.seq, kind: kind)
        switch message.body {
        case .hello:
            throw ProtocolError(.unexpectedMessage, "hello inside an established session", messageKind: kind)
        case .started(let m): try leased(m.attemptID, task: m.taskID, kind)
        case .checkpoint(let m):
            let lease = try leased(m.attemptID, task: m.taskID, kind)
            switch m.content {
            case .stats: if lease.kind != .extract { throw mismatch(kind, m.attemptID, "stats from a \(lease.kind) task") }
            case .trees: if lease.kind != .train { throw mismatch(kind, m.attemptID, "trees from a \(lease.kind) task") }
            case nil: break
            }
        case .done(let m): try leased(m.attemptID, task: m.taskID, kind)
        case .failed(let m): try leased(m.attemptID, task: m.taskID, kind)
        case .credit(let m): try leased(m.attemptID, task: nil, kind)
        case .predictionBatch(let m):
            let lease = try leased(m.attemptID, task: nil, kind)
            if TaskKind(wire: lease.kind)?.streamsPredictions != true {
                throw mismatch(kind, m.attemptID, "predictions from a \(lease.kind) task")
            }
            if m.batchSeq != lease.nextPredictionBatch {
                throw ProtocolError(
                    .batchOutOfOrder, "batch \(m.batchSeq), expected \(lease.nextPredictionBatch)",
                    messageKind: kind, field: "batch_seq", attemptID: m.attemptID)
            }
            leases[m.attemptID]?.nextPredictionBatch += 1
        default:
            break  // heartbeat, goodbye, blob_request: no attempt to check
        }
    }

    /// Attempts a heartbeat reports that are not leased to this worker (the
    /// coordinator answers them with `Cancel`).
    public func staleAttempts(in heartbeat: WireHeartbeat) -> [UInt64] {
        heartbeat.running.map(\.attemptID).filter { leases[$0] == nil }
    }

    @discardableResult
    private func leased(_ attemptID: UInt64, task: UInt64?, _ kind: String) throws(ProtocolError) -> Lease {
        guard let lease = leases[attemptID] else {
            throw ProtocolError(
                .staleAttempt, "attempt \(attemptID) is not leased to this worker",
                messageKind: kind, field: "attempt_id", attemptID: attemptID)
        }
        if let task, task != lease.taskID {
            throw ProtocolError(
                .taskMismatch, "task \(task) but attempt \(attemptID) belongs to task \(lease.taskID)",
                messageKind: kind, field: "task_id", attemptID: attemptID)
        }
        return lease
    }

    private func mismatch(_ kind: String, _ attemptID: UInt64, _ detail: String) -> ProtocolError {
        ProtocolError(.unexpectedMessage, detail, messageKind: kind, attemptID: attemptID)
    }
}

/// A worker's view of the coordinator: waits for `Welcome`, then checks the
/// session, sequence numbers, and that row batches of each assigned attempt
/// arrive numbered 0, 1, 2, … and stop at `RowsEnd`.
public struct CoordinatorPeerSession: Sendable {
    public struct Assignment: Sendable, Hashable {
        public var taskID: UInt64
        public var nextBatch: UInt64 = 0
        public var rows: UInt64 = 0
        public var ended = false
    }

    /// Non-nil once `Welcome` was accepted.
    public private(set) var session: UInt64?
    public private(set) var assignments: [UInt64: Assignment] = [:]
    private var sequence = SequenceCheck()

    public init() {}

    /// Forget an attempt (finished or cancelled); later batches for it are stale.
    public mutating func release(attemptID: UInt64) {
        assignments[attemptID] = nil
    }

    public mutating func accept(_ message: WireMessage) throws(ProtocolError) {
        let kind = message.kind
        guard let session else {
            switch message.body {
            case .welcome(let w):
                try sequence.accept(message.envelope.seq, kind: kind)
                self.session = w.session
                return
            case .reject:
                return
            default:
                throw ProtocolError(.unexpectedMessage, "\(kind) before welcome", messageKind: kind)
            }
        }
        guard message.envelope.session == session else {
            throw ProtocolError(
                .sessionMismatch, "session \(message.envelope.session) is not the current \(session)",
                messageKind: kind, field: "session")
        }
        try sequence.accept(message.envelope.seq, kind: kind)
        switch message.body {
        case .welcome, .reject:
            throw ProtocolError(.unexpectedMessage, "\(kind) inside an established session", messageKind: kind)
        case .assignment(let m):
            if assignments[m.attemptID] != nil {
                throw ProtocolError(
                    .unexpectedMessage, "attempt \(m.attemptID) assigned twice",
                    messageKind: kind, field: "attempt_id", attemptID: m.attemptID)
            }
            assignments[m.attemptID] = Assignment(taskID: m.taskID, ended: m.source != .streamed)
        case .rowBatch(let m):
            var a = try assigned(m.attemptID, kind)
            if a.ended {
                throw ProtocolError(
                    .unexpectedMessage, "row batch after rows_end or for a task without streamed rows",
                    messageKind: kind, attemptID: m.attemptID)
            }
            if m.batchSeq != a.nextBatch {
                throw ProtocolError(
                    .batchOutOfOrder, "batch \(m.batchSeq), expected \(a.nextBatch)",
                    messageKind: kind, field: "batch_seq", attemptID: m.attemptID)
            }
            a.nextBatch += 1
            a.rows += UInt64(m.recordLengths.count)
            assignments[m.attemptID] = a
        case .rowsEnd(let m):
            var a = try assigned(m.attemptID, kind)
            if a.ended {
                throw ProtocolError(.unexpectedMessage, "second rows_end", messageKind: kind, attemptID: m.attemptID)
            }
            if m.batches != a.nextBatch || m.rows != a.rows {
                throw ProtocolError(
                    .payloadMismatch,
                    "rows_end says \(m.batches) batches / \(m.rows) rows, received \(a.nextBatch) / \(a.rows)",
                    messageKind: kind, attemptID: m.attemptID)
            }
            a.ended = true
            assignments[m.attemptID] = a
        case .checkpointAck(let m): try assigned(m.attemptID, kind)
        case .credit(let m): try assigned(m.attemptID, kind)
        default:
            break  // heartbeat, cancel (of anything), shutdown, blob_chunk
        }
    }

    @discardableResult
    private func assigned(_ attemptID: UInt64, _ kind: String) throws(ProtocolError) -> Assignment {
        guard let a = assignments[attemptID] else {
            throw ProtocolError(
                .staleAttempt, "attempt \(attemptID) is not assigned to this worker",
                messageKind: kind, field: "attempt_id", attemptID: attemptID)
        }
        return a
    }
}
