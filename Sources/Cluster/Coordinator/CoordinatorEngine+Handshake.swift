import Foundation
import Logging
import SpaceTime

// The handshake: a worker's hello welcomed (a session, the job's schema) or rejected.

extension CoordinatorEngine {
    func handleHello(
        _ hello: WireHello, from address: PeerAddress, at time: EngineTime,
        into out: inout [CoordinatorOutput]
    ) throws {
        func reject(_ code: WireRejectCode, _ message: String) {
            var r = WireReject()
            r.code = code
            r.message = message
            r.supportedProtocolVersion = ProtocolVersion.current
            out.append(.send(address, WireMessage(.reject(r))))
            out.append(
                .log(
                    .warning, "rejected worker \(hello.workerID) from \(hello.host) (pid \(hello.pid)): \(message)",
                    metadata: .about(worker: hello.workerID, peer: address)))
        }
        // Stopping to be resumed: no answer, so the worker keeps reconnecting until the resumed coordinator welcomes it.
        if stoppingForResume { return }
        if finished {
            reject(.shuttingDown, "the job has finished")
            return
        }
        if hello.memoryLimitBytes < configuration.minimumWorkerMemory {
            reject(
                .memoryTooSmall,
                "its \(ByteCount(hello.memoryLimitBytes)) memory limit is below the \(ByteCount(configuration.minimumWorkerMemory)) this job needs"
            )
            return
        }
        if let oldAddress = addressOf[hello.workerID], let old = peers[oldAddress] {
            let sameProcess = old.hello.host == hello.host && old.hello.pid == hello.pid
            if !sameProcess, detector.status(of: hello.workerID, now: time.monotonic) != .down {
                reject(.duplicateWorkerID, "worker id \(hello.workerID) is already used by \(old.hello.host) pid \(old.hello.pid)")
                return
            }
            // The same worker again (reconnect) or a dead one's replacement: end the old session.
            try removePeer(oldAddress) { attemptID in
                try self.store.abandonAttempt(attemptID, reason: "worker \(hello.workerID) reconnected", now: time.wall)
            }
        }
        var session = makeSessionID()
        if session == 0 { session = 1 }
        var peer = Peer(address: address, hello: hello, session: WorkerPeerSession(session: session), lastSent: time.monotonic)
        for held in hello.held where held.jobID == spec.jobID {
            peer.holds.insert(HeldKey(partition: Int(held.partition), extractAttemptID: held.extractAttemptID))
        }
        peers[address] = peer
        addressOf[hello.workerID] = address
        scheduleDirty = true
        if firstJoin == nil { firstJoin = time.monotonic }
        detector.joined(hello.workerID, now: time.monotonic)
        try store.workerJoined(
            WorkerRecord(
                id: hello.workerID, host: hello.host, pid: Int(hello.pid), cores: Int(hello.cores),
                memoryLimit: hello.memoryLimitBytes), now: time.wall)
        var welcome = WireWelcome()
        welcome.protocolVersion = ProtocolVersion.current
        welcome.session = session
        welcome.heartbeatIntervalMs = UInt32(configuration.heartbeatInterval * 1000)
        welcome.heartbeatLiveness = UInt32(configuration.liveness)
        welcome.maxPayloadBytes = UInt32(min(configuration.limits.maxPayloadBytes, Int(UInt32.max)))
        welcome.jobID = spec.jobID
        send(.welcome(welcome), to: address, at: time, into: &out, session: 0)
        out.append(
            .log(
                .info,
                "worker \(hello.workerID) joined from \(hello.host) (pid \(hello.pid), \(hello.cores) cores, limit \(ByteCount(hello.memoryLimitBytes)))",
                metadata: .about(worker: hello.workerID, peer: address)
            ))
    }
}
