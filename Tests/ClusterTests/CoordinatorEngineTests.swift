import Foundation
import Logging
import SpaceTime
import Testing

@testable import Cluster

/// A scripted worker speaking the protocol to a `CoordinatorEngine`, no sockets.
private struct FakeWorker {
    let address: PeerAddress
    let id: String
    var pid: UInt32
    var memory: UInt64 = 512 << 20
    var seq: UInt64 = 0
    var session: UInt64 = 0
    var held: [WireHeldPartition] = []

    init(_ id: String, address: UInt8, pid: UInt32 = 1000) {
        self.id = id
        self.address = PeerAddress([0, address])
        self.pid = pid
    }

    mutating func frames(_ body: WireEnvelope.OneOf_Body, payload: Data? = nil) -> [Data] {
        seq += 1
        // Test-built messages are valid; encoding cannot fail here.
        return (try? WireMessage(body, payload: payload, seq: seq, session: session).encodeFrames()) ?? []
    }

    mutating func hello() -> [Data] {
        var h = WireHello()
        h.protocolVersion = ProtocolVersion.current
        h.workerID = id
        h.host = "host-\(id)"
        h.pid = pid
        h.cores = 2
        h.memoryLimitBytes = memory
        h.held = held
        seq = 0
        session = 0
        return frames(.hello(h))
    }

    mutating func started(_ a: WireTaskAssignment) -> [Data] {
        var s = WireTaskStarted()
        s.taskID = a.taskID
        s.attemptID = a.attemptID
        return frames(.started(s))
    }

    mutating func credit(_ a: WireTaskAssignment, messages: UInt64, bytes: UInt64) -> [Data] {
        var c = WireCredit()
        c.attemptID = a.attemptID
        c.stream = .rows
        c.grantedBatches = messages
        c.grantedBytes = bytes
        return frames(.credit(c))
    }

    /// `classFields`: the optional class labels and counts (the engine checks, never uses them).
    mutating func stats(_ a: WireTaskAssignment, train: UInt64 = 8, test: UInt64 = 2, classFields: Bool = true) -> [Data] {
        var s = WireCheckpoint.ExtractStats()
        s.rows = train + test
        s.trainRows = train
        s.testRows = test
        if classFields {
            s.classLabels = ["a", "b"]
            s.trainClassCounts = [train / 2, train - train / 2]
            s.testClassCounts = [test / 2, test - test / 2]
        }
        var c = WireCheckpoint()
        c.taskID = a.taskID
        c.attemptID = a.attemptID
        c.stats = s
        return frames(.checkpoint(c), payload: Data("stats-p\(a.partition)".utf8))
    }

    mutating func trees(_ a: WireTaskAssignment, _ range: Range<Int>) -> [Data] {
        let blobs = range.map { Data("tree \(a.partition).\($0)".utf8) }
        var t = WireCheckpoint.Trees()
        t.firstTree = UInt32(range.lowerBound)
        t.treeLengths = blobs.map { UInt32($0.count) }
        var c = WireCheckpoint()
        c.taskID = a.taskID
        c.attemptID = a.attemptID
        c.trees = t
        return frames(.checkpoint(c), payload: blobs.reduce(Data(), +))
    }

    mutating func done(_ a: WireTaskAssignment, result: Data? = nil) -> [Data] {
        var d = WireTaskDone()
        d.taskID = a.taskID
        d.attemptID = a.attemptID
        d.peakRssBytes = 100 << 20
        d.hasResult_p = result != nil
        return frames(.done(d), payload: result)
    }

    mutating func failed(_ a: WireTaskAssignment, reason: WireFailureReason, message: String, retryable: Bool) -> [Data] {
        var f = WireTaskFailed()
        f.taskID = a.taskID
        f.attemptID = a.attemptID
        f.reason = reason
        f.message = message
        f.retryable = retryable
        f.peakRssBytes = 200 << 20
        return frames(.failed(f))
    }

    mutating func heartbeat(running: [WireTaskAssignment] = []) -> [Data] {
        var hb = WireHeartbeat()
        hb.rssBytes = 50 << 20
        hb.peakRssBytes = 60 << 20
        hb.running = running.map { a in
            var p = WireProgress()
            p.taskID = a.taskID
            p.attemptID = a.attemptID
            p.unit = .rows
            return p
        }
        return frames(.heartbeat(hb))
    }
}

private func t(_ s: Double) -> EngineTime { EngineTime(monotonic: s, wall: 1_800_000_000 + s) }

private func sent(_ out: [CoordinatorOutput], to address: PeerAddress? = nil) -> [WireMessage] {
    out.compactMap { if case .send(let a, let m) = $0, address == nil || a == address { m } else { nil } }
}

private func assignments(_ out: [CoordinatorOutput], to address: PeerAddress? = nil) -> [WireTaskAssignment] {
    sent(out, to: address).compactMap { if case .assignment(let a) = $0.body { a } else { nil } }
}

private func logs(_ out: [CoordinatorOutput]) -> [String] {
    out.compactMap { if case .log(_, let s, _) = $0 { s.description } else { nil } }
}

/// The metadata of the log line whose text starts with `prefix`.
private func metadata(_ out: [CoordinatorOutput], ofLineStarting prefix: String) -> Logger.Metadata? {
    for case .log(_, let s, let metadata) in out where s.description.hasPrefix(prefix) { return metadata }
    return nil
}

private final class Harness {
    let store: JobStore
    let engine: CoordinatorEngine
    var nextSession: UInt64 = 100

    init(partitions: Int = 2, trees: Int = 4, maxAttempts: Int = 3) throws {
        store = try JobStore()
        try store.createJob(
            JobSpec(
                jobID: "job-1", dataFiles: ["d.csv"], parameters: Data([1]), seed: 42,
                partitions: partitions, testFraction: 0.2, trees: trees, maxAttempts: maxAttempts), now: 0)
        var config = CoordinatorEngine.Configuration()
        config.heartbeatInterval = 1
        config.liveness = 5
        config.leaseDuration = 30
        var counter: UInt64 = 100
        engine = try CoordinatorEngine(
            store: store, schema: WireSamples.schema(), configuration: config,
            makeSessionID: {
                counter += 1
                return counter
            })
    }

    /// What each worker has received, checked as a worker would check it.
    var views: [PeerAddress: CoordinatorPeerSession] = [:]

    func validate(_ out: [CoordinatorOutput], sourceLocation: SourceLocation = #_sourceLocation) -> [CoordinatorOutput] {
        for case .send(let address, let message) in out {
            do {
                let frames = try message.encodeFrames()
                let decoded = try WireMessage.decode(frames: frames, direction: .toWorker)
                if case .welcome = decoded.body { views[address] = CoordinatorPeerSession() }
                var view = views[address] ?? CoordinatorPeerSession()
                try view.accept(decoded)
                views[address] = view
            } catch {
                Issue.record("engine sent an invalid \(message.kind) to \(address): \(error)", sourceLocation: sourceLocation)
            }
        }
        return out
    }

    func receive(from address: PeerAddress, frames: [Data], at time: EngineTime) throws -> [CoordinatorOutput] {
        validate(try engine.receive(from: address, frames: frames, at: time))
    }

    func tick(at time: EngineTime) throws -> [CoordinatorOutput] {
        validate(try engine.tick(at: time))
    }

    /// Hello → welcome; returns the outputs.
    @discardableResult
    func join(_ w: inout FakeWorker, at time: Double) throws -> [CoordinatorOutput] {
        let out = try receive(from: w.address, frames: w.hello(), at: t(time))
        for m in sent(out, to: w.address) {
            if case .welcome(let welcome) = m.body { w.session = welcome.session }
        }
        return out
    }
}

@Suite struct CoordinatorEngineTests {
    @Test func handshakeWelcomesAndRejects() throws {
        let h = try Harness()
        var w1 = FakeWorker("w1", address: 1)
        let out = try h.join(&w1, at: 0)
        #expect(w1.session == 101)
        #expect(h.engine.connectedWorkers == ["w1"])
        #expect(try h.store.workers().map(\.id) == ["w1"])
        #expect(logs(out).contains("worker w1 joined from host-w1 (pid 1000, 2 cores, limit 512 MiB)"))

        var impostor = FakeWorker("w1", address: 2, pid: 2000)
        let rejected = try h.join(&impostor, at: 1)
        guard case .reject(let r) = sent(rejected, to: impostor.address).first?.body else {
            Issue.record("no reject")
            return
        }
        #expect(r.code == .duplicateWorkerID)

        var tiny = FakeWorker("w3", address: 3)
        tiny.memory = 16 << 20
        guard case .reject(let r2) = sent(try h.join(&tiny, at: 1), to: tiny.address).first?.body else {
            Issue.record("no reject")
            return
        }
        #expect(r2.code == .memoryTooSmall)

        var old = FakeWorker("w4", address: 4)
        var frames = old.hello()
        var env = try WireEnvelope(serializedBytes: frames[0])
        env.hello.protocolVersion = 9
        frames[0] = try env.serializedData()
        guard case .reject(let r3) = sent(try h.receive(from: old.address, frames: frames, at: t(1))).first?.body else {
            Issue.record("no reject")
            return
        }
        #expect(r3.code == .protocolVersion && r3.supportedProtocolVersion == 1)
    }

    /// Lines about a worker, a task or an attempt carry them as metadata (``LogKey``).
    @Test func linesNameTheirWorkerPeerTaskAndAttemptInTheirMetadata() throws {
        let h = try Harness()
        var w = FakeWorker("w1", address: 1)
        let joined = try #require(metadata(try h.join(&w, at: 0), ofLineStarting: "worker w1 joined"))
        #expect(joined[LogKey.worker] == "w1" && joined[LogKey.peer] == "0x0001")
        let out = try h.tick(at: t(0.5))
        let a = try #require(assignments(out, to: w.address).first)
        let assigned = try #require(metadata(out, ofLineStarting: "extract/p\(a.partition) "))
        #expect(assigned[LogKey.task] == "extract/p\(a.partition)")
        #expect(assigned[LogKey.attempt] == .string(String(a.attemptID)))
        #expect(assigned[LogKey.worker] == "w1" && assigned[LogKey.peer] == "0x0001")
        let junk = try h.receive(from: w.address, frames: [Data([0xFF, 0x00, 0x13])], at: t(1))
        #expect(metadata(junk, ofLineStarting: "dropped message")?[LogKey.worker] == "w1")
    }

    @Test func garbageAndOutOfOrderMessagesAreDroppedAndLogged() throws {
        let h = try Harness()
        var w = FakeWorker("w1", address: 1)
        try h.join(&w, at: 0)
        let junk = try h.receive(from: w.address, frames: [Data([0xFF, 0x00, 0x13])], at: t(1))
        #expect(sent(junk).isEmpty)
        #expect(logs(junk).first?.hasPrefix("dropped message from worker w1") == true)
        let hb = w.heartbeat()
        _ = try h.receive(from: w.address, frames: hb, at: t(1))
        let replay = try h.receive(from: w.address, frames: hb, at: t(1.1))
        #expect(logs(replay).first?.contains("sequenceNotIncreasing") == true)
        let stranger = try h.receive(from: PeerAddress([9]), frames: WireSamples.treesCheckpoint().encodeFrames(), at: t(1))
        #expect(logs(stranger).first?.contains("no session") == true)
        #expect(h.engine.connectedWorkers == ["w1"])
    }

    /// Two partitions, one worker: extract with streamed rows under credit,
    /// merge gate, train from the local spill with tree checkpoints, evaluate.
    @Test func fullJobOnOneWorker() throws {
        let h = try Harness(partitions: 2, trees: 4)
        var w = FakeWorker("w1", address: 1)
        try h.join(&w, at: 0)

        var out = try h.tick(at: t(0.5))
        let extracts = assignments(out, to: w.address)
        #expect(extracts.map(\.partition) == [0, 1])
        #expect(extracts.allSatisfy { $0.kind == .extract && $0.source == .streamed })
        #expect(try h.store.stage() == .extract)
        for a in extracts {
            _ = try h.receive(from: w.address, frames: w.started(a), at: t(0.6))
        }
        // rows: no credit yet → nothing sent; then 1 batch of credit
        let e0 = extracts[0]
        #expect(!h.engine.canSendRows(to: e0.attemptID, bytes: 10))
        _ = try h.receive(from: w.address, frames: w.credit(e0, messages: 1, bytes: 1000), at: t(0.7))
        #expect(h.engine.canSendRows(to: e0.attemptID, bytes: 10))
        out = h.validate(
            h.engine.sendRows(
                to: e0.attemptID, firstLine: 2, lineDeltas: [3], recordLengths: [5, 5], testMask: Data([0b10]),
                trainRows: 1, payload: Data("1,2,a3,4,b".utf8), at: t(0.8)))
        let batch = try #require(sent(out, to: w.address).first)
        #expect(batch.envelope.session == w.session)
        #expect(h.views[w.address]?.assignments[e0.attemptID]?.rows == 2, "the worker-side session accepted the batch")
        #expect(!h.engine.canSendRows(to: e0.attemptID, bytes: 1), "credit used up")
        #expect(
            h.validate(
                h.engine.sendRows(
                    to: e0.attemptID, firstLine: 9, lineDeltas: [], recordLengths: [1], testMask: Data([0]),
                    trainRows: 1, payload: Data("x".utf8), at: t(0.8))
            ).isEmpty)
        out = h.validate(h.engine.endRows(to: e0.attemptID, at: t(0.9)))
        guard case .rowsEnd(let end) = sent(out).first?.body else {
            Issue.record("no rows_end")
            return
        }
        #expect(end.batches == 1 && end.rows == 2 && end.trainRows == 1 && end.testRows == 1)

        for a in extracts {
            // partition 1 reports no class fields (as for a regression target): the same to the engine
            out = try h.receive(
                from: w.address, frames: w.stats(a, train: 8 - UInt64(a.partition), classFields: a.partition == 0), at: t(1))
            #expect(sent(out).contains { if case .checkpointAck = $0.body { true } else { false } })
            _ = try h.receive(from: w.address, frames: w.done(a), at: t(1.1))
        }
        #expect(try h.store.partitions().map(\.trainRows) == [8, 7])
        #expect(try h.store.partitions().map(\.testRows) == [2, 2])
        out = try h.tick(at: t(1.2))
        #expect(assignments(out).isEmpty, "train waits for the merged extractor")
        #expect(try h.store.stage() == .merge)

        h.engine.extractor = {
            var b = WireBlob()
            b.inline = Data("extractor".utf8)
            return b
        }()
        h.engine.gates.produce(.extractor)
        out = try h.tick(at: t(2))
        let train = assignments(out, to: w.address)
        #expect(train.count == 1, "one train task at a time per worker")
        let tr = try #require(train.first)
        #expect(tr.kind == .train && tr.source == .localSpill && tr.spillAttemptID == extracts[Int(tr.partition)].attemptID)
        #expect(tr.trees.first == 0 && tr.trees.end == 2 && tr.treesInPartition == 2)
        // the wire field `classes` carries the driver's histogram words per bin, 2 until it says otherwise
        #expect(tr.classes == 2)
        #expect(tr.expectedTrainRows == 8 - UInt64(tr.partition) && tr.expectedRows == 10 - UInt64(tr.partition))
        _ = try h.receive(from: w.address, frames: w.started(tr), at: t(2.1))
        out = try h.receive(from: w.address, frames: w.trees(tr, 0..<2), at: t(2.2))
        guard case .checkpointAck(let ack) = sent(out).first?.body else {
            Issue.record("no ack")
            return
        }
        #expect(ack.treesStored == 2)
        _ = try h.receive(from: w.address, frames: w.done(tr), at: t(2.3))
        h.engine.histogramWordsPerBin = 5
        let tr2 = try #require(assignments(try h.tick(at: t(2.4))).first)
        #expect(tr2.classes == 5)
        _ = try h.receive(from: w.address, frames: w.started(tr2), at: t(2.5))
        _ = try h.receive(from: w.address, frames: w.trees(tr2, 0..<2), at: t(2.6))
        _ = try h.receive(from: w.address, frames: w.done(tr2), at: t(2.7))
        #expect(try h.store.checkpointedTrees(partition: 0) == [0, 1])
        #expect(try h.store.checkpointedTrees(partition: 1) == [0, 1])

        #expect(assignments(try h.tick(at: t(3))).isEmpty, "evaluate waits for the model")
        h.engine.model = h.engine.addBlob(Data(repeating: 7, count: 10), digest: Data(repeating: 1, count: 32))
        h.engine.gates.produce(.model)
        for i in 0..<2 {
            let ev = try #require(assignments(try h.tick(at: t(3.1 + Double(i)))).first)
            #expect(ev.kind == .evaluate && ev.model.ref.size == 10)
            var req = WireBlobRequest()
            req.digest = ev.model.ref.digest
            req.offset = 4
            req.maxBytes = 100
            out = try h.receive(from: w.address, frames: w.frames(.blobRequest(req)), at: t(3.2 + Double(i)))
            let chunk = try #require(sent(out).first)
            #expect(chunk.payload == Data(repeating: 7, count: 6))
            _ = try h.receive(from: w.address, frames: w.started(ev), at: t(3.3 + Double(i)))
            _ = try h.receive(from: w.address, frames: w.done(ev, result: Data([UInt8(i)])), at: t(3.4 + Double(i)))
        }
        _ = try h.tick(at: t(6))
        #expect(try h.store.stage() == .save)
        #expect(try h.store.evaluationResults().map(\.result) == [Data([0]), Data([1])])
    }

    /// A worker goes silent mid-training: within the detection window nothing
    /// happens; after it, its task resumes on another worker at the first
    /// missing tree; when the cut-off worker comes back, its stale results
    /// are discarded and recorded.
    @Test func silentWorkerIsDetectedAndItsTaskResumesElsewhere() throws {
        let h = try Harness(partitions: 1, trees: 6)
        h.engine.configuration.treeRangeTasks = false  // one whole train task, rerun on w2
        var w1 = FakeWorker("w1", address: 1)
        var w2 = FakeWorker("w2", address: 2)
        try h.join(&w1, at: 0)
        let ex = try #require(assignments(try h.tick(at: t(0))).first)
        _ = try h.receive(from: w1.address, frames: w1.started(ex), at: t(0.1))
        _ = try h.receive(from: w1.address, frames: w1.stats(ex), at: t(0.2))
        _ = try h.receive(from: w1.address, frames: w1.done(ex), at: t(0.3))
        try h.join(&w2, at: 0.4)
        h.engine.extractor = {
            var b = WireBlob()
            b.inline = Data("x".utf8)
            return b
        }()
        h.engine.gates.produce(.extractor)
        let tr = try #require(assignments(try h.tick(at: t(1))).first)
        #expect(tr.source == .localSpill, "w1 holds the partition")
        _ = try h.receive(from: w1.address, frames: w1.started(tr), at: t(1.1))
        _ = try h.receive(from: w1.address, frames: w1.trees(tr, 0..<3), at: t(1.2))
        // w1 is cut off after t = 1.2; w2 keeps heartbeating
        for time in stride(from: 1.7, through: 6.1, by: 0.5) {
            _ = try h.receive(from: w2.address, frames: w2.heartbeat(), at: t(time))
            let out = try h.tick(at: t(time))
            #expect(assignments(out).isEmpty, "no rerun before the window (t = \(time))")
        }
        let out = try h.tick(at: t(6.22))
        #expect(logs(out).contains { $0.hasPrefix("worker w1 (pid 1000) presumed dead: no message for 5.0 s") })
        let rerun = try #require(assignments(out, to: w2.address).first)
        #expect(rerun.trees.first == 3 && rerun.trees.end == 6)
        #expect(rerun.source == .streamed, "w1's spill is gone with it")
        #expect(logs(out).contains { $0.hasPrefix("train/p0 resumed at tree 3 of 6 on w2 (attempt 2 of 3), rows streamed again") })
        #expect(try h.store.workers().first { $0.id == "w1" }?.state == .lost)

        // w1's network heals: its old-session messages are discarded and recorded
        let late = try h.receive(from: w1.address, frames: w1.trees(tr, 3..<6), at: t(7))
        #expect(logs(late).first?.contains("no session") == true)
        let discards = try h.store.events(kind: .staleDiscarded)
        #expect(discards.map(\.attemptID) == [tr.attemptID])
        #expect(try h.store.checkpointedTrees(partition: 0) == [0, 1, 2])
        // it rejoins with a new session and may get new work later
        try h.join(&w1, at: 7.5)
        #expect(h.engine.connectedWorkers == ["w1", "w2"])
    }

    /// A worker that reconnects (new session) announces the spill it kept: its
    /// partition's training still runs there from the spill, not streamed again.
    /// Without the announcement the coordinator cannot know the spill survived.
    @Test(arguments: [true, false])
    func aReconnectedWorkersAnnouncedSpillIsUsed(announced: Bool) throws {
        let h = try Harness(partitions: 1, trees: 2)
        var w1 = FakeWorker("w1", address: 1)
        try h.join(&w1, at: 0)
        let ex = try #require(assignments(try h.tick(at: t(0))).first)
        _ = try h.receive(from: w1.address, frames: w1.started(ex), at: t(0.1))
        _ = try h.receive(from: w1.address, frames: w1.stats(ex), at: t(0.2))
        _ = try h.receive(from: w1.address, frames: w1.done(ex), at: t(0.3))
        // reconnect: a new socket (address), the same worker id
        var again = FakeWorker("w1", address: 3)
        if announced {
            var held = WireHeldPartition()
            held.jobID = try #require(try h.store.jobSpec()).jobID
            held.partition = 0
            held.extractAttemptID = ex.attemptID
            again.held = [held]
        }
        try h.join(&again, at: 0.5)
        h.engine.extractor = {
            var b = WireBlob()
            b.inline = Data("x".utf8)
            return b
        }()
        h.engine.gates.produce(.extractor)
        let tr = try #require(assignments(try h.tick(at: t(1)), to: again.address).first)
        #expect(tr.kind == .train)
        if announced {
            #expect(tr.source == .localSpill && tr.spillAttemptID == ex.attemptID)
        } else {
            #expect(tr.source == .streamed)
        }
    }

    @Test func leaseExpiresWhenHeartbeatsStopListingTheAttempt() throws {
        let h = try Harness(partitions: 1, trees: 2)
        var w = FakeWorker("w1", address: 1)
        try h.join(&w, at: 0)
        let ex = try #require(assignments(try h.tick(at: t(0))).first)
        _ = try h.receive(from: w.address, frames: w.started(ex), at: t(0.1))
        var time = 0.0
        var cancelled = false
        while time < 45 {
            time += 1
            _ = try h.receive(from: w.address, frames: w.heartbeat(running: time < 10 ? [ex] : []), at: t(time))
            let out = try h.tick(at: t(time))
            cancelled =
                cancelled
                || sent(out, to: w.address).contains { if case .cancel(let c) = $0.body { c.attemptID == ex.attemptID } else { false } }
            if cancelled { break }
        }
        #expect(cancelled)
        #expect(time == 39, "expires 30 s after the last renewal at t = 9")
        #expect(try h.store.attempt(ex.attemptID)?.outcome == .lost)
    }

    @Test func retriesExhaustedFailTheJobWithAClearMessage() throws {
        let h = try Harness(partitions: 1, trees: 2, maxAttempts: 2)
        var w = FakeWorker("w2", address: 1, pid: 4121)
        for attempt in 0..<2 {
            w.pid = 4121 + UInt32(attempt)
            try h.join(&w, at: Double(attempt * 10))
            let a = try #require(assignments(try h.tick(at: t(Double(attempt * 10) + 1))).first)
            _ = try h.receive(from: w.address, frames: w.started(a), at: t(Double(attempt * 10) + 2))
            var hb = WireHeartbeat()
            hb.rssBytes = 498 << 20
            hb.peakRssBytes = 498 << 20
            _ = try h.receive(from: w.address, frames: w.frames(.heartbeat(hb)), at: t(Double(attempt * 10) + 3))
            _ = h.validate(try h.engine.workerProcessEnded(workerID: "w2", signal: 9, status: nil, at: t(Double(attempt * 10) + 4)))
        }
        let out = try h.tick(at: t(30))
        let failure = out.compactMap { if case .jobFailed(let m) = $0 { m } else { nil } }.first
        #expect(failure == "extract/p0 failed 2 times: worker w2 (pid 4122) was killed by signal 9 at 498 MiB of its 512 MiB limit")
        #expect(try h.store.stage() == .failed)
        #expect(try h.store.failure() == failure)
        #expect(h.engine.finished)
    }

    /// A worker OOM-killed by its cgroup before a heartbeat showed the rise: the
    /// launcher's cgroup peak is what the failure reports.
    @Test func theCgroupPeakFromTheLauncherIsReportedWhenHeartbeatsMissedTheRise() throws {
        let h = try Harness(partitions: 1, trees: 2, maxAttempts: 1)
        var w = FakeWorker("w1", address: 1, pid: 77)
        try h.join(&w, at: 0)
        let a = try #require(assignments(try h.tick(at: t(1))).first)
        _ = try h.receive(from: w.address, frames: w.started(a), at: t(2))
        var hb = WireHeartbeat()
        hb.rssBytes = 40 << 20
        hb.peakRssBytes = 40 << 20
        _ = try h.receive(from: w.address, frames: w.frames(.heartbeat(hb)), at: t(3))
        _ = h.validate(try h.engine.workerProcessEnded(workerID: "w1", signal: 9, status: nil, peakMemory: 512 << 20, at: t(4)))
        let out = try h.tick(at: t(5))
        let failure = out.compactMap { if case .jobFailed(let m) = $0 { m } else { nil } }.first
        #expect(failure == "extract/p0 failed once: worker w1 (pid 77) was killed by signal 9 at 512 MiB of its 512 MiB limit")
    }

    @Test func badInputFailsAtOnce() throws {
        let h = try Harness(partitions: 1, trees: 2)
        var w = FakeWorker("w1", address: 1)
        try h.join(&w, at: 0)
        let a = try #require(assignments(try h.tick(at: t(0))).first)
        _ = try h.receive(from: w.address, frames: w.started(a), at: t(0.1))
        _ = try h.receive(
            from: w.address,
            frames: w.failed(
                a, reason: .badInput,
                message: "d.csv line 12, column 3: \"abc\" is not a number", retryable: false), at: t(0.2))
        let out = try h.tick(at: t(1))
        let failure = out.compactMap { if case .jobFailed(let m) = $0 { m } else { nil } }.first
        #expect(failure == "extract/p0 failed: worker w1 (pid 1000) reported: d.csv line 12, column 3: \"abc\" is not a number")
        #expect(sent(out, to: w.address).contains { if case .shutdown = $0.body { true } else { false } })
    }

    /// Seeded random and mutated frames from a joined worker and from
    /// strangers, interleaved with a real job's traffic: the engine never
    /// throws (no store error), never sends an invalid message, and the job
    /// still gets its extract attempts done.
    @Test func mutatedTrafficNeverBreaksTheEngine() throws {
        let h = try Harness(partitions: 2, trees: 4)
        var w = FakeWorker("w1", address: 1)
        try h.join(&w, at: 0)
        let extracts = assignments(try h.tick(at: t(0.1)))
        #expect(extracts.count == 2)
        var rng = SplitMix64(seed: 2024)
        let seeds = try WireSamples.all().filter { $0.1 == .toCoordinator }.map { try $0.0.encodeFrames() }
        var time = 0.2
        for i in 0..<5_000 {
            var frames = seeds[Int(rng.next() % UInt64(seeds.count))]
            let f = Int(rng.next() % UInt64(frames.count))
            if !frames[f].isEmpty {
                for _ in 0...(rng.next() % 3) {
                    let at = Int(rng.next() % UInt64(frames[f].count))
                    frames[f][frames[f].startIndex + at] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                }
            }
            // half from the real worker's address (its session and sequence are then usually wrong), half from strangers
            let from = i % 2 == 0 ? w.address : PeerAddress([9, UInt8(i % 7)])
            time += 0.001
            _ = try h.receive(from: from, frames: frames, at: t(time))
            if i % 500 == 0 { _ = try h.receive(from: w.address, frames: w.heartbeat(running: extracts), at: t(time)) }
        }
        // a stranger's (mutated but valid) hello may join as another worker — authentication is CURVE's job —
        // but nobody displaced w1: its session still works below
        #expect(h.engine.connectedWorkers.contains("w1"))
        for a in extracts {
            _ = try h.receive(from: w.address, frames: w.started(a), at: t(time + 0.1))
            _ = try h.receive(from: w.address, frames: w.stats(a), at: t(time + 0.2))
            _ = try h.receive(from: w.address, frames: w.done(a), at: t(time + 0.3))
        }
        #expect(try h.store.tasks().filter { $0.name.kind == .extract }.allSatisfy { $0.state == .done })
        _ = try h.tick(at: t(time + 1))
        #expect(try h.store.stage() == .merge)
    }

    @Test func artifactBlobsAreServedInChunksFromTheStore() throws {
        let h = try Harness(partitions: 1, trees: 2)
        var w = FakeWorker("w1", address: 1)
        try h.join(&w, at: 0)
        let model = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try h.store.putArtifact("model", model, now: 0)
        let digest = Data(repeating: 5, count: 32)
        let blob = try #require(try h.engine.addArtifactBlob("model", digest: digest))
        #expect(blob.ref.size == 10_000)
        #expect(try h.engine.addArtifactBlob("missing", digest: digest) == nil)
        var fetched = Data()
        while fetched.count < model.count {
            var req = WireBlobRequest()
            req.digest = digest
            req.offset = UInt64(fetched.count)
            req.maxBytes = 3_000
            let out = try h.receive(from: w.address, frames: w.frames(.blobRequest(req)), at: t(1))
            guard let chunk = sent(out).first, case .blobChunk(let c) = chunk.body else {
                Issue.record("no chunk")
                return
            }
            #expect(c.offset == UInt64(fetched.count) && c.totalSize == 10_000)
            fetched.append(chunk.payload ?? Data())
        }
        #expect(fetched == model)
        var past = WireBlobRequest()
        past.digest = digest
        past.offset = 10_000
        past.maxBytes = 10
        #expect(sent(try h.receive(from: w.address, frames: w.frames(.blobRequest(past)), at: t(2))).isEmpty)
    }

    @Test func goodbyeAbandonsWithoutCountingAFailure() throws {
        let h = try Harness(partitions: 1, trees: 2)
        var w = FakeWorker("w1", address: 1)
        try h.join(&w, at: 0)
        let a = try #require(assignments(try h.tick(at: t(0))).first)
        _ = try h.receive(from: w.address, frames: w.started(a), at: t(0.1))
        var g = WireGoodbye()
        g.reason = "SIGTERM"
        _ = try h.receive(from: w.address, frames: w.frames(.goodbye(g)), at: t(0.2))
        #expect(h.engine.connectedWorkers.isEmpty)
        #expect(try h.store.task(TaskName(.extract, 0)).state == .pending)
        #expect(try h.store.task(TaskName(.extract, 0)).failures == 0)
        #expect(try h.store.workers().first?.state == .left)
    }
}
