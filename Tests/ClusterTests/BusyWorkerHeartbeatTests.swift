import Foundation
import Testing

@testable import Cluster

@Suite struct BusyWorkerHeartbeatTests {
    /// A worker sending checkpoints more often than its heartbeat interval still
    /// heartbeats every interval: heartbeats renew its attempts' leases (without
    /// them a long task of cheap trees lost its lease after 30 s) and carry RSS.
    @Test func checkpointsDoNotSuppressHeartbeats() throws {
        let w = WorkerEngine(identity: .init(workerID: "w1", host: "h1", pid: 77, cores: 1, memoryLimit: 512 << 20))
        _ = w.connected(at: 0)
        _ = w.receive(frames: try WireSamples.welcome(session: 5).encodeFrames(), at: 0)  // 1 s interval
        let a = WireSamples.assignment(kind: .train, attemptID: 9)
        _ = w.receive(frames: try WireMessage(.assignment(a), seq: 2, session: 5).encodeFrames(), at: 0.1)
        #expect(w.runningAttempts == [9])
        w.memory(rss: 40 << 20, peak: 41 << 20)
        var heartbeats: [(time: Double, beat: WireHeartbeat)] = []
        var checkpoints = 0
        var seq: UInt64 = 2
        for step in 2...50 {
            let t = Double(step) * 0.1
            if step % 5 == 0 {  // the coordinator's own heartbeats keep the session alive
                seq += 1
                _ = w.receive(frames: try WireMessage(.heartbeat(WireHeartbeat()), seq: seq, session: 5).encodeFrames(), at: t)
            }
            for case .send(let m) in w.checkpointTrees(attemptID: 9, firstTree: Int(a.trees.first) + step, trees: [Data([1, 2])], at: t) {
                if case .checkpoint = m.body { checkpoints += 1 }
            }
            for case .send(let m) in w.tick(at: t) {
                if case .heartbeat(let hb) = m.body { heartbeats.append((t, hb)) }
            }
        }
        #expect(checkpoints == 49)
        #expect(heartbeats.count >= 4, "one per second while checkpoints flow, got \(heartbeats.map(\.time))")
        #expect(zip(heartbeats.dropFirst(), heartbeats).allSatisfy { $0.time - $1.time >= 1 - 1e-9 }, "not more often than the interval")
        #expect(heartbeats.allSatisfy { $0.beat.running.map(\.attemptID) == [9] && $0.beat.rssBytes == 40 << 20 })
    }
}
