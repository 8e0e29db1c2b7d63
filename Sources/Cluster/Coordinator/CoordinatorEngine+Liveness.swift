import Foundation
import Logging
import SpaceTime

// Time: failure detection, heartbeats, scheduling ticks, ended worker processes and shutdown.

extension CoordinatorEngine {
    /// Failure detection, heartbeats and scheduling at `time`. Call at least
    /// every `heartbeatInterval`, and whenever `nextDeadline` passes.
    public func tick(at time: EngineTime) throws -> [CoordinatorOutput] {
        var out: [CoordinatorOutput] = []
        for verdict in detector.poll(now: time.monotonic) {
            switch verdict {
            case .peerDown(let workerID, let silentFor):
                guard let address = addressOf[workerID], let peer = peers[address] else { continue }
                out.append(
                    .log(
                        .warning,
                        "worker \(workerID) (pid \(peer.hello.pid)) presumed dead: no message for \(String(format: "%.1f", silentFor)) s",
                        metadata: .about(worker: workerID, peer: address)))
                let failure = AttemptFailure(
                    .silent(seconds: silentFor), workerID: workerID, pid: Int(peer.hello.pid),
                    peakRSS: peer.peakRSS == 0 ? nil : peer.peakRSS, memoryLimit: peer.hello.memoryLimitBytes)
                try removePeer(address) { attemptID in
                    try self.recordLoss(attemptID, failure: failure, at: time, into: &out)
                }
                try store.workerGone(workerID, state: .lost, reason: failure.description, now: time.wall)
            case .leaseExpired(let attemptID, let workerID, _):
                guard let address = addressOf[workerID], let peer = peers[address], peer.running[attemptID] != nil else { continue }
                var cancel = WireCancel()
                cancel.attemptID = attemptID
                cancel.reason = "lease expired"
                send(.cancel(cancel), to: address, at: time, into: &out)
                try failAttempt(
                    attemptID, on: address,
                    failure: AttemptFailure(.leaseExpired, workerID: workerID, pid: Int(peer.hello.pid)),
                    outcome: .lost, at: time, into: &out)
            }
        }
        for (address, peer) in peers where time.monotonic - peer.lastSent >= configuration.heartbeatInterval {
            send(.heartbeat(WireHeartbeat()), to: address, at: time, into: &out)
        }
        if !startupOver, let first = firstJoin,
            peers.count >= startupQuorum || time.monotonic - first >= configuration.startupWait
        {
            startupOver = true
        }
        if !finished && startupOver && (scheduleDirty || time.monotonic - lastSchedule >= configuration.heartbeatInterval) {
            scheduleDirty = false
            lastSchedule = time.monotonic
            try schedule(at: time, into: &out)
        }
        return out
    }

    /// True when a `tick` should run now rather than at the next tick interval:
    /// something changed that scheduling reacts to (an attempt ended, a gate
    /// opened, a worker joined), so the next stage starts without delay.
    public var wantsTick: Bool {
        scheduleDirty && !finished && (startupOver || (firstJoin != nil && peers.count >= startupQuorum))
    }

    /// Workers to wait for before the first scheduling: the launcher's count (also
    /// with fewer partitions than workers: the train stage splits trees over them all).
    var startupQuorum: Int { max(1, configuration.startupWorkers) }

    /// When the next `tick` is due at the latest.
    public func nextDeadline(after time: EngineTime) -> MonotonicSeconds {
        min(detector.nextDeadline() ?? .infinity, time.monotonic + configuration.heartbeatInterval)
    }

    /// The launcher saw a local worker process end (`signal` or exit `status`):
    /// its attempts are lost at once, with that cause in their failure.
    /// `peakMemory` (bytes): the peak its memory cgroup charged, when it had one
    /// (what the kernel's OOM killer went by; heartbeats may not have caught the rise).
    public func workerProcessEnded(
        workerID: String, signal: Int32?, status: Int32?, peakMemory: UInt64? = nil,
        at time: EngineTime
    ) throws -> [CoordinatorOutput] {
        var out: [CoordinatorOutput] = []
        guard let address = addressOf[workerID], let peer = peers[address] else { return out }
        let cause: AttemptFailure.Cause = signal.map { .killed(signal: $0) } ?? .exited(status: status ?? -1)
        let peak = max(peer.peakRSS, peakMemory ?? 0)
        let failure = AttemptFailure(
            cause, workerID: workerID, pid: Int(peer.hello.pid),
            peakRSS: peak == 0 ? nil : peak, memoryLimit: peer.hello.memoryLimitBytes)
        out.append(.log(.warning, "\(failure)", metadata: .about(worker: workerID, peer: address)))
        try removePeer(address) { attemptID in
            try self.recordLoss(attemptID, failure: failure, at: time, into: &out)
        }
        try store.workerGone(workerID, state: .lost, reason: failure.description, now: time.wall)
        detector.left(workerID)
        return out
    }

    /// Tells every worker to exit, or with `resume` to reconnect (this coordinator stops to be resumed).
    public func shutdown(reason: String, resume: Bool = false, at time: EngineTime) -> [CoordinatorOutput] {
        finished = true
        stoppingForResume = resume
        var out: [CoordinatorOutput] = []
        for address in peers.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            var s = WireShutdown()
            s.reason = reason
            s.resume = resume
            send(.shutdown(s), to: address, at: time, into: &out)
            // `status` after the job shows who was released, not workers "connected" forever.
            if let workerID = peers[address]?.workerID {
                try? store.workerGone(workerID, state: .left, reason: "released: \(reason)", now: time.wall)
            }
        }
        return out
    }
}
