import Foundation
import Logging
import SpaceTime

extension CoordinatorEngine {
    /// A prediction batch from the worker running a predict attempt: checked
    /// against the credit granted, handed to the sink, more credit granted.
    func receivePredictions(
        _ m: WirePredictionBatch, payload: Data, from address: PeerAddress, at time: EngineTime,
        into out: inout [CoordinatorOutput]
    ) throws {
        guard let peer = peers[address], let name = peer.running[m.attemptID], var window = predictionCredit[m.attemptID] else { return }
        let failure = { (message: String) in
            AttemptFailure(.reported(TaskFailure(.protocol, message)), workerID: peer.workerID, pid: Int(peer.hello.pid))
        }
        do {
            try window.received(bytes: payload.count)
        } catch {
            out.append(
                .log(
                    .warning, "dropped predictions from \(peer.workerID): \(error.from(peer: peer.workerID))",
                    metadata: .about(task: name, attempt: m.attemptID, worker: peer.workerID, peer: address)))
            try failAttempt(m.attemptID, on: address, failure: failure("\(error)"), outcome: .failed, at: time, into: &out)
            return
        }
        guard let sink = predictionSink else {
            out.append(
                .log(
                    .warning, "worker \(peer.workerID) sent predictions, but this job has no predict tasks; dropped",
                    metadata: .about(task: name, attempt: m.attemptID, worker: peer.workerID, peer: address)))
            return
        }
        if let problem = try sink.predictions(attemptID: m.attemptID, task: name, batch: m, payload: payload) {
            try failAttempt(m.attemptID, on: address, failure: failure(problem), outcome: .failed, at: time, into: &out)
            return
        }
        let grant = window.consumed(bytes: payload.count)
        predictionCredit[m.attemptID] = window
        if let grant { sendPredictionCredit(m.attemptID, grant, to: address, at: time, into: &out) }
    }

    func sendPredictionCredit(
        _ attemptID: UInt64, _ grant: CreditWindow.Grant, to address: PeerAddress, at time: EngineTime,
        into out: inout [CoordinatorOutput]
    ) {
        var c = WireCredit()
        c.attemptID = attemptID
        c.stream = .predictions
        c.grantedBatches = grant.messages
        c.grantedBytes = grant.bytes
        send(.credit(c), to: address, at: time, into: &out)
    }

    func endPredictions(_ attemptID: UInt64) {
        guard predictionCredit.removeValue(forKey: attemptID) != nil else { return }
        predictionSink?.discard(attemptID: attemptID)
    }
}
