import Foundation
import SpaceTime
import Testing

@testable import Cluster

private func sentMessages(_ out: [WorkerOutput]) -> [WireMessage] {
    out.compactMap { if case .send(let m) = $0 { m } else { nil } }
}

private func frames(_ m: WireMessage) -> [Data] { (try? m.encodeFrames()) ?? [] }

@Suite struct WorkerEngineTests {
    let identity = WorkerEngine.Identity(workerID: "w1", host: "h1", pid: 77, cores: 2, memoryLimit: 512 << 20)

    func welcome(session: UInt64 = 5, seq: UInt64 = 1) -> [Data] {
        frames(WireSamples.welcome(session: session))
    }

    @Test func helloThenWelcomeThenHeartbeats() {
        let w = WorkerEngine(identity: identity)
        let hello = sentMessages(w.connected(at: 0))
        guard case .hello(let h) = hello.first?.body else {
            Issue.record("no hello")
            return
        }
        #expect(h.workerID == "w1" && h.pid == 77 && h.memoryLimitBytes == 512 << 20)
        #expect(hello.first?.envelope.session == 0)
        #expect(w.tick(at: 0.5).isEmpty, "no heartbeat before the session")
        _ = w.receive(frames: welcome(), at: 0.6)
        #expect(w.state == .ready)
        let hb = sentMessages(w.tick(at: 1.6))
        #expect(hb.count == 1)
        #expect(hb.first?.envelope.session == 5 && hb.first?.envelope.seq == 2)
    }

    /// A finished extract's spill is announced on the next hello (after a
    /// reconnect), so the coordinator can still train that partition here.
    @Test func finishedExtractsAreAnnouncedOnReconnect() {
        let w = WorkerEngine(identity: identity)
        _ = w.connected(at: 0)
        _ = w.receive(frames: welcome(), at: 0)
        var a = WireSamples.assignment(kind: .extract, attemptID: 9)
        a.source = .streamed
        _ = w.receive(frames: frames(WireMessage(.assignment(a), seq: 2, session: 5)), at: 0.5)
        _ = w.done(attemptID: 9, rows: 10, peakRSS: 1, result: nil, elapsed: 0.1, at: 1)
        var t = WireSamples.assignment(kind: .train, attemptID: 10)
        t.source = .streamed
        _ = w.receive(frames: frames(WireMessage(.assignment(t), seq: 3, session: 5)), at: 1.5)
        _ = w.done(attemptID: 10, rows: 10, peakRSS: 1, result: nil, elapsed: 0.1, at: 2)
        guard case .hello(let h) = sentMessages(w.connected(at: 3)).first?.body else {
            Issue.record("no hello")
            return
        }
        #expect(h.held.map(\.extractAttemptID) == [9], "only the extract attempt, once")
        #expect(h.held.first?.partition == a.partition && h.held.first?.jobID == a.jobID)
    }

    @Test func rejectExits() {
        let w = WorkerEngine(identity: identity)
        _ = w.connected(at: 0)
        var r = WireReject()
        r.code = .duplicateWorkerID
        r.message = "worker id w1 is already used"
        let out = w.receive(frames: frames(WireMessage(.reject(r))), at: 1)
        guard case .exit(let message, let failure) = out.first else {
            Issue.record("no exit")
            return
        }
        #expect(failure && message == "coordinator rejected this worker: worker id w1 is already used")
    }

    @Test func silentCoordinatorCausesReconnectWithGrowingBackoff() {
        let w = WorkerEngine(identity: identity)
        _ = w.connected(at: 0)
        _ = w.receive(frames: welcome(), at: 0)  // 1 s × 3 liveness
        var a = WireSamples.assignment(kind: .extract, attemptID: 9)
        a.source = .streamed
        _ = w.receive(frames: frames(WireMessage(.assignment(a), seq: 2, session: 5)), at: 0.5)
        #expect(w.runningAttempts == [9])
        var reconnect: Double?
        var cancelled = false
        for step in 1...40 {
            for o in w.tick(at: Double(step) * 0.1) {
                if case .reconnect(let after) = o { reconnect = after }
                if case .cancel(let id, _) = o, id == 9 { cancelled = true }
            }
            if reconnect != nil {
                #expect(Double(step) * 0.1 >= 3 - 1e-9, "not before the 3 s window")
                break
            }
        }
        #expect(cancelled && w.runningAttempts.isEmpty && w.state == .disconnected)
        #expect(reconnect.map { $0 >= 0.08 && $0 <= 0.12 } == true)
        // no welcome after reconnecting: the next delay doubles
        _ = w.connected(at: 10)
        let second = w.tick(at: 15).compactMap { if case .reconnect(let d) = $0 { d } else { nil } }.first
        #expect(second.map { $0 >= 0.16 && $0 <= 0.24 } == true)
    }

    @Test func minimumCoordinatorSilenceOutlastsTheCoordinatorsWindow() {
        var configuration = WorkerEngine.Configuration()
        configuration.minimumCoordinatorSilence = 7.5
        let w = WorkerEngine(identity: identity, configuration: configuration)
        _ = w.connected(at: 0)
        _ = w.receive(frames: welcome(), at: 0)  // the coordinator's window: 1 s × 3
        var lostAt: Double?
        for step in 1...100 where lostAt == nil {
            let now = Double(step) * 0.1
            if w.tick(at: now).contains(where: { if case .reconnect = $0 { true } else { false } }) { lostAt = now }
        }
        #expect(lostAt.map { $0 >= 8 - 1e-9 && $0 <= 8.1 + 1e-9 } == true, "lost at \(lostAt ?? -1): 8 heartbeats of 1 s ≥ 7.5 s, not 3")
    }

    @Test func backoffIsCappedAndResets() {
        var b = ReconnectBackoff(initial: 0.1, maximum: 5, seed: 1)
        let delays = (0..<12).map { _ in b.next() }
        #expect(delays.allSatisfy { $0 <= 6 })
        #expect(delays.last! >= 4)
        b.reset()
        #expect(b.next() <= 0.12)
    }

    @Test func streamedTaskGetsCreditAndRegrants() {
        var config = WorkerEngine.Configuration()
        config.rowWindowBatches = 2
        config.rowWindowBytes = 1000
        let w = WorkerEngine(identity: identity, configuration: config)
        _ = w.connected(at: 0)
        _ = w.receive(frames: welcome(), at: 0)
        let a = WireSamples.assignment(kind: .extract, attemptID: 9)
        let out = w.receive(frames: frames(WireMessage(.assignment(a), seq: 2, session: 5)), at: 1)
        let sent = sentMessages(out)
        #expect(sent.map(\.kind) == ["started", "credit"])
        guard case .credit(let c) = sent.last?.body else { return }
        #expect(c.grantedBatches == 2 && c.grantedBytes == 1000)
        var batch = WireSamples.rowBatch(attemptID: 9, batchSeq: 0)
        batch.envelope.seq = 3
        batch.envelope.session = 5
        let rows = w.receive(frames: frames(batch), at: 1.1)
        guard case .rows(let b, let payload) = rows.first else {
            Issue.record("rows not delivered")
            return
        }
        #expect(b.recordLengths.count == 3 && payload.count == batch.payload?.count)
        let regrant = sentMessages(w.consumedRows(attemptID: 9, bytes: payload.count, at: 1.2))
        guard case .credit(let c2) = regrant.first?.body else {
            Issue.record("no regrant")
            return
        }
        #expect(c2.grantedBatches == 3)
    }

    @Test func resultsAreSentOnceAndOnlyForRunningAttempts() {
        let w = WorkerEngine(identity: identity)
        _ = w.connected(at: 0)
        _ = w.receive(frames: welcome(), at: 0)
        let a = WireSamples.assignment(kind: .train, attemptID: 9, source: .localSpill)
        #expect(sentMessages(w.receive(frames: frames(WireMessage(.assignment(a), seq: 2, session: 5)), at: 1)).map(\.kind) == ["started"])
        let cp = sentMessages(w.checkpointTrees(attemptID: 9, firstTree: 4, trees: [Data([1]), Data([2, 3])], at: 2))
        guard case .checkpoint(let c) = cp.first?.body, case .trees(let t) = c.content else {
            Issue.record("no checkpoint")
            return
        }
        #expect(t.firstTree == 4 && t.treeLengths == [1, 2] && cp.first?.payload == Data([1, 2, 3]))
        #expect(sentMessages(w.done(attemptID: 9, rows: 10, peakRSS: 5, result: nil, elapsed: 1, at: 3)).map(\.kind) == ["done"])
        #expect(w.done(attemptID: 9, rows: 10, peakRSS: 5, result: nil, elapsed: 1, at: 3).isEmpty)
        #expect(w.checkpointTrees(attemptID: 9, firstTree: 6, trees: [Data([1])], at: 4).isEmpty)
        let long = String(repeating: "é", count: 5000)
        let b = WireSamples.assignment(kind: .extract, attemptID: 10)
        _ = w.receive(frames: frames(WireMessage(.assignment(b), seq: 3, session: 5)), at: 5)
        let failed = sentMessages(w.failed(attemptID: 10, failure: TaskFailure(.io, long), peakRSS: 1, at: 6))
        // what the worker sends is valid for the coordinator
        #expect((try? WireMessage.decode(frames: frames(failed[0]), direction: .toCoordinator)) != nil)
    }

    /// Seeded mutations of every coordinator-bound message kind: the worker
    /// engine never runs a task from a corrupted assignment it cannot
    /// validate, never exits, and every message it sends is valid.
    @Test func mutatedTrafficNeverBreaksTheWorker() {
        let w = WorkerEngine(identity: identity)
        _ = w.connected(at: 0)
        _ = w.receive(frames: welcome(session: 5), at: 0)
        var rng = SplitMix64(seed: 77)
        let seeds = WireSamples.all().filter {
            $0.1 == .toWorker && $0.0.kind != "welcome" && $0.0.kind != "reject" && $0.0.kind != "shutdown"
        }
        .map { m -> [Data] in
            var x = m.0
            x.envelope.session = 5
            return frames(x)
        }
        var seq: UInt64 = 1
        var ran = 0
        for _ in 0..<5_000 {
            var f = seeds[Int(rng.next() % UInt64(seeds.count))]
            let i = Int(rng.next() % UInt64(f.count))
            if !f[i].isEmpty && rng.next() % 4 != 0 {
                let at = Int(rng.next() % UInt64(f[i].count))
                f[i][f[i].startIndex + at] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            }
            // keep the sequence valid often enough that messages reach the session checks
            if var env = try? WireEnvelope(serializedBytes: f[0]), rng.next() % 2 == 0 {
                seq += 1
                env.seq = seq
                env.session = 5
                if let data = try? env.serializedData() { f[0] = data }
            }
            for output in w.receive(frames: f, at: 1) {
                switch output {
                case .send(let m):
                    #expect((try? WireMessage.decode(frames: frames(m), direction: .toCoordinator)) != nil, "invalid \(m.kind) sent")
                case .run(let a):
                    // What runs is the conversion of an assignment that validates.
                    guard case .assignment(let wire)? = (try? WireMessage.decode(frames: f, direction: .toWorker))?.body else {
                        Issue.record("ran attempt \(a.attemptID) from frames that do not validate")
                        continue
                    }
                    #expect((try? TaskAssignment(wire: wire)) == a)
                    ran += 1
                case .exit:
                    Issue.record("worker exited on mutated input")
                default:
                    break
                }
            }
        }
        #expect(ran > 0, "some assignments reached the executor")
        #expect(w.state == .ready)
    }

    @Test func shutdownSaysGoodbyeAndExits() {
        let w = WorkerEngine(identity: identity)
        _ = w.connected(at: 0)
        _ = w.receive(frames: welcome(), at: 0)
        var s = WireShutdown()
        s.reason = "job done"
        let out = w.receive(frames: frames(WireMessage(.shutdown(s), seq: 2, session: 5)), at: 1)
        #expect(sentMessages(out).map(\.kind) == ["goodbye"])
        guard case .exit(_, let failure) = out.last else {
            Issue.record("no exit")
            return
        }
        #expect(!failure && w.state == .finished)
    }
}
