import Foundation
import Logging
import SpaceTime

// Receiving: a peer's frames decoded, checked against its session and dispatched by message.

extension CoordinatorEngine {
    /// Handles one message (routing id removed) from `address`.
    public func receive(from address: PeerAddress, frames: [Data], at time: EngineTime) throws -> [CoordinatorOutput] {
        var out: [CoordinatorOutput] = []
        let message: WireMessage
        do {
            message = try WireMessage.decode(frames: frames, direction: .toCoordinator, limits: configuration.limits)
        } catch {
            let who = peers[address].map { "worker \($0.workerID) (\(address))" } ?? "\(address)"
            if error.code == .versionMismatch, error.messageKind == "hello", peers[address] == nil {
                var reject = WireReject()
                reject.code = .protocolVersion
                reject.message = "this coordinator speaks protocol version \(ProtocolVersion.current)"
                reject.supportedProtocolVersion = ProtocolVersion.current
                out.append(.send(address, WireMessage(.reject(reject))))
            }
            out.append(
                .log(
                    .warning, "dropped message from \(who): \(error.from(peer: who))",
                    metadata: .about(worker: peers[address]?.workerID, peer: address)))
            return out
        }
        guard var peer = peers[address] else {
            if case .hello(let hello) = message.body {
                try handleHello(hello, from: address, at: time, into: &out)
            } else {
                try recordStaleFromUnknownPeer(message, address: address, at: time, into: &out)
            }
            return out
        }
        do {
            try peer.session.accept(message)
        } catch {
            peers[address] = peer  // the sequence number advanced
            let who = "worker \(peer.workerID) (\(address))"
            if error.code == .staleAttempt, let attemptID = error.attemptID {
                try store.log(
                    .staleDiscarded, attemptID: attemptID, workerID: peer.workerID,
                    "\(message.kind) from \(peer.workerID) for attempt \(attemptID) discarded: not leased to it", now: time.wall)
            }
            out.append(
                .log(
                    .warning, "dropped message from \(who): \(error.from(peer: who))",
                    metadata: .about(attempt: error.attemptID, worker: peer.workerID, peer: address)))
            return out
        }
        detector.heard(from: peer.workerID, now: time.monotonic)
        peers[address] = peer
        try dispatch(message, from: address, at: time, into: &out)
        return out
    }

    func dispatch(
        _ message: WireMessage, from address: PeerAddress, at time: EngineTime,
        into out: inout [CoordinatorOutput]
    ) throws {
        guard let peer = peers[address] else { return }
        let workerID = peer.workerID
        switch message.body {
        case .heartbeat(let hb):
            peers[address]?.rss = hb.rssBytes
            peers[address]?.peakRSS = max(peer.peakRSS, hb.peakRssBytes)
            try store.recordHeartbeat(workerID: workerID, rss: hb.rssBytes, peakRSS: hb.peakRssBytes, now: time.wall)
            for progress in hb.running where peer.session.leases[progress.attemptID] != nil {
                detector.renew(attemptID: progress.attemptID, by: workerID, now: time.monotonic)
                try store.renewLease(progress.attemptID, deadline: time.wall + configuration.leaseDuration)
            }
            for stale in peer.session.staleAttempts(in: hb) {
                var cancel = WireCancel()
                cancel.attemptID = stale
                cancel.reason = "attempt \(stale) is no longer leased to \(workerID)"
                send(.cancel(cancel), to: address, at: time, into: &out)
            }
        case .started(let m):
            try storeWrite(workerID, &out) { _ = try store.attemptRunning(m.attemptID, now: time.wall) }
        case .checkpoint(let m):
            try handleCheckpoint(m, payload: message.payload ?? Data(), from: address, at: time, into: &out)
        case .done(let m):
            if let name = peer.running[m.attemptID], name.kind.streamsPredictions {
                let problem: String? =
                    if let sink = predictionSink {
                        try sink.finish(attemptID: m.attemptID, task: name, rows: m.rows)
                    } else {
                        "this coordinator has no prediction sink"
                    }
                if let problem {
                    try failAttempt(
                        m.attemptID, on: address,
                        failure: AttemptFailure(
                            .reported(TaskFailure(.protocol, problem)), workerID: workerID, pid: Int(peer.hello.pid)),
                        outcome: .failed, at: time, into: &out)
                    return
                }
            }
            let outcome = try storeWrite(workerID, &out) {
                try store.completeAttempt(
                    m.attemptID, peakRSS: m.peakRssBytes, result: m.hasResult_p ? message.payload : nil,
                    now: time.wall)
            }
            if case .discarded(let reason)? = outcome {
                out.append(
                    .log(
                        .warning, "done from \(workerID) for attempt \(m.attemptID) discarded: \(reason)",
                        metadata: .about(task: peer.running[m.attemptID], attempt: m.attemptID, worker: workerID, peer: address)))
                endAttempt(m.attemptID, on: address)
            } else if outcome != nil {
                if let name = peer.running[m.attemptID], name.kind == .extract {
                    peers[address]?.holds.insert(HeldKey(partition: name.partition, extractAttemptID: m.attemptID))
                }
                if let copy = peer.copying[m.attemptID] { peers[address]?.holds.insert(copy) }
                out.append(
                    .log(
                        .info,
                        "\(peer.running[m.attemptID].map(String.init(describing:)) ?? "attempt \(m.attemptID)") done on \(workerID), peak RSS \(ByteCount(m.peakRssBytes))",
                        metadata: .about(task: peer.running[m.attemptID], attempt: m.attemptID, worker: workerID, peer: address)
                    ))
                endAttempt(m.attemptID, on: address)
            } else {
                // refused by the store (e.g. done before all trees): treat as a failure of the attempt
                try failAttempt(
                    m.attemptID, on: address,
                    failure: AttemptFailure(
                        .reported(TaskFailure(.protocol, "reported done with incomplete results")),
                        workerID: workerID, pid: Int(peer.hello.pid)),
                    outcome: .failed, at: time, into: &out)
            }
        case .failed(let m):
            let reported = TaskFailure(wire: m)
            let cause: AttemptFailure.Cause =
                reported.reason == .memoryBudget ? .refused(message: reported.message) : .reported(reported)
            let failure = AttemptFailure(
                cause, workerID: workerID, pid: Int(peer.hello.pid),
                peakRSS: m.peakRssBytes == 0 ? nil : m.peakRssBytes,
                memoryLimit: peer.hello.memoryLimitBytes)
            try failAttempt(
                m.attemptID, on: address, failure: failure, outcome: .failed, retryable: reported.retryable,
                at: time, into: &out)
        case .credit(let m):
            guard var stream = streams[m.attemptID] else { return }
            do {
                try stream.credit.receive(CreditWindow.Grant(messages: m.grantedBatches, bytes: m.grantedBytes))
                streams[m.attemptID] = stream
            } catch {
                out.append(
                    .log(
                        .warning, "dropped credit from \(workerID): \(error.from(peer: workerID))",
                        metadata: .about(attempt: m.attemptID, worker: workerID, peer: address)))
            }
        case .goodbye(let m):
            try removePeer(address) { attemptID in
                try self.store.abandonAttempt(attemptID, reason: "worker \(workerID) left: \(m.reason)", now: time.wall)
            }
            try store.workerGone(workerID, state: .left, reason: m.reason.isEmpty ? "goodbye" : m.reason, now: time.wall)
            detector.left(workerID)
        case .blobRequest(let m):
            try serveBlobChunk(m, to: address, workerID: workerID, at: time, into: &out)
        case .predictionBatch(let m):
            try receivePredictions(m, payload: message.payload ?? Data(), from: address, at: time, into: &out)
        case .hello:
            break  // rejected by the session
        default:
            break  // coordinator-bound bodies only reach here
        }
    }

    /// A message naming an attempt from a peer without a session (its session
    /// ended, e.g. it was declared dead while cut off): recorded and dropped.
    func recordStaleFromUnknownPeer(
        _ message: WireMessage, address: PeerAddress, at time: EngineTime,
        into out: inout [CoordinatorOutput]
    ) throws {
        let attemptID: UInt64?
        switch message.body {
        case .started(let m): attemptID = m.attemptID
        case .checkpoint(let m): attemptID = m.attemptID
        case .done(let m): attemptID = m.attemptID
        case .failed(let m): attemptID = m.attemptID
        default: attemptID = nil
        }
        if let attemptID {
            let worker = try store.attempt(attemptID)?.workerID
            try store.log(
                .staleDiscarded, attemptID: attemptID, workerID: worker,
                "\(message.kind) for attempt \(attemptID) from \(address) discarded: its session has ended", now: time.wall)
        }
        out.append(
            .log(
                .warning, "dropped \(message.kind) from \(address): no session (say hello first)",
                metadata: .about(attempt: attemptID, peer: address)))
    }
}
