import Foundation
import Testing

@testable import Cluster

private func stamped(_ m: WireMessage, seq: UInt64, session: UInt64) -> WireMessage {
    var m = m
    m.envelope.seq = seq
    m.envelope.session = session
    return m
}

private func expectCode<T>(
    _ code: ProtocolError.Code, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> T
) {
    do {
        _ = try body()
        Issue.record("accepted, expected \(code)", sourceLocation: sourceLocation)
    } catch let error as ProtocolError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("untyped error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct WorkerPeerSessionTests {
    func started(attempt: UInt64, task: UInt64) -> WireMessage {
        var s = WireTaskStarted()
        s.attemptID = attempt
        s.taskID = task
        return WireMessage(.started(s))
    }

    @Test func sequenceNumbersMustIncrease() throws {
        var s = WorkerPeerSession(session: 5)
        let hb = WireMessage(.heartbeat(WireHeartbeat()))
        try s.accept(stamped(hb, seq: 1, session: 5))
        try s.accept(stamped(hb, seq: 4, session: 5))  // gaps are fine
        expectCode(.sequenceNotIncreasing) { try s.accept(stamped(hb, seq: 4, session: 5)) }
        expectCode(.sequenceNotIncreasing) { try s.accept(stamped(hb, seq: 2, session: 5)) }
        try s.accept(stamped(hb, seq: 5, session: 5))
    }

    @Test func wrongSessionIsRejectedWithoutAdvancingTheSequence() throws {
        var s = WorkerPeerSession(session: 5)
        let hb = WireMessage(.heartbeat(WireHeartbeat()))
        expectCode(.sessionMismatch) { try s.accept(stamped(hb, seq: 10, session: 6)) }
        try s.accept(stamped(hb, seq: 1, session: 5))
        expectCode(.unexpectedMessage) { try s.accept(stamped(WireSamples.hello(), seq: 2, session: 5)) }
    }

    @Test func resultsOfAttemptsNotLeasedAreStale() throws {
        var s = WorkerPeerSession(session: 5)
        expectCode(.staleAttempt) { try s.accept(stamped(started(attempt: 7, task: 3), seq: 1, session: 5)) }
        s.lease(attemptID: 7, taskID: 3, kind: .train)
        try s.accept(stamped(started(attempt: 7, task: 3), seq: 2, session: 5))
        expectCode(.taskMismatch) { try s.accept(stamped(started(attempt: 7, task: 4), seq: 3, session: 5)) }
        try s.accept(stamped(WireSamples.treesCheckpoint(attemptID: 7, taskID: 3), seq: 4, session: 5))
        expectCode(.unexpectedMessage) {
            try s.accept(stamped(WireSamples.statsCheckpoint(attemptID: 7, taskID: 3), seq: 5, session: 5))
        }
        s.release(attemptID: 7)
        do {
            try s.accept(stamped(WireSamples.treesCheckpoint(attemptID: 7, taskID: 3), seq: 6, session: 5))
            Issue.record("stale checkpoint accepted")
        } catch {
            #expect(error.code == .staleAttempt)
            #expect(error.attemptID == 7)
        }
    }

    @Test func heartbeatListsStaleAttempts() {
        var s = WorkerPeerSession(session: 5)
        s.lease(attemptID: 7, taskID: 3, kind: .train)
        var hb = WireHeartbeat()
        for a in [UInt64(7), 8] {
            var p = WireProgress()
            p.attemptID = a
            p.taskID = 3
            p.unit = .rows
            hb.running.append(p)
        }
        #expect(s.staleAttempts(in: hb) == [8])
    }

    @Test func predictionBatchesAreContiguous() throws {
        var s = WorkerPeerSession(session: 5)
        s.lease(attemptID: 9, taskID: 4, kind: .predict)
        func batch(_ n: UInt64) -> WireMessage {
            var p = WirePredictionBatch()
            p.attemptID = 9
            p.batchSeq = n
            p.rows = 1
            p.bytesPerRow = 1
            return WireMessage(.predictionBatch(p), payload: Data([0]))
        }
        try s.accept(stamped(batch(0), seq: 1, session: 5))
        expectCode(.batchOutOfOrder) { try s.accept(stamped(batch(2), seq: 2, session: 5)) }
        try s.accept(stamped(batch(1), seq: 3, session: 5))
        expectCode(.batchOutOfOrder) { try s.accept(stamped(batch(1), seq: 4, session: 5)) }
    }
}

@Suite struct CoordinatorPeerSessionTests {
    func assignment(_ attempt: UInt64, source: WireRowSource = .streamed) -> WireMessage {
        WireMessage(.assignment(WireSamples.assignment(kind: .extract, attemptID: attempt, source: source)))
    }

    func rowsEnd(_ attempt: UInt64, batches: UInt64, rows: UInt64) -> WireMessage {
        var e = WireRowsEnd()
        e.attemptID = attempt
        e.batches = batches
        e.rows = rows
        e.trainRows = rows
        return WireMessage(.rowsEnd(e))
    }

    @Test func nothingButWelcomeOrRejectBeforeTheSession() throws {
        var s = CoordinatorPeerSession()
        expectCode(.unexpectedMessage) { try s.accept(stamped(assignment(1), seq: 1, session: 0)) }
        try s.accept(WireSamples.welcome(session: 77))
        #expect(s.session == 77)
        expectCode(.unexpectedMessage) { try s.accept(stamped(WireSamples.welcome(session: 78), seq: 2, session: 77)) }
        expectCode(.sessionMismatch) { try s.accept(stamped(assignment(1), seq: 3, session: 78)) }
    }

    @Test func rowBatchesArriveInOrderAndEndWithMatchingCounts() throws {
        var s = CoordinatorPeerSession()
        try s.accept(WireSamples.welcome(session: 77))
        var seq: UInt64 = 1
        func next(_ m: WireMessage) throws(ProtocolError) {
            seq += 1
            try s.accept(stamped(m, seq: seq, session: 77))
        }

        expectCode(.staleAttempt) { try next(WireSamples.rowBatch(attemptID: 7, batchSeq: 0)) }
        try next(assignment(7))
        expectCode(.unexpectedMessage) { try next(assignment(7)) }
        try next(WireSamples.rowBatch(attemptID: 7, batchSeq: 0))
        expectCode(.batchOutOfOrder) { try next(WireSamples.rowBatch(attemptID: 7, batchSeq: 2)) }
        try next(WireSamples.rowBatch(attemptID: 7, batchSeq: 1))
        expectCode(.payloadMismatch) { try next(rowsEnd(7, batches: 2, rows: 5)) }
        try next(rowsEnd(7, batches: 2, rows: 6))
        #expect(s.assignments[7]?.rows == 6)
        expectCode(.unexpectedMessage) { try next(WireSamples.rowBatch(attemptID: 7, batchSeq: 2)) }
        expectCode(.unexpectedMessage) { try next(rowsEnd(7, batches: 2, rows: 6)) }
        s.release(attemptID: 7)
        expectCode(.staleAttempt) { try next(WireSamples.rowBatch(attemptID: 7, batchSeq: 2)) }
    }

    @Test func localSpillTasksTakeNoRowBatches() throws {
        var s = CoordinatorPeerSession()
        try s.accept(WireSamples.welcome(session: 1))
        try s.accept(stamped(assignment(8, source: .localSpill), seq: 2, session: 1))
        expectCode(.unexpectedMessage) { try s.accept(stamped(WireSamples.rowBatch(attemptID: 8), seq: 3, session: 1)) }
    }
}
