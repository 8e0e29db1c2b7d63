import Foundation
import Logging
import SpaceTime

// Attempt endings: failed, lost and finished attempts, and peers removed with theirs.

extension CoordinatorEngine {
    func failAttempt(
        _ attemptID: UInt64, on address: PeerAddress, failure: AttemptFailure, outcome: AttemptOutcome,
        retryable: Bool = true, at time: EngineTime, into out: inout [CoordinatorOutput]
    ) throws {
        guard let name = peers[address]?.running[attemptID] else { return }
        let state = try store.failAttempt(
            attemptID, outcome: outcome, reason: failure.description, peakRSS: failure.peakRSS,
            retryable: retryable && failure.retryable, now: time.wall)
        if state != nil {
            lastFailures[name] = failure
            out.append(
                .log(
                    .warning, "\(name) attempt \(attemptID) \(outcome.rawValue): \(failure)",
                    metadata: .about(task: name, attempt: attemptID, worker: failure.workerID, peer: address)))
        }
        endAttempt(attemptID, on: address)
    }

    /// Records an attempt of a departing worker as lost (used while removing the peer).
    func recordLoss(
        _ attemptID: UInt64, failure: AttemptFailure, at time: EngineTime,
        into out: inout [CoordinatorOutput]
    ) throws {
        guard let name = try store.attempt(attemptID).flatMap({ a in try store.tasks().first { $0.id == a.taskID }?.name }) else { return }
        if try store.failAttempt(attemptID, outcome: .lost, reason: failure.description, peakRSS: failure.peakRSS, now: time.wall) != nil {
            lastFailures[name] = failure
            out.append(
                .log(
                    .warning, "\(name) attempt \(attemptID) lost: \(failure)",
                    metadata: .about(task: name, attempt: attemptID, worker: failure.workerID)))
        }
    }

    func endAttempt(_ attemptID: UInt64, on address: PeerAddress) {
        scheduleDirty = true
        peers[address]?.session.release(attemptID: attemptID)
        peers[address]?.running[attemptID] = nil
        peers[address]?.copying[attemptID] = nil
        detector.released(attemptID: attemptID)
        streams[attemptID] = nil
        endPredictions(attemptID)
    }

    func removePeer(_ address: PeerAddress, endingEach: (UInt64) throws -> Void) throws {
        guard let peer = peers.removeValue(forKey: address) else { return }
        scheduleDirty = true
        if addressOf[peer.workerID] == address { addressOf[peer.workerID] = nil }
        for attemptID in peer.running.keys.sorted() {
            try endingEach(attemptID)
            detector.released(attemptID: attemptID)
            streams[attemptID] = nil
            endPredictions(attemptID)
        }
    }
}
