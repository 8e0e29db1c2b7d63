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
///
/// One file per concern: this one holds the state and the send helpers;
/// `+Receiving` (decode, session checks, dispatch), `+Handshake`, `+Blobs`, `+Checkpoints`,
/// `+Liveness` (ticks, heartbeats, ended processes, shutdown), `+RowStreams`,
/// `+Scheduling`, `+AttemptEndings` and `+Predictions` extend it.
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
        /// Partitions (with their extract attempt) whose spill, or a copy of it, this worker holds.
        var holds: Set<HeldKey> = []
        /// Running attempts streamed a partition's rows that the worker keeps, once done,
        /// as a copy of that spill (`TaskAssignment.keepsStreamedRowsAsCopy`).
        var copying: [UInt64: HeldKey] = [:]
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
    /// The extractor blob of one task when it is not `extractor` (a cross-validation fold's);
    /// nil for a task: `extractor`.
    public var extractorForTask: ((TaskName) -> WireBlob?)?
    /// Histogram words per bin of the job's learning task, which the driver knows (the
    /// engine does not know what a word holds): sent in assignments for the workers'
    /// admission check. 2 until the driver sets it (after the statistics merge).
    public var histogramWordsPerBin = 2
    /// Scheduling runs when something changed, and at least every `heartbeatInterval` (locality waits).
    var scheduleDirty = true
    var lastSchedule = -Double.infinity

    let scheduler: Scheduler
    var detector: FailureDetector<String>
    var peers: [PeerAddress: Peer] = [:]
    var addressOf: [String: PeerAddress] = [:]
    var streams: [UInt64: RowStream] = [:]
    /// Receives a prediction job's results (nil in training jobs: prediction batches are dropped).
    public var predictionSink: (any PredictionSink)?
    var predictionCredit: [UInt64: CreditWindow.Receiver] = [:]
    var blobs: [Data: BlobSource] = [:]
    var lastFailures: [TaskName: AttemptFailure] = [:]
    var readySince: [TaskName: MonotonicSeconds] = [:]
    var makeSessionID: () -> UInt64
    public internal(set) var finished = false
    var stoppingForResume = false
    var currentStep: JobPlan.Step?
    var firstJoin: MonotonicSeconds?
    var startupOver = false
    /// Whether this engine has decided how the train stage's tasks are cut (`TreeRangeSplit`).
    var trainSplitDecided = false

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

    // MARK: Helpers

    /// Runs a store write caused by a peer's message. Rejections that the peer
    /// caused (an illegal transition, values that do not fit the job) are
    /// logged and return nil; database failures propagate.
    @discardableResult
    func storeWrite<T>(_ workerID: String, _ out: inout [CoordinatorOutput], _ body: () throws -> T) throws -> T? {
        do {
            return try body()
        } catch let error as JobStoreError where error.code != .database {
            out.append(.log(.warning, "dropped message from worker \(workerID): \(error.message)", metadata: .about(worker: workerID)))
            return nil
        }
    }

    func send(
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
