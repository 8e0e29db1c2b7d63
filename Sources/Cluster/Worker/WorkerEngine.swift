import Foundation
import Logging
import SpaceTime

/// Exponential reconnect backoff with deterministic jitter: 0.1 s, 0.2 s,
/// 0.4 s … capped at `maximum`, each ±20 %.
public struct ReconnectBackoff: Sendable, Hashable {
    public var initial: Double
    public var maximum: Double
    public private(set) var failures = 0
    private var rng: UInt64

    public init(initial: Double = 0.1, maximum: Double = 5, seed: UInt64 = 0x5EED) {
        self.initial = initial
        self.maximum = maximum
        rng = seed
    }

    /// The delay before the next attempt; each call counts one more failure.
    public mutating func next() -> Double {
        let base = min(maximum, initial * pow(2, Double(min(failures, 30))))
        failures += 1
        rng &+= 0x9E37_79B9_7F4A_7C15
        var z = rng
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        let unit = Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)  // [0, 1)
        return base * (0.8 + 0.4 * unit)
    }

    /// A session was established: start from `initial` again.
    public mutating func reset() { failures = 0 }
}

/// What the worker engine asks its I/O shell (and task executor) to do.
public enum WorkerOutput: Sendable {
    /// Send to the coordinator.
    case send(WireMessage)
    /// Drop the connection and connect again after this many seconds (new session).
    case reconnect(after: Double)
    /// Start running an assigned task.
    case run(TaskAssignment)
    /// Rows for a running task (`payload` holds the records).
    case rows(WireRowBatch, payload: Data)
    /// No more rows for the attempt.
    case rowsEnd(WireRowsEnd)
    /// Stop the attempt (cancelled, or its session ended).
    case cancel(attemptID: UInt64, reason: String)
    /// A chunk of a blob the executor asked for.
    case blobChunk(WireBlobChunk, payload: Data)
    /// Exit with this message; `failure` true for a reject or fatal error.
    case exit(message: String, failure: Bool)
    /// Write a log line (the shell gives it to its `Logger`).
    case log(Logger.Level, Logger.Message, metadata: Logger.Metadata = [:])
}

/// The worker's protocol logic without sockets: handshake, heartbeats both
/// ways, coordinator liveness and reconnect with backoff, per-attempt row
/// credit, and messages for its executor's results. The DEALER socket thread
/// owns one engine.
public final class WorkerEngine {
    public struct Identity: Sendable, Hashable {
        public var workerID: String
        public var host: String
        public var pid: UInt32
        public var cores: UInt32
        public var memoryLimit: UInt64
        public var spillFreeBytes: UInt64
        public var softwareVersion: String

        public init(
            workerID: String, host: String, pid: UInt32, cores: UInt32, memoryLimit: UInt64,
            spillFreeBytes: UInt64 = 0, softwareVersion: String = ""
        ) {
            self.workerID = workerID
            self.host = host
            self.pid = pid
            self.cores = cores
            self.memoryLimit = memoryLimit
            self.spillFreeBytes = spillFreeBytes
            self.softwareVersion = softwareVersion
        }
    }

    public struct Configuration: Sendable {
        /// Row credit per streamed attempt: batches and bytes buffered at most.
        public var rowWindowBatches: UInt64 = 8
        public var rowWindowBytes: UInt64 = 32 << 20
        /// Give up waiting for `welcome` after this long and reconnect.
        public var welcomeTimeout: Double = 5
        /// Declare the coordinator lost only after at least this many seconds
        /// of silence; nil: the coordinator's window from `welcome`
        /// (interval × liveness). Longer tolerates longer network cuts, at
        /// the cost of results the coordinator may have reassigned meanwhile.
        public var minimumCoordinatorSilence: Double?
        public var limits = ProtocolLimits()
        public init() {}
    }

    public enum State: Sendable, Hashable {
        case disconnected
        case awaitingWelcome(since: MonotonicSeconds)
        case ready
        case finished
    }

    public let identity: Identity
    public var configuration: Configuration
    /// Partitions in the spill directory (one per extract attempt this worker
    /// finished), announced on every hello so that after a reconnect the
    /// coordinator still sends their train and evaluate tasks here without
    /// streaming the rows again. The executor keeps a finished extract's rows
    /// for the worker's life.
    public var held: [WireHeldPartition] = []
    public private(set) var state: State = .disconnected

    private var view = CoordinatorPeerSession()
    private var detector = FailureDetector<String>()
    private var outSeq: UInt64 = 0
    /// When the last heartbeat went out. Heartbeats are sent on this clock even
    /// while other traffic (credit, checkpoints) flows: they renew the leases.
    private var lastHeartbeat: MonotonicSeconds = 0
    private var heartbeatInterval: Double = 1
    private var backoff: ReconnectBackoff
    private var running: [UInt64: (assignment: TaskAssignment, progress: WireProgress)] = [:]
    private var credit: [UInt64: CreditWindow.Receiver] = [:]
    /// Predict attempts: results waiting for the coordinator's credit, and a `done` held back until they are sent.
    private var predictions: [UInt64: PendingPredictions] = [:]
    struct PendingPredictions {
        var credit = CreditWindow.Sender()
        var nextBatch: UInt64 = 0
        var queue: [(batch: WirePredictionBatch, payload: Data)] = []
        var queueHead = 0
        var done: (rows: UInt64, peakRSS: UInt64, result: Data?, elapsed: Double)?
    }
    private var rss: UInt64 = 0
    private var peakRSS: UInt64 = 0
    /// The last "lost the coordinator" warning: the same one again within `repeatWindow`
    /// seconds is counted, not written (a refused worker retries for as long as it runs).
    private var lastLoss: (text: String, at: MonotonicSeconds, repeats: Int)?
    static let repeatWindow: Double = 60

    public init(identity: Identity, configuration: Configuration = Configuration(), backoffSeed: UInt64 = 0x5EED) {
        self.identity = identity
        self.configuration = configuration
        backoff = ReconnectBackoff(seed: backoffSeed)
    }

    /// Attempts the worker is running.
    public var runningAttempts: [UInt64] { running.keys.sorted() }

    /// The socket is (re)connected: say hello.
    public func connected(at now: MonotonicSeconds) -> [WorkerOutput] {
        view = CoordinatorPeerSession()
        outSeq = 0
        state = .awaitingWelcome(since: now)
        var h = WireHello()
        h.protocolVersion = ProtocolVersion.current
        h.workerID = identity.workerID
        h.host = identity.host
        h.pid = identity.pid
        h.cores = identity.cores
        h.memoryLimitBytes = identity.memoryLimit
        h.spillFreeBytes = identity.spillFreeBytes
        h.softwareVersion = identity.softwareVersion
        h.held = held
        var out: [WorkerOutput] = []
        send(.hello(h), at: now, into: &out, session: 0)
        return out
    }

    /// Handles one message from the coordinator.
    public func receive(frames: [Data], at now: MonotonicSeconds) -> [WorkerOutput] {
        var out: [WorkerOutput] = []
        let message: WireMessage
        do {
            message = try WireMessage.decode(frames: frames, direction: .toWorker, limits: configuration.limits)
            try view.accept(message)
        } catch {
            if error.code == .staleAttempt {
                out.append(.log(.debug, "dropped message for a finished attempt: \(error.from(peer: "coordinator"))"))
            } else {
                out.append(.log(.warning, "dropped message: \(error.from(peer: "coordinator"))"))
            }
            return out
        }
        detector.heard(from: "coordinator", now: now)
        switch message.body {
        case .welcome(let w):
            state = .ready
            heartbeatInterval = Double(w.heartbeatIntervalMs) / 1000
            var liveness = Int(w.heartbeatLiveness)
            if let minimum = configuration.minimumCoordinatorSilence, heartbeatInterval > 0 {
                liveness = max(liveness, Int((minimum / heartbeatInterval).rounded(.up)))
            }
            detector = FailureDetector(
                configuration: .init(
                    heartbeatInterval: heartbeatInterval, liveness: liveness,
                    leaseDuration: .infinity))
            detector.joined("coordinator", now: now)
            backoff.reset()
            lastLoss = nil
            out.append(.log(.info, "joined job \(w.jobID) (session \(w.session))"))
        case .reject(let r):
            state = .finished
            out.append(.exit(message: "coordinator rejected this worker: \(r.message)", failure: true))
        case .assignment(let wire):
            let a: TaskAssignment
            do { a = try TaskAssignment(wire: wire) } catch {
                refuse(
                    taskID: wire.taskID, attemptID: wire.attemptID, TaskFailure(.protocol, "\(error)", retryable: false),
                    metadata: .about(attempt: wire.attemptID), at: now, into: &out)
                return out
            }
            let verdict = TaskAdmission.check(a, memoryLimit: identity.memoryLimit, threads: Int(max(1, identity.cores)))
            guard verdict.accepted else {
                refuse(
                    taskID: a.taskID, attemptID: a.attemptID,
                    TaskFailure(.memoryBudget, verdict.message ?? "does not fit the memory limit", retryable: true),
                    metadata: .about(task: a.taskName, attempt: a.attemptID), at: now, into: &out)
                return out
            }
            var p = WireProgress()
            p.taskID = a.taskID
            p.attemptID = a.attemptID
            p.unit = a.kind == .train ? .trees : .rows
            if a.kind == .train { p.total = UInt64(a.trees.count) }
            running[a.attemptID] = (a, p)
            out.append(.run(a))
            var started = WireTaskStarted()
            started.taskID = a.taskID
            started.attemptID = a.attemptID
            send(.started(started), at: now, into: &out)
            if a.kind.streamsPredictions { predictions[a.attemptID] = PendingPredictions() }
            if a.source == .streamed {
                let window = CreditWindow.Receiver(
                    windowMessages: configuration.rowWindowBatches, windowBytes: configuration.rowWindowBytes)
                credit[a.attemptID] = window
                sendCredit(a.attemptID, window.initialGrant, at: now, into: &out)
            }
        case .rowBatch(let b):
            do {
                try credit[b.attemptID]?.received(bytes: message.payload?.count ?? 0)
            } catch {
                out.append(.log(.warning, "dropped row batch: \(error.from(peer: "coordinator"))", metadata: .about(attempt: b.attemptID)))
                return out
            }
            out.append(.rows(b, payload: message.payload ?? Data()))
        case .rowsEnd(let e):
            out.append(.rowsEnd(e))
        case .cancel(let c):
            if running.removeValue(forKey: c.attemptID) != nil {
                credit[c.attemptID] = nil
                predictions[c.attemptID] = nil
                view.release(attemptID: c.attemptID)
                out.append(.cancel(attemptID: c.attemptID, reason: c.reason))
            }
        case .shutdown(let s) where s.resume:
            // Exiting would end the job's workers (and, under a Kubernetes Indexed Job, complete it).
            out += lost("\(s.reason)", at: now)
        case .shutdown(let s):
            out += finish(reason: "coordinator asked to shut down: \(s.reason)", at: now)
        case .blobChunk(let c):
            out.append(.blobChunk(c, payload: message.payload ?? Data()))
        case .credit(let c) where c.stream == .predictions:
            guard var pending = predictions[c.attemptID] else { break }
            do {
                try pending.credit.receive(CreditWindow.Grant(messages: c.grantedBatches, bytes: c.grantedBytes))
            } catch {
                out.append(
                    .log(.warning, "dropped prediction credit: \(error.from(peer: "coordinator"))", metadata: .about(attempt: c.attemptID)))
                break
            }
            predictions[c.attemptID] = pending
            flushPredictions(c.attemptID, at: now, into: &out)
        default:
            break  // heartbeat, checkpoint_ack, credit for predictions: liveness only
        }
        return out
    }

    /// Heartbeats, and coordinator liveness: when the coordinator is silent
    /// for its window (or never welcomes), abandon running attempts and reconnect.
    public func tick(at now: MonotonicSeconds) -> [WorkerOutput] {
        var out: [WorkerOutput] = []
        switch state {
        case .awaitingWelcome(let since) where now - since >= configuration.welcomeTimeout:
            out += lost(
                silenceReason.map { "no welcome within \(configuration.welcomeTimeout) s: \($0)" }
                    ?? "no welcome within \(configuration.welcomeTimeout) s", at: now)
        case .ready:
            if detector.poll(now: now).contains(where: { if case .peerDown = $0 { true } else { false } }) {
                out += lost("coordinator silent for \(String(format: "%.1f", detector.configuration.timeout)) s", at: now)
            } else if now - lastHeartbeat >= heartbeatInterval {
                lastHeartbeat = now
                var hb = WireHeartbeat()
                hb.rssBytes = rss
                hb.peakRssBytes = max(peakRSS, rss)
                hb.running = running.keys.sorted().compactMap { running[$0]?.progress }
                send(.heartbeat(hb), at: now, into: &out)
            }
        default:
            break
        }
        return out
    }

    /// Why no welcome may have come, from the shell's view of the socket (nothing listening); nil: unknown.
    public var silenceReason: String?

    /// The shell saw the connection refused in its handshake (``HandshakeDiagnosis``):
    /// say why and reconnect with backoff (libzmq does not retry after a refusal).
    public func connectionRefused(_ why: String, at now: MonotonicSeconds) -> [WorkerOutput] {
        guard case .awaitingWelcome = state else { return [] }
        return lost(why, at: now, text: "\(why); retrying")
    }

    /// `text` ("lost the coordinator: WHY; reconnecting"), or a debug line when the same loss
    /// was written less than `repeatWindow` s ago (the count goes with the next one written).
    private func lossWarning(_ text: String, at now: MonotonicSeconds) -> WorkerOutput {
        if var last = lastLoss, last.text == text {
            if now - last.at < Self.repeatWindow {
                last.repeats += 1
                lastLoss = last
                return .log(.debug, "\(text)")
            }
            lastLoss = (text, now, 0)
            return .log(.warning, "\(text)\(last.repeats > 0 ? " (\(last.repeats) more time(s) in the last \(Int(now - last.at)) s)" : "")")
        }
        lastLoss = (text, now, 0)
        return .log(.warning, "\(text)")
    }

    private func lost(_ why: String, at now: MonotonicSeconds, text: String? = nil) -> [WorkerOutput] {
        var out: [WorkerOutput] = [lossWarning(text ?? "lost the coordinator: \(why); reconnecting", at: now)]
        for attemptID in running.keys.sorted() {
            out.append(.cancel(attemptID: attemptID, reason: "session ended"))
        }
        running.removeAll()
        credit.removeAll()
        predictions.removeAll()
        state = .disconnected
        out.append(.reconnect(after: backoff.next()))
        return out
    }

    // MARK: Executor events

    /// The worker's current and peak resident memory, bytes.
    public func memory(rss: UInt64, peak: UInt64) {
        self.rss = rss
        peakRSS = max(peakRSS, peak)
    }

    public func progress(attemptID: UInt64, done: UInt64, total: UInt64) {
        running[attemptID]?.progress.done = done
        if total > 0 { running[attemptID]?.progress.total = total }
    }

    /// The executor finished with a batch of `bytes`; may grant more credit.
    public func consumedRows(attemptID: UInt64, bytes: Int, at now: MonotonicSeconds) -> [WorkerOutput] {
        var out: [WorkerOutput] = []
        guard var window = credit[attemptID] else { return out }
        let grant = window.consumed(bytes: bytes)
        credit[attemptID] = window
        if let grant { sendCredit(attemptID, grant, at: now, into: &out) }
        return out
    }

    public func checkpointStats(attemptID: UInt64, stats: WireCheckpoint.ExtractStats, blob: Data, at now: MonotonicSeconds)
        -> [WorkerOutput]
    {
        guard let a = running[attemptID]?.assignment else { return [] }
        var c = WireCheckpoint()
        c.taskID = a.taskID
        c.attemptID = attemptID
        c.stats = stats
        var out: [WorkerOutput] = []
        send(.checkpoint(c), payload: blob, at: now, into: &out)
        return out
    }

    public func checkpointTrees(attemptID: UInt64, firstTree: Int, trees: [Data], at now: MonotonicSeconds) -> [WorkerOutput] {
        guard let a = running[attemptID]?.assignment, !trees.isEmpty else { return [] }
        var t = WireCheckpoint.Trees()
        t.firstTree = UInt32(firstTree)
        t.treeLengths = trees.map { UInt32($0.count) }
        var c = WireCheckpoint()
        c.taskID = a.taskID
        c.attemptID = attemptID
        c.trees = t
        running[attemptID]?.progress.done = UInt64(firstTree + trees.count) - UInt64(a.trees.lowerBound)
        var out: [WorkerOutput] = []
        send(.checkpoint(c), payload: trees.reduce(into: Data()) { $0.append($1) }, at: now, into: &out)
        return out
    }

    public func done(
        attemptID: UInt64, rows: UInt64, peakRSS taskPeak: UInt64, result: Data?, elapsed: Double,
        at now: MonotonicSeconds
    ) -> [WorkerOutput] {
        if var pending = predictions[attemptID], pending.queueHead < pending.queue.count {
            pending.done = (rows, taskPeak, result, elapsed)  // sent once the last prediction batch is
            predictions[attemptID] = pending
            return []
        }
        predictions[attemptID] = nil
        guard let a = running.removeValue(forKey: attemptID)?.assignment else { return [] }
        credit[attemptID] = nil
        view.release(attemptID: attemptID)
        var d = WireTaskDone()
        d.taskID = a.taskID
        d.attemptID = attemptID
        d.peakRssBytes = taskPeak
        d.rows = rows
        d.hasResult_p = result != nil
        d.elapsedMs = UInt64(max(0, elapsed * 1000))
        // The executor keeps an extract's rows, and a streamed fold task's as a copy of its
        // partition's spill: a reconnect announces them.
        let kept: UInt64? = a.kind == .extract ? attemptID : a.keepsStreamedRowsAsCopy ? a.spillAttemptID : nil
        if let kept, !held.contains(where: { $0.extractAttemptID == kept }) {
            var h = WireHeldPartition()
            h.jobID = a.jobID
            h.partition = UInt32(a.partition)
            h.extractAttemptID = kept
            held.append(h)
        }
        var out: [WorkerOutput] = []
        send(.done(d), payload: result, at: now, into: &out)
        return out
    }

    /// Reports the attempt's failure, its message cut at the protocol's text limit.
    public func failed(attemptID: UInt64, failure: TaskFailure, peakRSS taskPeak: UInt64, at now: MonotonicSeconds) -> [WorkerOutput] {
        predictions[attemptID] = nil
        guard let a = running.removeValue(forKey: attemptID)?.assignment else { return [] }
        credit[attemptID] = nil
        view.release(attemptID: attemptID)
        var f = failure.wire(taskID: a.taskID, attemptID: attemptID, peakRSS: taskPeak)
        f.message = String(failure.message.utf8.prefix(configuration.limits.maxTextBytes)) ?? "failed"
        var out: [WorkerOutput] = []
        send(.failed(f), at: now, into: &out)
        return out
    }

    /// Queues `rows` predictions (`bytesPerRow` bytes each, back to back in
    /// `payload`) of a predict attempt; they are sent as the coordinator's
    /// credit allows, in order, and before the attempt's `done`.
    public func predictions(
        attemptID: UInt64, firstLine: UInt64, rows: UInt32, bytesPerRow: UInt32, payload: Data,
        at now: MonotonicSeconds
    ) -> [WorkerOutput] {
        guard var pending = predictions[attemptID], rows > 0 else { return [] }
        var b = WirePredictionBatch()
        b.attemptID = attemptID
        b.batchSeq = pending.nextBatch
        b.firstLine = firstLine
        b.rows = rows
        b.bytesPerRow = bytesPerRow
        pending.nextBatch += 1
        pending.queue.append((b, payload))
        predictions[attemptID] = pending
        var out: [WorkerOutput] = []
        flushPredictions(attemptID, at: now, into: &out)
        return out
    }

    private func flushPredictions(_ attemptID: UInt64, at now: MonotonicSeconds, into out: inout [WorkerOutput]) {
        guard var pending = predictions[attemptID] else { return }
        while pending.queueHead < pending.queue.count {
            let next = pending.queue[pending.queueHead]
            guard (try? pending.credit.sent(bytes: next.payload.count)) != nil else { break }
            pending.queue[pending.queueHead].payload = Data()
            pending.queueHead += 1
            send(.predictionBatch(next.batch), payload: next.payload, at: now, into: &out)
        }
        if pending.queueHead == pending.queue.count {
            pending.queue.removeAll()
            pending.queueHead = 0
        }
        predictions[attemptID] = pending
        if pending.queue.isEmpty, let d = pending.done {
            out += done(attemptID: attemptID, rows: d.rows, peakRSS: d.peakRSS, result: d.result, elapsed: d.elapsed, at: now)
        }
    }

    /// Asks the coordinator for part of a blob.
    public func requestBlob(digest: Data, offset: UInt64, maxBytes: UInt32, at now: MonotonicSeconds) -> [WorkerOutput] {
        var r = WireBlobRequest()
        r.digest = digest
        r.offset = offset
        r.maxBytes = maxBytes
        var out: [WorkerOutput] = []
        send(.blobRequest(r), at: now, into: &out)
        return out
    }

    /// Leaving (SIGTERM or shutdown): say goodbye, stop tasks, exit.
    public func finish(reason: String, at now: MonotonicSeconds) -> [WorkerOutput] {
        var out: [WorkerOutput] = []
        if state == .ready {
            var g = WireGoodbye()
            g.reason = reason
            send(.goodbye(g), at: now, into: &out)
        }
        for attemptID in running.keys.sorted() { out.append(.cancel(attemptID: attemptID, reason: reason)) }
        running.removeAll()
        credit.removeAll()
        predictions.removeAll()
        state = .finished
        out.append(.exit(message: reason, failure: false))
        return out
    }

    /// Refuses an assignment before it runs: reports `failure` for the attempt and logs it.
    private func refuse(
        taskID: UInt64, attemptID: UInt64, _ failure: TaskFailure, metadata: Logger.Metadata, at now: MonotonicSeconds,
        into out: inout [WorkerOutput]
    ) {
        let f = failure.wire(taskID: taskID, attemptID: attemptID, peakRSS: max(peakRSS, rss))
        view.release(attemptID: attemptID)
        send(.failed(f), at: now, into: &out)
        out.append(.log(.warning, "refused attempt \(attemptID): \(f.message)", metadata: metadata))
    }

    private func sendCredit(_ attemptID: UInt64, _ grant: CreditWindow.Grant, at now: MonotonicSeconds, into out: inout [WorkerOutput]) {
        var c = WireCredit()
        c.attemptID = attemptID
        c.stream = .rows
        c.grantedBatches = grant.messages
        c.grantedBytes = grant.bytes
        send(.credit(c), at: now, into: &out)
    }

    private func send(
        _ body: WireEnvelope.OneOf_Body, payload: Data? = nil, at now: MonotonicSeconds,
        into out: inout [WorkerOutput], session: UInt64? = nil
    ) {
        outSeq += 1
        out.append(.send(WireMessage(body, payload: payload, seq: outSeq, session: session ?? view.session ?? 0)))
    }
}
