import Foundation
import Logging
import SpaceTime

/// The coordinator's protocol logic without sockets: it takes decoded frames
/// and clock ticks, updates the job store, and returns what to send and log.
/// The ROUTER socket thread owns one engine and calls it from that thread only.
///
/// It handles the handshake (welcome or reject), heartbeats both ways,
/// failure detection (silent workers, expired leases → attempts lost and
/// rerun), scheduling (assignments with locality and resume points),
/// checkpoints and acknowledgements, results, stale attempts (discarded and
/// recorded), credit for row streams and blob fetches. It does not read the
/// CSV or merge models: the shell streams rows through `sendRows` and sets
/// `gates`, `extractor` and `model` when it has merged.
public final class CoordinatorEngine {
    public struct Configuration: Sendable {
        public var heartbeatInterval: Double = 1
        public var liveness: Int = 5
        /// Lease length; renewed by every heartbeat that lists the attempt.
        public var leaseDuration: Double = 30
        public var limits = ProtocolLimits()
        /// Workers announcing less memory are rejected.
        public var minimumWorkerMemory: UInt64 = 64 << 20
        /// Train tasks send trees after every this many.
        public var checkpointEvery: Int = 1
        /// Bytes per blob chunk.
        public var blobChunkBytes: Int = 4 << 20
        public var scheduler = Scheduler.Configuration()
        /// Scheduling waits until this many workers have joined, or
        /// `startupWait` seconds after the first one joined, so the first
        /// stage's tasks spread over the workers a launcher started together.
        public var startupWorkers: Int = 1
        public var startupWait: Double = 10
        /// Whether the train stage splits partitions' trees in ranges over the workers
        /// when there are fewer partitions than workers (`TreeRangeSplit`).
        public var treeRangeTasks = true
        /// Prediction credit per predict attempt: batches and bytes the coordinator buffers at most.
        public var predictionWindowBatches: UInt64 = 8
        public var predictionWindowBytes: UInt64 = 16 << 20

        public init() {}
    }

    struct Peer {
        let address: PeerAddress
        let hello: WireHello
        var session: WorkerPeerSession
        var outSeq: UInt64 = 0
        var lastSent: MonotonicSeconds
        var rss: UInt64 = 0
        var peakRSS: UInt64 = 0
        /// Active attempts on this worker.
        var running: [UInt64: TaskName] = [:]
        /// Partitions (with their extract attempt) whose spill this worker holds.
        var holds: Set<HeldKey> = []
        var workerID: String { hello.workerID }
    }

    struct HeldKey: Hashable {
        var partition: Int
        var extractAttemptID: UInt64
    }

    struct RowStream {
        var attemptID: UInt64
        var partition: Int
        var peer: PeerAddress
        var credit = CreditWindow.Sender()
        var nextBatch: UInt64 = 0
        var rows: UInt64 = 0
        var trainRows: UInt64 = 0
        var testRows: UInt64 = 0
    }

    public let store: JobStore
    public let spec: JobSpec
    public let schema: WireCsvSchema
    public var configuration: Configuration
    /// Whether the merged extractor / model exist; set by the shell after merging.
    public var gates = Scheduler.Gates() { didSet { scheduleDirty = true } }
    /// The merged extractor and model as sent to workers (inline or by reference; see `addBlob`).
    public var extractor: WireBlob? { didSet { scheduleDirty = true } }
    public var model: WireBlob? { didSet { scheduleDirty = true } }
    /// The model blob of one evaluate or predict task when it is not `model` (a tree slice
    /// of it, in tree-sharded scoring); nil for a task: `model`.
    public var modelForTask: ((TaskName) -> WireBlob?)?
    /// Histogram words per bin of the job's learning task, which the driver knows (the
    /// engine does not know what a word holds): sent in assignments for the workers'
    /// admission check. 2 until the driver sets it (after the statistics merge).
    public var histogramWordsPerBin = 2
    /// Scheduling runs when something changed, and at least every `heartbeatInterval` (locality waits).
    private var scheduleDirty = true
    private var lastSchedule = -Double.infinity

    private let scheduler: Scheduler
    private var detector: FailureDetector<String>
    private var peers: [PeerAddress: Peer] = [:]
    private var addressOf: [String: PeerAddress] = [:]
    private var streams: [UInt64: RowStream] = [:]
    /// Receives a prediction job's results (nil in training jobs: prediction batches are dropped).
    public var predictionSink: (any PredictionSink)?
    private var predictionCredit: [UInt64: CreditWindow.Receiver] = [:]
    private enum BlobSource {
        case memory(Data)
        case artifact(String, size: Int)
        var size: Int {
            switch self {
            case .memory(let d): d.count
            case .artifact(_, let size): size
            }
        }
    }
    private var blobs: [Data: BlobSource] = [:]
    private var lastFailures: [TaskName: AttemptFailure] = [:]
    private var readySince: [TaskName: MonotonicSeconds] = [:]
    private var makeSessionID: () -> UInt64
    public private(set) var finished = false
    private var stoppingForResume = false
    private var currentStep: JobPlan.Step?
    private var firstJoin: MonotonicSeconds?
    private var startupOver = false
    /// Whether this engine has decided how the train stage's tasks are cut (`TreeRangeSplit`).
    private var trainSplitDecided = false

    public init(
        store: JobStore, schema: WireCsvSchema, configuration: Configuration = Configuration(),
        makeSessionID: @escaping () -> UInt64 = { UInt64.random(in: 1...UInt64.max) }
    ) throws {
        guard let spec = try store.jobSpec() else { throw JobStoreError(.noJob, "no job in this store", path: store.path) }
        self.store = store
        self.spec = spec
        self.schema = schema
        self.configuration = configuration
        var schedulerConfig = configuration.scheduler
        schedulerConfig.maxAttempts = spec.maxAttempts
        scheduler = Scheduler(configuration: schedulerConfig)
        detector = FailureDetector(
            configuration: .init(
                heartbeatInterval: configuration.heartbeatInterval,
                liveness: configuration.liveness,
                leaseDuration: configuration.leaseDuration))
        self.makeSessionID = makeSessionID
    }

    /// Connected workers' ids, sorted.
    public var connectedWorkers: [String] { peers.values.map(\.workerID).sorted() }

    /// Registers an in-memory blob workers fetch by digest and returns the reference to put in assignments.
    public func addBlob(_ data: Data, digest: Data) -> WireBlob {
        blobs[digest] = .memory(data)
        return Self.reference(digest: digest, size: data.count)
    }

    /// Registers a job store artifact (e.g. "model") workers fetch by digest,
    /// served chunk by chunk from the store so the coordinator never holds it.
    public func addArtifactBlob(_ name: String, digest: Data) throws -> WireBlob? {
        guard let size = try store.artifactSize(name) else { return nil }
        blobs[digest] = .artifact(name, size: size)
        return Self.reference(digest: digest, size: size)
    }

    private static func reference(digest: Data, size: Int) -> WireBlob {
        var ref = WireBlobRef()
        ref.digest = digest
        ref.size = UInt64(size)
        var blob = WireBlob()
        blob.ref = ref
        return blob
    }

    // MARK: Receiving

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

    private func dispatch(
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
            if let name = peer.running[m.attemptID], name.kind == .predict {
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
            guard let blob = blobs[m.digest], m.offset < UInt64(blob.size) else {
                out.append(
                    .log(
                        .warning, "worker \(workerID) asked for an unknown blob or offset; dropped",
                        metadata: .about(worker: workerID, peer: address)))
                return
            }
            let start = Int(m.offset)
            let length = min(blob.size - start, min(Int(m.maxBytes), configuration.blobChunkBytes))
            let bytes: Data
            switch blob {
            case .memory(let data): bytes = data.subdata(in: start..<(start + length))
            case .artifact(let name, _): bytes = try store.artifactChunk(name, offset: start, length: length) ?? Data()
            }
            var chunk = WireBlobChunk()
            chunk.digest = m.digest
            chunk.offset = m.offset
            chunk.totalSize = UInt64(blob.size)
            send(.blobChunk(chunk), payload: bytes, to: address, at: time, into: &out)
        case .predictionBatch(let m):
            try receivePredictions(m, payload: message.payload ?? Data(), from: address, at: time, into: &out)
        case .hello:
            break  // rejected by the session
        default:
            break  // coordinator-bound bodies only reach here
        }
    }

    private func handleHello(
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

    /// A message naming an attempt from a peer without a session (its session
    /// ended, e.g. it was declared dead while cut off): recorded and dropped.
    private func recordStaleFromUnknownPeer(
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

    private func handleCheckpoint(
        _ m: WireCheckpoint, payload: Data, from address: PeerAddress, at time: EngineTime,
        into out: inout [CoordinatorOutput]
    ) throws {
        guard let peer = peers[address], let name = peer.running[m.attemptID] else { return }
        var ack = WireCheckpointAck()
        ack.attemptID = m.attemptID
        switch m.content {
        case .stats(let s):
            // Row counts only: what the rows hold is in the opaque statistics payload (the
            // optional class fields of `ExtractStats` are validated, not used).
            let counts = PartitionCounts(trainRows: Int(clamping: s.trainRows), testRows: Int(clamping: s.testRows))
            guard
                let outcome = try storeWrite(
                    peer.workerID, &out, { try store.saveExtractCheckpoint(m.attemptID, stats: payload, counts: counts, now: time.wall) }),
                !outcome.isDiscarded
            else { return }
        case .trees(let t):
            var trees: [Data] = []
            var offset = payload.startIndex
            for length in t.treeLengths {
                trees.append(payload.subdata(in: offset..<(offset + Int(length))))
                offset += Int(length)
            }
            guard
                let outcome = try storeWrite(
                    peer.workerID, &out, { try store.saveTrees(m.attemptID, firstTree: Int(t.firstTree), trees: trees, now: time.wall) }),
                !outcome.isDiscarded
            else { return }
            ack.treesStored = UInt32(clamping: try store.checkpointedTrees(partition: name.partition).count)
        case nil:
            return
        }
        send(.checkpointAck(ack), to: address, at: time, into: &out)
    }

    // MARK: Ticks

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
    private var startupQuorum: Int { max(1, configuration.startupWorkers) }

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

    // MARK: Rows

    /// Streamed attempts that may still receive rows, by partition.
    public var rowStreams: [(partition: Int, attemptID: UInt64)] {
        streams.values.map { ($0.partition, $0.attemptID) }.sorted { $0.partition < $1.partition }
    }

    /// Whether a batch of `bytes` may be sent to `attemptID` now (credit).
    public func canSendRows(to attemptID: UInt64, bytes: Int) -> Bool {
        streams[attemptID]?.credit.canSend(bytes: bytes) ?? false
    }

    /// Sends one batch of records (already cut by the shell) to `attemptID`, all of file
    /// `sourceFile` (the row batch's `source_file`; 0: the single input). Returns nothing
    /// when the attempt has no stream or no credit.
    public func sendRows(
        to attemptID: UInt64, firstLine: UInt64, lineDeltas: [UInt32], recordLengths: [UInt32],
        testMask: Data, trainRows: Int, payload: Data, sourceFile: UInt32 = 0, at time: EngineTime
    ) -> [CoordinatorOutput] {
        guard var stream = streams[attemptID], (try? stream.credit.sent(bytes: payload.count)) != nil else { return [] }
        var batch = WireRowBatch()
        batch.attemptID = attemptID
        batch.batchSeq = stream.nextBatch
        batch.firstLine = firstLine
        batch.lineDeltas = lineDeltas
        batch.recordLengths = recordLengths
        batch.testMask = testMask
        batch.sourceFile = sourceFile
        stream.nextBatch += 1
        stream.rows += UInt64(recordLengths.count)
        stream.trainRows += UInt64(trainRows)
        stream.testRows += UInt64(recordLengths.count - trainRows)
        streams[attemptID] = stream
        var out: [CoordinatorOutput] = []
        send(.rowBatch(batch), payload: payload, to: stream.peer, at: time, into: &out)
        return out
    }

    /// Ends `attemptID`'s row stream (all its partition's rows were sent).
    public func endRows(to attemptID: UInt64, at time: EngineTime) -> [CoordinatorOutput] {
        guard let stream = streams.removeValue(forKey: attemptID) else { return [] }
        var end = WireRowsEnd()
        end.attemptID = attemptID
        end.batches = stream.nextBatch
        end.rows = stream.rows
        end.trainRows = stream.trainRows
        end.testRows = stream.testRows
        var out: [CoordinatorOutput] = []
        send(.rowsEnd(end), to: stream.peer, at: time, into: &out)
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

    // MARK: Scheduling

    private func schedule(at time: EngineTime, into out: inout [CoordinatorOutput]) throws {
        let records = try store.tasks()
        let partitions = try store.partitions()
        var views: [Scheduler.TaskView] = []
        for r in records {
            if r.state.isSchedulable {
                if readySince[r.name] == nil { readySince[r.name] = time.monotonic }
            } else {
                readySince[r.name] = nil
            }
            var view = Scheduler.TaskView(
                name: r.name, state: r.state, failures: r.failures,
                readySince: readySince[r.name] ?? time.monotonic)
            if r.failures > 0 && r.state.isSchedulable {
                view.failedOn = Set(try store.attempts(of: r.name).filter { $0.outcome == .failed || $0.outcome == .lost }.map(\.workerID))
            }
            if r.name.kind == .train && r.state.isSchedulable {
                view.treesInPartition = partitions[r.name.partition].trees
                view.firstMissingTree = try store.firstMissingTree(partition: r.name.partition, in: view.trees)
            }
            views.append(view)
        }
        let workers = peers.values.map {
            Scheduler.WorkerView(id: $0.workerID, memoryLimit: $0.hello.memoryLimitBytes, running: Array($0.running.values))
        }
        var holders: [Int: Scheduler.SpillHolder] = [:]
        for p in partitions.indices {
            guard let holder = try store.spillHolder(partition: p), let address = addressOf[holder.workerID],
                let peer = peers[address], peer.holds.contains(HeldKey(partition: p, extractAttemptID: holder.attemptID))
            else { continue }
            holders[p] = Scheduler.SpillHolder(workerID: holder.workerID, extractAttemptID: holder.attemptID)
        }
        if !trainSplitDecided, configuration.treeRangeTasks, scheduler.stage(tasks: views, gates: gates) == .train {
            trainSplitDecided = true
            if try splitTrainTasks(records: records, partitions: partitions, at: time, into: &out) {
                return try schedule(at: time, into: &out)
            }
        }
        let plan = scheduler.plan(
            tasks: views, workers: workers, holders: holders, gates: gates,
            lastFailures: lastFailures, now: time.monotonic)
        if let failure = plan.failure {
            try store.failJob(failure, now: time.wall)
            out.append(.log(.error, "job failed: \(failure)"))
            out.append(.jobFailed(failure))
            out += shutdown(reason: "job failed: \(failure)", at: time)
            return
        }
        if plan.step != currentStep {
            if let currentStep {
                let readInput = currentStep.taskKind?.readsInputFile ?? false
                try store.stepEnded(currentStep.description, rows: readInput ? try rowsExtracted() : nil, now: time.wall)
            }
            try store.stepStarted(plan.step.description, now: time.wall)
            currentStep = plan.step
        }
        if try store.stage() != plan.stage {
            try store.setStage(plan.stage, now: time.wall)
        }
        for name in plan.completeFromCheckpoints {
            let attemptID = try store.beginAttempt(name, workerID: "coordinator", leaseDeadline: time.wall, firstTree: nil, now: time.wall)
            _ = try store.attemptRunning(attemptID, now: time.wall)
            _ = try store.completeAttempt(attemptID, peakRSS: nil, now: time.wall)
            out.append(.log(.info, "\(name) complete from its checkpoints", metadata: .about(task: name)))
        }
        for decision in plan.assignments {
            guard let address = addressOf[decision.workerID] else { continue }
            try assign(decision, to: address, partitions: partitions, records: records, at: time, into: &out)
        }
    }

    private func assign(
        _ d: Scheduler.Decision, to address: PeerAddress, partitions: [PartitionRecord],
        records: [TaskRecord], at time: EngineTime, into out: inout [CoordinatorOutput]
    ) throws {
        guard let record = records.first(where: { $0.name == d.task }) else { return }
        var a = WireTaskAssignment()
        a.jobID = spec.jobID
        a.taskID = UInt64(record.id)
        a.kind = d.task.kind.wire
        a.partition = UInt32(d.task.partition)
        a.leaseMs = UInt32(min(configuration.leaseDuration * 1000, Double(configuration.limits.leaseRangeMs.upperBound)))
        a.seed = spec.seed
        a.parameters = spec.parameters
        a.schema = schema
        switch d.source {
        case .streamed:
            a.source = .streamed
        case .localSpill(let extractAttemptID):
            a.source = .localSpill
            a.spillAttemptID = extractAttemptID
        }
        let p = partitions[d.task.partition]
        if d.task.kind != .extract {
            guard let extractor else {
                out.append(.log(.error, "cannot assign \(d.task): no merged extractor yet", metadata: .about(task: d.task)))
                return
            }
            a.extractor = extractor
            a.expectedRows = UInt64((p.trainRows ?? 0) + (p.testRows ?? 0))
            a.expectedTrainRows = UInt64(p.trainRows ?? 0)
            // The wire field `classes` carries histogram words per bin (see the .proto).
            a.classes = UInt32(clamping: max(0, histogramWordsPerBin))
        }
        if d.task.kind == .train {
            let share = partitions[d.task.partition].trees
            let trees = d.task.variant.treeRange ?? 0..<share
            var range = WireTreeRange()
            range.first = UInt32(d.firstTree ?? trees.lowerBound)
            range.end = UInt32(trees.upperBound)
            a.trees = range
            a.treesInPartition = UInt32(share)
            a.checkpointEvery = UInt32(max(1, configuration.checkpointEvery))
            a.expectedTreeBytes = try expectedTreeBytes(trainRows: UInt64(max(0, p.trainRows ?? 0)))
        }
        if d.task.kind == .evaluate { a.expectedTestRows = UInt64(max(0, p.testRows ?? 0)) }
        if let variant = d.task.variant.wire { a.variant = variant }
        if d.task.kind == .evaluate || d.task.kind == .predict {
            guard let model = modelForTask?(d.task) ?? model else {
                out.append(.log(.error, "cannot assign \(d.task): no merged model yet", metadata: .about(task: d.task)))
                return
            }
            a.model = model
        }
        // Never send what a worker would reject (e.g. an empty model blob): check before leasing.
        a.attemptID = UInt64.max
        do {
            try MessageValidator(limits: configuration.limits).validate(WireMessage(.assignment(a)), direction: .toWorker)
        } catch {
            out.append(
                .log(.error, "cannot assign \(d.task): the assignment would be invalid: \(error)", metadata: .about(task: d.task)))
            return
        }
        let attemptID = try store.beginAttempt(
            d.task, workerID: d.workerID, leaseDeadline: time.wall + configuration.leaseDuration,
            firstTree: d.firstTree, now: time.wall)
        a.attemptID = attemptID
        peers[address]?.session.lease(attemptID: attemptID, taskID: a.taskID, kind: a.kind)
        peers[address]?.running[attemptID] = d.task
        detector.leased(attemptID: attemptID, to: d.workerID, now: time.monotonic)
        if a.source == .streamed {
            streams[attemptID] = RowStream(attemptID: attemptID, partition: d.task.partition, peer: address)
        }
        readySince[d.task] = nil
        send(.assignment(a), to: address, at: time, into: &out)
        if d.task.kind == .predict {
            let window = CreditWindow.Receiver(
                windowMessages: configuration.predictionWindowBatches,
                windowBytes: configuration.predictionWindowBytes)
            predictionCredit[attemptID] = window
            sendPredictionCredit(attemptID, window.initialGrant, to: address, at: time, into: &out)
        }
        out.append(
            .log(
                .info, "\(d.note) [attempt \(attemptID)]",
                metadata: .about(task: d.task, attempt: attemptID, worker: d.workerID, peer: address)))
    }

    /// One tree's expected bytes for a train task's admission check: the mean size
    /// of the job's checkpointed trees once there are some, else the planner's
    /// estimate from the partition's training rows.
    private func expectedTreeBytes(trainRows: UInt64) throws -> UInt64 {
        let stored = try store.storedTreeStatistics()
        if stored.count > 0 { return stored.bytes / UInt64(stored.count) }
        return PartitionPlanner.treeBytes(rows: trainRows)
    }

    /// At the train stage's start: cuts the partitions' trees in ranges over the
    /// connected workers when there are fewer partitions than workers
    /// (`TreeRangeSplit`), logs the decision and records it for `status`. Only a
    /// job whose train tasks are all whole and never attempted is split (a resumed
    /// job keeps the tasks it has). Returns true when tasks were split.
    private func splitTrainTasks(
        records: [TaskRecord], partitions: [PartitionRecord], at time: EngineTime,
        into out: inout [CoordinatorOutput]
    ) throws -> Bool {
        let train = records.filter { $0.name.kind == .train }
        guard !train.isEmpty, train.allSatisfy({ $0.name.variant == .whole && $0.state == .pending && $0.currentAttempt == nil })
        else { return false }
        let workers = peers.values.map { TreeRangeSplit.Worker(id: $0.workerID, cores: Int(max(1, $0.hello.cores))) }
        let decision = TreeRangeSplit.decide(treeShares: partitions.map(\.trees), workers: workers)
        var split = false
        for (p, ranges) in decision.ranges.sorted(by: { $0.key < $1.key }) {
            split = try store.splitTrainTask(partition: p, into: ranges, now: time.wall) || split
        }
        try store.log(.trainPlan, decision.message, now: time.wall)
        out.append(.log(.info, "\(decision.message)"))
        return split
    }

    private func rowsExtracted() throws -> Int {
        try store.partitions().reduce(0) { $0 + ($1.trainRows ?? 0) + ($1.testRows ?? 0) }
    }

    // MARK: Attempt endings

    private func failAttempt(
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
    private func recordLoss(
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

    private func endAttempt(_ attemptID: UInt64, on address: PeerAddress) {
        scheduleDirty = true
        peers[address]?.session.release(attemptID: attemptID)
        peers[address]?.running[attemptID] = nil
        detector.released(attemptID: attemptID)
        streams[attemptID] = nil
        endPredictions(attemptID)
    }

    private func removePeer(_ address: PeerAddress, endingEach: (UInt64) throws -> Void) throws {
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

    // MARK: Helpers

    /// Runs a store write caused by a peer's message. Rejections that the peer
    /// caused (an illegal transition, values that do not fit the job) are
    /// logged and return nil; database failures propagate.
    @discardableResult
    private func storeWrite<T>(_ workerID: String, _ out: inout [CoordinatorOutput], _ body: () throws -> T) throws -> T? {
        do {
            return try body()
        } catch let error as JobStoreError where error.code != .database {
            out.append(.log(.warning, "dropped message from worker \(workerID): \(error.message)", metadata: .about(worker: workerID)))
            return nil
        }
    }

    private func send(
        _ body: WireEnvelope.OneOf_Body, payload: Data? = nil, to address: PeerAddress, at time: EngineTime,
        into out: inout [CoordinatorOutput], session: UInt64? = nil
    ) {
        guard var peer = peers[address] else { return }
        peer.outSeq += 1
        peer.lastSent = time.monotonic
        peers[address] = peer
        out.append(.send(address, WireMessage(body, payload: payload, seq: peer.outSeq, session: session ?? peer.session.session)))
    }
}

// MARK: Predictions

extension CoordinatorEngine {
    /// A prediction batch from the worker running a predict attempt: checked
    /// against the credit granted, handed to the sink, more credit granted.
    private func receivePredictions(
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

    private func sendPredictionCredit(
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

    private func endPredictions(_ attemptID: UInt64) {
        guard predictionCredit.removeValue(forKey: attemptID) != nil else { return }
        predictionSink?.discard(attemptID: attemptID)
    }
}
