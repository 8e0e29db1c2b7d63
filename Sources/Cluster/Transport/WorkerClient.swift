import Foundation
import Locking
import SpaceTime
import ZeroMQ

/// What a worker's task executor reports back to its DEALER thread.
public enum WorkerEvent: Sendable {
    case memory(rss: UInt64, peak: UInt64)
    case progress(attemptID: UInt64, done: UInt64, total: UInt64)
    case consumedRows(attemptID: UInt64, bytes: Int)
    case checkpointStats(attemptID: UInt64, stats: WireCheckpoint.ExtractStats, blob: Data)
    case checkpointTrees(attemptID: UInt64, firstTree: Int, trees: [Data])
    case done(attemptID: UInt64, rows: UInt64, peakRSS: UInt64, result: Data?, elapsed: Double)
    case failed(attemptID: UInt64, failure: TaskFailure, peakRSS: UInt64)
    case requestBlob(digest: Data, offset: UInt64, maxBytes: UInt32)
    /// A predict attempt's results: `rows` × `bytesPerRow` bytes, sent under the coordinator's credit.
    case predictions(attemptID: UInt64, firstLine: UInt64, rows: UInt32, bytesPerRow: UInt32, payload: Data)
    /// Leave: say goodbye and exit (SIGTERM).
    case finish(reason: String)
}

/// The worker's I/O shell: one thread with the DEALER socket, a poller over
/// it and an event mailbox, and a `WorkerEngine`. Outputs meant for the task
/// executor (run, rows, rows end, cancel, blob chunks, exit, logs) go to
/// `handler` on that thread; it returns events it can report at once and
/// posts later ones with `post`.
public final class WorkerClient: Sendable {
    public struct Options: Sendable {
        public var engine = WorkerEngine.Configuration()
        public var maxPollWait: Double = 0.05
        /// CURVE: this worker's key pair and the coordinator's public key.
        public var curve: (keyPair: CurveKeyPair, coordinatorKey: CurvePublicKey)?
        /// ZMTP heartbeat interval for the socket, seconds (the protocol's own come from `welcome`).
        public var socketHeartbeat: Double = 1
        public init() {}
    }

    private let thread: SocketThread
    private let mailbox: Mailbox<WorkerEvent>
    private let crashed = Locked(false)

    public init(
        context: Context, connect endpoint: String, identity: WorkerEngine.Identity, options: Options = Options(),
        handler: @escaping @Sendable (WorkerOutput) -> [WorkerEvent]
    ) throws {
        let mailbox = try Mailbox<WorkerEvent>()
        self.mailbox = mailbox
        let crashed = self.crashed
        thread = SocketThread(name: "worker-dealer") { thread in
            let clock = EngineClock()
            let engine = WorkerEngine(
                identity: identity, configuration: options.engine,
                backoffSeed: UInt64(identity.pid) &* 0x9E37_79B9_7F4A_7C15)
            var dealer: Socket? = nil
            // The DEALER's monitor: a refusal in the handshake reaches the worker only this way.
            var monitor: SocketMonitor? = nil
            let setup = HandshakeDiagnosis.Setup(
                endpoint: endpoint, workerKey: options.curve?.keyPair.publicKey.fingerprint,
                coordinatorKey: options.curve?.coordinatorKey.fingerprint)
            var diagnosis = HandshakeDiagnosis(setup: setup)
            var reconnectAt: Double? = clock.now().monotonic
            var exiting = false
            var message = Message()

            func perform(_ outputs: [WorkerOutput]) {
                var pending = outputs[...]
                while let output = pending.popFirst() {
                    switch output {
                    case .send(let wire):
                        guard let dealer, let frames = try? wire.encodeFrames() else { continue }
                        _ = try? dealer.send(Message(prefix: nil, frames: frames), flags: .dontWait)
                    case .reconnect(let after):
                        monitor?.close()
                        monitor = nil
                        dealer?.close()
                        dealer = nil
                        reconnectAt = clock.now().monotonic + after
                    case .exit:
                        exiting = true
                        for event in handler(output) { pending.append(contentsOf: apply(event)) }
                    default:
                        for event in handler(output) { pending.append(contentsOf: apply(event)) }
                    }
                }
            }

            func apply(_ event: WorkerEvent) -> [WorkerOutput] {
                let now = clock.now().monotonic
                switch event {
                case .memory(let rss, let peak):
                    engine.memory(rss: rss, peak: peak)
                    return []
                case .progress(let id, let done, let total):
                    engine.progress(attemptID: id, done: done, total: total)
                    return []
                case .consumedRows(let id, let bytes):
                    return engine.consumedRows(attemptID: id, bytes: bytes, at: now)
                case .checkpointStats(let id, let stats, let blob):
                    return engine.checkpointStats(attemptID: id, stats: stats, blob: blob, at: now)
                case .checkpointTrees(let id, let first, let trees):
                    return engine.checkpointTrees(attemptID: id, firstTree: first, trees: trees, at: now)
                case .done(let id, let rows, let peak, let result, let elapsed):
                    return engine.done(attemptID: id, rows: rows, peakRSS: peak, result: result, elapsed: elapsed, at: now)
                case .failed(let id, let failure, let peak):
                    return engine.failed(attemptID: id, failure: failure, peakRSS: peak, at: now)
                case .requestBlob(let digest, let offset, let maxBytes):
                    return engine.requestBlob(digest: digest, offset: offset, maxBytes: maxBytes, at: now)
                case .predictions(let id, let firstLine, let rows, let bytesPerRow, let payload):
                    return engine.predictions(
                        attemptID: id, firstLine: firstLine, rows: rows, bytesPerRow: bytesPerRow,
                        payload: payload, at: now)
                case .finish(let reason):
                    return engine.finish(reason: reason, at: now)
                }
            }

            defer {
                monitor?.close()
                dealer?.close()
            }
            while !thread.isStopRequested && !exiting {
                let now = clock.now().monotonic
                if dealer == nil, let at = reconnectAt, now >= at {
                    reconnectAt = nil
                    let socket = try context.socket(.dealer)
                    try socket.set(.maxMessageSize, Int64(options.engine.limits.maxFrameBytes))
                    try socket.set(.linger, 0)
                    // A refused worker (no CURVE, a key not on the list) backs off instead of
                    // retrying every 100 ms: 250 ms doubling to 2 s.
                    try socket.set(.reconnectInterval, 250)
                    try socket.set(.reconnectIntervalMax, 2000)
                    try configureHeartbeats(socket, options.socketHeartbeat, 5)
                    if let curve = options.curve {
                        try socket.configureCurveClient(keyPair: curve.keyPair, serverKey: curve.coordinatorKey)
                    }
                    monitor = try socket.monitor([.connected, .disconnected, .handshakeSucceeded, .handshakeFailed])
                    diagnosis.newSocket()
                    engine.silenceReason = nil
                    try socket.connect(endpoint)
                    dealer = socket
                    perform(engine.connected(at: now))
                }
                var poller = Poller()
                let fromCoordinator = dealer.map { poller.add($0) }
                let fromExecutor = poller.add(mailbox)
                try poller.poll(timeout: .seconds(double: options.maxPollWait))
                if let fromCoordinator, poller.isReadable(fromCoordinator), let socket = dealer {
                    // Bounded by count and by time: a row batch is parsed on this thread, so an
                    // unbounded burst would starve heartbeats (and so lease renewals).
                    var handled = 0
                    let burstStart = clock.now().monotonic
                    while handled < 1000, clock.now().monotonic - burstStart < options.maxPollWait, dealer === socket,
                        try socket.receive(into: &message, timeout: .zero)
                    {
                        handled += 1
                        perform(engine.receive(frames: message.dataFrames(from: 0), at: clock.now().monotonic))
                    }
                }
                if poller.isReadable(fromExecutor) {
                    var events: [WorkerEvent] = []
                    mailbox.drain { events.append($0) }
                    for event in events { perform(apply(event)) }
                }
                // A monitor that fails only loses the diagnosis, never the worker.
                while let events = monitor, let event = (try? events.next(timeout: .zero)) ?? nil {
                    if let refusal = diagnosis.observe(event) {
                        perform(engine.connectionRefused(refusal, at: clock.now().monotonic))
                    }
                }
                engine.silenceReason = diagnosis.silenceReason
                if crashed.withLock({ $0 }) { return }  // simulated crash: no goodbye, nothing flushed
                perform(engine.tick(at: clock.now().monotonic))
            }
        }
    }

    /// Reports an executor event to the DEALER thread.
    public func post(_ event: WorkerEvent) {
        mailbox.send(event)
    }

    /// Asks the worker to leave cleanly (goodbye) and waits for the thread.
    public func stop(reason: String = "stopped") throws {
        mailbox.send(.finish(reason: reason))
        try thread.join()
    }

    /// Ends the thread at once without a goodbye, as a killed process would (for tests).
    public func crash() throws {
        crashed.withLock { $0 = true }
        thread.requestStop()
        mailbox.close()
        try thread.join()
    }

    public var isFinished: Bool { thread.isFinished }

    /// Calls `action` once the connection loop has ended (at once when it has).
    public func whenFinished(_ action: @escaping @Sendable () -> Void) {
        thread.whenFinished(action)
    }
}
