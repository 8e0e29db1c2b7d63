import Foundation
import SpaceTime
import TestSupport
import Testing
import ZeroMQ

@testable import Cluster

/// Streams synthetic rows into the engine's row streams and merges when a
/// stage needs it (what the real driver does with the CSV and Forest).
private final class TestDriver: CoordinatorDriver {
    let store: JobStore
    let partitions: Int
    let rowCount: Int
    var cursor: [UInt64: Int] = [:]

    init(store: JobStore, partitions: Int, rows: Int) {
        self.store = store
        self.partitions = partitions
        rowCount = rows
    }

    func drive(_ engine: CoordinatorEngine, at time: EngineTime) throws -> [CoordinatorOutput] {
        var out: [CoordinatorOutput] = []
        for (partition, attemptID) in engine.rowStreams {
            let mine = (0..<rowCount).filter { $0 % partitions == partition }
            var index = cursor[attemptID] ?? 0
            while index < mine.count {
                let chunk = Array(mine[index..<min(mine.count, index + 8)])
                let records = chunk.map { "\($0),\($0 * 3),\($0 % 2)" }
                let payload = Data(records.joined().utf8)
                guard engine.canSendRows(to: attemptID, bytes: payload.count) else { break }
                var mask = Data(repeating: 0, count: (chunk.count + 7) / 8)
                for (i, row) in chunk.enumerated() where row % 5 == 0 { mask[i / 8] |= 1 << UInt8(i % 8) }
                out += engine.sendRows(
                    to: attemptID, firstLine: UInt64(chunk[0] + 2),
                    lineDeltas: zip(chunk.dropFirst(), chunk).map { UInt32($0 - $1) },
                    recordLengths: records.map { UInt32($0.utf8.count) }, testMask: mask,
                    trainRows: chunk.filter { $0 % 5 != 0 }.count, payload: payload, at: time)
                index += chunk.count
            }
            cursor[attemptID] = index
            if index == mine.count { out += engine.endRows(to: attemptID, at: time) }
        }
        let stage = try store.stage()
        if stage == .merge && !engine.gates.has(.extractor) {
            engine.extractor = {
                var b = WireBlob()
                b.inline = Data("extractor".utf8)
                return b
            }()
            engine.gates.produce(.extractor)
        } else if stage == .merge && !engine.gates.has(.model),
            try store.tasks().allSatisfy({ $0.name.kind != .train || $0.state == .done })
        {
            var size = 0
            try store.forEachTree { _, _, tree in size += tree.count }
            engine.model = engine.addBlob(Data(repeating: 1, count: size), digest: Data(repeating: 2, count: 32))
            engine.gates.produce(.model)
        }
        return out
    }
}

/// A fake executor: counts rows, emits one tree every `treeDelay` seconds
/// from a background thread, and answers evaluations at once.
private final class FakeExecutor: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [UInt64: (all: UInt64, train: UInt64)] = [:]
    private var assignments: [UInt64: TaskAssignment] = [:]
    private var client: WorkerClient?
    private var stopped = false
    let treeDelay: Double
    /// The worker engine's log lines.
    let logs = LogSink()

    init(treeDelay: Double) { self.treeDelay = treeDelay }

    func attach(_ client: WorkerClient) { lock.withLock { self.client = client } }
    func stop() { lock.withLock { stopped = true } }

    func handle(_ output: WorkerOutput) -> [WorkerEvent] {
        switch output {
        case .run(let a):
            lock.withLock {
                rows[a.attemptID] = (0, 0)
                assignments[a.attemptID] = a
            }
            if a.kind == .train && a.source == .localSpill { startTraining(a) }
            if a.kind == .evaluate {
                return [.done(attemptID: a.attemptID, rows: 0, peakRSS: 1 << 20, result: Data("eval \(a.partition)".utf8), elapsed: 0)]
            }
            return []
        case .rows(let batch, let payload):
            let tests = (0..<batch.recordLengths.count).filter { batch.testMask[$0 / 8] & (1 << UInt8($0 % 8)) != 0 }.count
            lock.withLock {
                rows[batch.attemptID]?.all += UInt64(batch.recordLengths.count)
                rows[batch.attemptID]?.train += UInt64(batch.recordLengths.count - tests)
            }
            return [.consumedRows(attemptID: batch.attemptID, bytes: payload.count)]
        case .rowsEnd(let end):
            let (all, train) = lock.withLock { rows[end.attemptID] ?? (0, 0) }
            if let a = lock.withLock({ assignments[end.attemptID] }), a.kind == .train {
                startTraining(a)  // rows streamed again to a new worker: train once they are in
                return []
            }
            var s = WireCheckpoint.ExtractStats()
            s.rows = all
            s.trainRows = train
            s.testRows = all - train
            s.classLabels = ["x"]
            s.trainClassCounts = [train]
            s.testClassCounts = [all - train]
            return [
                .checkpointStats(attemptID: end.attemptID, stats: s, blob: Data("stats".utf8)),
                .done(attemptID: end.attemptID, rows: all, peakRSS: 2 << 20, result: nil, elapsed: 0)
            ]
        case .log(_, let line, _):
            logs.append("\(line)")
            if ProcessInfo.processInfo.environment["TRANSPORT_LOG"] != nil { print("worker: \(line)") }
            return []
        default:
            return []
        }
    }

    private func startTraining(_ a: TaskAssignment) {
        let delay = treeDelay
        Thread.detachNewThread { [self] in
            for index in a.trees {
                Thread.sleep(forTimeInterval: delay)
                let (client, stopped) = lock.withLock { (self.client, self.stopped) }
                if stopped { return }
                client?.post(
                    .checkpointTrees(
                        attemptID: a.attemptID, firstTree: index,
                        trees: [Data("tree \(a.partition).\(index) seed \(a.seed)".utf8)]))
            }
            let client = lock.withLock { self.client }
            client?.post(.done(attemptID: a.attemptID, rows: 0, peakRSS: 3 << 20, result: nil, elapsed: 0))
        }
    }
}

private func waitUntil(_ timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return try condition()
}

private final class LogSink: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.withLock { lines.append(s) } }
    var all: [String] { lock.withLock { lines } }
}

@Suite(.serialized) struct TransportTests {
    fileprivate func startCluster(partitions: Int, trees: Int, treeDelay: Double, workers: Int)
        throws -> (JobStore, CoordinatorServer, [(WorkerClient, FakeExecutor, String)], CapturedLog)
    {
        let context = try Context()
        let store = try JobStore()
        try store.createJob(
            JobSpec(
                jobID: "zmq-job", dataFiles: ["synthetic"], parameters: Data([1]), seed: 9,
                partitions: partitions, testFraction: 0.2, trees: trees, maxAttempts: 3), now: 0)
        var options = CoordinatorServer.Options()
        // a 2 s window: short for the test, long enough not to misfire on a loaded 2-core machine
        options.engine.heartbeatInterval = 0.2
        options.engine.liveness = 10
        options.engine.leaseDuration = 5
        let logs = CapturedLog()
        let server = try CoordinatorServer(
            context: context, bind: "tcp://127.0.0.1:*", store: store, schema: WireSamples.schema(), options: options,
            logger: logs.logger, makeDriver: { TestDriver(store: store, partitions: partitions, rows: 240) })
        #expect(server.endpoint.hasPrefix("tcp://127.0.0.1:"))
        var clients: [(WorkerClient, FakeExecutor, String)] = []
        for i in 1...workers {
            let executor = FakeExecutor(treeDelay: treeDelay)
            let identity = WorkerEngine.Identity(
                workerID: "w\(i)", host: "localhost", pid: UInt32(5000 + i), cores: 1,
                memoryLimit: 256 << 20)
            let client = try WorkerClient(
                context: context, connect: server.endpoint, identity: identity,
                handler: { executor.handle($0) })
            executor.attach(client)
            clients.append((client, executor, "w\(i)"))
        }
        return (store, server, clients, logs)
    }

    @Test func jobRunsOverZeroMQ() throws {
        let (store, server, clients, logs) = try startCluster(partitions: 3, trees: 6, treeDelay: 0.005, workers: 2)
        let finished = try waitUntil(30) { try store.stage() == .save }
        let stage = try store.stage()
        #expect(finished, "stage \(String(describing: stage)); log:\n\(logs.lines().joined(separator: "\n"))")
        #expect(try store.partitions().map { ($0.trainRows ?? 0) + ($0.testRows ?? 0) }.reduce(0, +) == 240)
        #expect(try (0..<3).map { try store.checkpointedTrees(partition: $0).count } == [2, 2, 2])
        #expect(try store.evaluationResults().count == 3)
        #expect(try Set(store.workers().map(\.id)) == ["w1", "w2"])
        server.send(.shutdown(reason: "done"))
        for (client, executor, _) in clients {
            #expect(waitUntil(5) { client.isFinished }, "workers exit on shutdown")
            executor.stop()
        }
        try server.stop()
    }

    /// A rogue peer sends random bytes, truncated frames, absurd sizes and
    /// out-of-order messages during a job: all dropped and logged, the job completes.
    @Test func roguePeerCannotDisturbTheJob() throws {
        let (store, server, clients, logs) = try startCluster(partitions: 2, trees: 20, treeDelay: 0.01, workers: 1)
        #expect(try waitUntil(10) { try !store.workers().isEmpty }, "w1 joins first")
        let context = try Context()
        let rogue = try context.socket(.dealer)
        try rogue.connect(server.endpoint)
        var rng = SplitMix64(seed: 99)
        var sent = 0
        for i in 0..<300 {
            var frames: [[UInt8]]
            switch i % 5 {
            case 0: frames = [(0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }]
            case 1: frames = [Array((try WireSamples.hello().encodeFrames())[0].prefix(5))]
            case 2:
                var m = WireSamples.rowBatch()
                m.payload = Data(count: 3)
                frames = try m.encodeFrames().map { Array($0) }
            case 3: frames = try WireSamples.treesCheckpoint(attemptID: 1).encodeFrames().map { Array($0) }
            default:
                var hello = WireSamples.hello()
                if case .hello(var h) = hello.body {
                    h.workerID = "w1"
                    h.pid = 1
                    h.host = "evil"
                    hello.envelope.body = .hello(h)
                }
                frames = try hello.encodeFrames().map { Array($0) }
            }
            if try rogue.send(ZeroMQ.Message(frames: frames), flags: .dontWait) { sent += 1 }
        }
        // let everything reach the coordinator before closing (close drops unsent messages after the linger)
        // The coordinator drops every message; its warnings about them are rate-limited per peer
        // (a few written, the rest counted).
        #expect(waitUntil(10) { server.peerWarnings.written + server.peerWarnings.suppressed >= 100 })
        rogue.close()
        let finished = try waitUntil(30) { try store.stage() == .save }
        #expect(finished, "log:\n\(logs.lines().joined(separator: "\n"))")
        #expect(sent == 300)
        #expect(try store.workers().map(\.id) == ["w1"])
        #expect(try store.workers().first?.host == "localhost", "the impostor hello did not replace w1")
        #expect(server.peerWarnings.written + server.peerWarnings.suppressed >= 100)
        #expect(logs.lines().filter { $0.hasPrefix("dropped") }.count < 100, "the warnings are rate-limited")
        #expect(logs.lines().contains { $0.contains("rejected worker w1 from evil") })
        server.send(.shutdown(reason: "done"))
        for (client, executor, _) in clients {
            #expect(waitUntil(5) { client.isFinished })
            executor.stop()
        }
        try server.stop()
    }

    @Test func curveAdmitsOnlyAllowedWorkers() throws {
        let context = try Context()
        let store = try JobStore()
        try store.createJob(
            JobSpec(
                jobID: "curve-job", dataFiles: ["synthetic"], parameters: Data([1]), seed: 9,
                partitions: 2, testFraction: 0.2, trees: 4, maxAttempts: 3), now: 0)
        let serverKeys = try CurveKeyPair.generate()
        let allowed = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        var options = CoordinatorServer.Options()
        options.engine.heartbeatInterval = 0.2
        options.engine.liveness = 10
        options.curve = (serverKeys.secretKey, [allowed.publicKey])
        let logs = CapturedLog()
        let server = try CoordinatorServer(
            context: context, bind: "tcp://127.0.0.1:*", store: store, schema: WireSamples.schema(), options: options,
            logger: logs.logger, makeDriver: { TestDriver(store: store, partitions: 2, rows: 100) })
        var clients: [(WorkerClient, FakeExecutor)] = []
        let otherServer = try CurveKeyPair.generate()
        for (i, keys) in [(1, allowed), (2, stranger), (3, nil), (4, allowed)] as [(Int, CurveKeyPair?)] {
            let executor = FakeExecutor(treeDelay: 0.001)
            var workerOptions = WorkerClient.Options()
            // w4 has an allowed key but the wrong coordinator key.
            workerOptions.curve = keys.map { ($0, i == 4 ? otherServer.publicKey : serverKeys.publicKey) }
            let identity = WorkerEngine.Identity(
                workerID: "w\(i)", host: "localhost", pid: UInt32(6000 + i), cores: 1,
                memoryLimit: 256 << 20)
            let client = try WorkerClient(
                context: context, connect: server.endpoint, identity: identity, options: workerOptions,
                handler: { executor.handle($0) })
            executor.attach(client)
            clients.append((client, executor))
        }
        let finished = try waitUntil(30) { try store.stage() == .save }
        #expect(finished, "log:\n\(logs.lines().joined(separator: "\n"))")
        #expect(try store.workers().map(\.id) == ["w1"], "only the worker with an allowed key joined")
        #expect(server.refusedConnections > 0)
        // w3 has no keys: libzmq drops it before ZAP; the handshake monitor logs and counts it.
        #expect(server.refusedHandshakes > 0)
        #expect(
            logs.lines().contains { $0.hasPrefix("refused a connection from ") && $0.contains("mechanism mismatch") },
            "log:\n\(logs.lines().joined(separator: "\n"))")
        #expect(
            logs.lines().contains {
                $0.hasPrefix("refused a worker connection: refused CURVE client at 127.0.0.1, key \(stranger.publicKey.fingerprint)")
            })
        // Each refused worker says why (from its socket's monitor), not only that no welcome came.
        let said = { (i: Int, text: String) in waitUntil(10) { clients[i].1.logs.all.contains { $0.contains(text) } } }
        #expect(
            said(
                1,
                "the coordinator refused this worker's key (fingerprint \(stranger.publicKey.fingerprint)): add this worker's curve.public to its --allow-workers"
            ),
            "\(clients[1].1.logs.all)")
        #expect(said(2, "the coordinator requires CURVE: give this worker --curve-secret"), "\(clients[2].1.logs.all)")
        #expect(
            said(3, "--coordinator-key (fingerprint \(otherServer.publicKey.fingerprint)) is not the coordinator's public key"),
            "\(clients[3].1.logs.all)")
        #expect(!clients[1].1.logs.all.contains { $0.contains("no welcome") }, "\(clients[1].1.logs.all)")
        server.send(.shutdown(reason: "done"))
        #expect(waitUntil(5) { clients[0].0.isFinished })
        for (client, executor) in clients {
            executor.stop()
            if !client.isFinished { try client.crash() }
        }
        try server.stop()
    }

    @Test func crashedWorkerIsDetectedAndItsTrainingResumesElsewhere() throws {
        let (store, server, clients, logs) = try startCluster(partitions: 2, trees: 40, treeDelay: 0.03, workers: 2)
        // crash a worker as soon as the store shows one of its trees
        var victim: String?
        let sawTree = try waitUntil(30) {
            victim = try store.events(kind: .checkpoint).first { $0.task?.kind == .train }?.workerID
            return victim != nil
        }
        #expect(sawTree, "log:\n\(logs.lines().joined(separator: "\n"))")
        let crashed = try #require(clients.first { $0.2 == victim })
        crashed.1.stop()
        try crashed.0.crash()
        let finished = try waitUntil(60) { try store.stage() == .save }
        #expect(finished, "log:\n\(logs.lines().joined(separator: "\n"))")
        for p in 0..<2 {
            let trees = try store.checkpointedTrees(partition: p)
            #expect(trees == Array(0..<20))
            #expect(try store.tree(partition: p, index: 19) == Data("tree \(p).19 seed 9".utf8))
        }
        let lost = try store.events(kind: .attemptLost)
        #expect(lost.count == 1 && lost.first?.workerID == victim)
        #expect(logs.lines().contains { $0.contains("presumed dead") && $0.contains(victim ?? "?") })
        #expect(logs.lines().contains { $0.contains("resumed at tree") })
        server.send(.shutdown(reason: "done"))
        for (client, executor, id) in clients where id != victim {
            #expect(waitUntil(5) { client.isFinished })
            executor.stop()
        }
        try server.stop()
    }
}
