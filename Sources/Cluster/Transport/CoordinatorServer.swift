import Foundation
import Locking
import Logging
import ZeroMQ

/// What the rest of the coordinator process asks the ROUTER thread to do.
public enum CoordinatorServerRequest: Sendable {
    case setExtractor(WireBlob)
    case setModel(WireBlob)
    /// Serve `data` to workers under `digest`.
    case addBlob(Data, digest: Data)
    /// The local launcher saw a worker process end.
    case workerProcessEnded(workerID: String, signal: Int32?, status: Int32?, peakMemory: UInt64?)
    case shutdown(reason: String)
    /// Stop for a `--resume`: the workers reconnect with backoff instead of exiting.
    case shutdownForResume(reason: String)
}

/// Work the coordinator does on the ROUTER thread besides the protocol:
/// streaming rows into `engine.rowStreams` and merging when a stage needs it.
/// Created on that thread and used only there.
public protocol CoordinatorDriver {
    func drive(_ engine: CoordinatorEngine, at time: EngineTime) throws -> [CoordinatorOutput]
    /// True when `drive` could do more right now (e.g. rows to stream that
    /// have credit): the loop then polls without waiting.
    var hasWorkNow: Bool { get }
}

extension CoordinatorDriver {
    public var hasWorkNow: Bool { false }
}

/// The coordinator's I/O shell: one thread with the ROUTER socket, a poller
/// over it and a command mailbox, and a `CoordinatorEngine` doing the work.
/// The engine's and the shell's log lines go to its `Logger`: a line caused by a
/// peer's message carries the peer's routing id (``LogKey/peer``).
public final class CoordinatorServer: Sendable {
    public struct Options: Sendable {
        public var engine = CoordinatorEngine.Configuration()
        /// Longest wait in one poll, seconds (bounds how late ticks can be).
        public var maxPollWait: Double = 0.05
        /// Minimum time between engine ticks, seconds.
        public var tickInterval: Double = 0.05
        /// CURVE: the coordinator's secret key and the worker public keys
        /// admitted (a ZAP handler refuses all others). Nil: no encryption
        /// (only for loopback; the command line enforces that).
        public var curve: (secretKey: CurveSecretKey, allowedWorkers: [CurvePublicKey])?
        /// Warnings one peer's messages may write ("dropped message from …"): at most `burst`
        /// lines per `interval` seconds, the rest counted in a summary line.
        public var peerWarnings: (burst: Int, interval: Double) = (20, 10)
        public init() {}
    }

    /// The bound endpoint with wildcards resolved, e.g. `tcp://127.0.0.1:41233`.
    public let endpoint: String
    private let thread: SocketThread
    private let mailbox: Mailbox<CoordinatorServerRequest>
    private let authenticator: ZAPAuthenticator?
    /// Refusals (ZAP and handshake failures): per host and cause at most 5 lines per 10 s, so a flood
    /// cannot fill the log nor hide another host's refusal.
    private let refusalLog: RateLimitedLog
    private let handshakeRefusals = Locked(0)
    private let peerWarningCounts = Locked((written: 0, suppressed: 0))

    /// What the ROUTER thread serves once ``start(store:schema:makeDriver:)`` is called.
    private struct Job: Sendable {
        var store: JobStore
        var schema: WireCsvSchema
        var makeDriver: @Sendable () -> (any CoordinatorDriver)?
    }
    private let job = Locked<Job?>(nil)
    private let started = DispatchSemaphore(value: 0)

    /// Binds `bind` and starts the ROUTER thread, then serves the job at once.
    public convenience init(
        context: Context, bind: String, store: JobStore, schema: WireCsvSchema, options: Options = Options(),
        logger: Logger, makeDriver: @escaping @Sendable () -> (any CoordinatorDriver)?,
        onOutput: @escaping @Sendable (CoordinatorOutput) -> Void = { _ in }
    ) throws {
        try self.init(context: context, bind: bind, options: options, logger: logger, onOutput: onOutput)
        start(store: store, schema: schema, makeDriver: makeDriver)
    }

    /// Binds `bind` (CURVE and the handshake monitor configured) and returns
    /// once bound, or throws a ``CoordinatorBindError`` saying why not. No job
    /// is served until ``start(store:schema:makeDriver:)``: a coordinator binds
    /// before it creates a job store, so a bad `--bind` leaves no job behind.
    /// Log lines go to `logger`, the engine's other outputs but messages to `onOutput`.
    public init(
        context: Context, bind: String, options: Options = Options(), logger: Logger,
        onOutput: @escaping @Sendable (CoordinatorOutput) -> Void = { _ in }
    ) throws {
        let mailbox = try Mailbox<CoordinatorServerRequest>()
        self.mailbox = mailbox
        let refusalLog = RateLimitedLog(
            burst: 5, interval: 10, maxSources: 16, what: "refused connections",
            sourceKind: "host", logger: logger)
        self.refusalLog = refusalLog
        let handshakeRefusals = self.handshakeRefusals
        let peerWarningCounts = self.peerWarningCounts
        if let curve = options.curve {
            // The refusals the handler would warn of are written, rate-limited, by `refusalLog`.
            var zapLogger = logger
            zapLogger.logLevel = max(logger.logLevel, .error)
            authenticator = try ZAPAuthenticator(
                context: context, allowedClientKeys: curve.allowedWorkers, logger: zapLogger,
                onDecision: { decision in
                    if !decision.accepted {
                        refusalLog.write("refused a worker connection: \(decision)", source: "\(decision.address) (\(decision.reason))")
                    }
                })
        } else {
            authenticator = nil
        }
        let bound = Locked<Result<String, any Error>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let job = self.job
        let started = self.started
        thread = SocketThread(name: "coordinator-router") { thread in
            let router: Socket
            var monitor: HandshakeFailureMonitor?
            do {
                router = try context.socket(.router)
                try router.set(.routerMandatory, true)
                try router.set(.maxMessageSize, Int64(options.engine.limits.maxFrameBytes))
                try configureHeartbeats(router, options.engine.heartbeatInterval, options.engine.liveness)
                if let curve = options.curve { try router.configureCurveServer(secretKey: curve.secretKey) }
                // Plain clients of a CURVE server, wrong server keys and non-ZMTP bytes are dropped by libzmq
                // in the handshake, before ZAP or the engine see them: only the socket monitor can tell.
                monitor = try HandshakeFailureMonitor(socket: router) { refusal in
                    if case .authentication = refusal.cause { return }  // the ZAP handler logged it, with the key
                    handshakeRefusals.withLock { $0 += 1 }
                    refusalLog.write(refusal.description, source: refusal.source)
                }
                do { try router.bind(bind) } catch { throw CoordinatorBindError(endpoint: bind, error: error) }
                bound.withLock { $0 = .success((try? router.lastEndpoint()) ?? bind) }
                ready.signal()
            } catch {
                bound.withLock { $0 = .failure(error) }
                ready.signal()
                return
            }
            defer {
                router.close()
                monitor?.stop()
            }
            // Bound: wait for the job (or a stop before it came).
            var served: Job?
            // `start` sets the job and `stop` the stop request before they signal `started`.
            while served == nil && !thread.isStopRequested {
                started.wait()
                served = job.withLock { $0 }
            }
            guard let served else { return }
            try CoordinatorServer.loop(
                thread: thread, router: router, mailbox: mailbox, store: served.store, schema: served.schema,
                options: options, driver: served.makeDriver(), refusalLog: refusalLog,
                peerWarningCounts: peerWarningCounts, logger: logger, onOutput: onOutput)
        }
        ready.wait()
        switch bound.withLock({ $0 }) {
        case .success(let endpoint)?: self.endpoint = endpoint
        case .failure(let error)?:
            authenticator?.stop()
            throw error
        case nil: throw CoordinatorBindError(endpoint: bind, reason: "the coordinator thread ended before binding")
        }
    }

    /// Serves `store`'s job on the bound socket: the engine and the driver
    /// (made on the ROUTER thread) start. Called once.
    public func start(store: JobStore, schema: WireCsvSchema, makeDriver: @escaping @Sendable () -> (any CoordinatorDriver)?) {
        job.withLock { $0 = $0 ?? Job(store: store, schema: schema, makeDriver: makeDriver) }
        started.signal()
    }

    public func send(_ command: CoordinatorServerRequest) {
        mailbox.send(command)
    }

    /// Stops the loop and waits for it. A `.shutdown` or `.shutdownForResume` sent before is
    /// still carried out (its messages queued on the socket, which delivers them as it closes);
    /// other requests still pending are dropped.
    public func stop() throws {
        thread.requestStop()
        started.signal()
        mailbox.close()
        try thread.join()
        authenticator?.stop()
    }

    /// Whether the loop has ended (stopped, or failed: `wait` rethrows why,
    /// e.g. a job store error).
    public var isFinished: Bool { thread.isFinished }

    /// Blocks until the loop ends; rethrows the error that ended it.
    public func wait() throws {
        try thread.join()
    }

    /// Calls `action` once the loop has ended (at once when it has), however it ended.
    public func whenFinished(_ action: @escaping @Sendable () -> Void) {
        thread.whenFinished(action)
    }

    /// Connections refused so far: keys the ZAP handler refused plus ``refusedHandshakes``.
    public var refusedConnections: Int { (authenticator?.refusedCount ?? 0) + refusedHandshakes }

    /// Connections dropped in the handshake for another reason than a refused
    /// key: plain (non-CURVE) clients of a CURVE coordinator, wrong server
    /// keys, peers sending bytes that are not ZMTP.
    public var refusedHandshakes: Int { handshakeRefusals.withLock { $0 } }

    /// Warnings peers' messages triggered so far ("dropped message from …"):
    /// written to the log, and suppressed by the per-peer rate limit.
    public var peerWarnings: (written: Int, suppressed: Int) { peerWarningCounts.withLock { $0 } }

    private static func loop(
        thread: SocketThread, router: Socket, mailbox: Mailbox<CoordinatorServerRequest>, store: JobStore,
        schema: WireCsvSchema, options: Options, driver: (any CoordinatorDriver)?,
        refusalLog: RateLimitedLog, peerWarningCounts: Locked<(written: Int, suppressed: Int)>,
        logger: Logger, onOutput: @Sendable (CoordinatorOutput) -> Void
    ) throws {
        let clock = EngineClock()
        let engine = try CoordinatorEngine(store: store, schema: schema, configuration: options.engine)
        var poller = Poller()
        let fromWorkers = poller.add(router)
        let fromProcess = poller.add(mailbox)
        var message = Message()
        var lastTick = -Double.infinity
        // Lines a peer's messages cause name the peer in their metadata; warnings among them (a
        // garbage or unauthenticated peer: "dropped message from …") are rate-limited per peer.
        var peerWarnings = PeerLogLimiter(burst: max(1, options.peerWarnings.burst), interval: max(0.001, options.peerWarnings.interval))
        func fromPeer(_ address: PeerAddress, _ outputs: [CoordinatorOutput], at now: Double) -> [CoordinatorOutput] {
            outputs.compactMap { output in
                guard case .log(let level, let message, var metadata) = output else { return output }
                if metadata[LogKey.peer] == nil { metadata[LogKey.peer] = .string(address.hex) }
                guard level == .warning else { return .log(level, message, metadata: metadata) }
                let admitted = peerWarnings.admit(message.description, from: address, at: now)
                peerWarningCounts.withLock { if admitted == nil { $0.suppressed += 1 } else { $0.written += 1 } }
                return admitted.map { .log(.warning, "\($0)", metadata: metadata) }
            }
        }

        func perform(_ outputs: [CoordinatorOutput]) {
            for output in outputs {
                switch output {
                case .log(let level, let message, let metadata):
                    logger.log(level: level, message, metadata: metadata)
                case .send(let address, let wire):
                    do {
                        let frames = try wire.encodeFrames()
                        if try !router.send(Message(prefix: address.bytes, frames: frames), flags: .dontWait) {
                            logger.warning("dropped \(wire.kind) to \(address): its queue is full", metadata: .about(peer: address))
                        }
                    } catch {
                        logger.warning("could not send \(wire.kind) to \(address): \(error)", metadata: .about(peer: address))
                    }
                default:
                    onOutput(output)
                }
            }
        }

        var driverBusy = false
        while !thread.isStopRequested {
            let now = clock.now()
            // While the driver has work (it returned messages last time, or says so: a row pass with
            // credit, a stage change to act on) or the engine wants a tick, only peek.
            let busy = driverBusy || engine.wantsTick || driver?.hasWorkNow == true
            let wait = busy ? 0 : min(options.maxPollWait, max(0, engine.nextDeadline(after: now) - now.monotonic))
            try poller.poll(timeout: .seconds(double: wait))
            if poller.isReadable(fromWorkers) {
                var handled = 0
                let burstStart = clock.now().monotonic
                while handled < 1000, clock.now().monotonic - burstStart < options.maxPollWait,
                    try router.receive(into: &message, timeout: .zero)
                {
                    handled += 1
                    guard message.count >= 1 else { continue }
                    let address = PeerAddress(Array(message[0]))
                    let time = clock.now()
                    perform(
                        fromPeer(
                            address, try engine.receive(from: address, frames: message.dataFrames(from: 1), at: time),
                            at: time.monotonic))
                }
            }
            if poller.isReadable(fromProcess) {
                var commands: [CoordinatorServerRequest] = []
                mailbox.drain { commands.append($0) }
                for command in commands {
                    let time = clock.now()
                    switch command {
                    case .setExtractor(let blob):
                        engine.extractor = blob
                        engine.gates.produce(.extractor)
                    case .setModel(let blob):
                        engine.model = blob
                        engine.gates.produce(.model)
                    case .addBlob(let data, let digest):
                        _ = engine.addBlob(data, digest: digest)
                    case .workerProcessEnded(let workerID, let signal, let status, let peakMemory):
                        perform(
                            try engine.workerProcessEnded(
                                workerID: workerID, signal: signal, status: status,
                                peakMemory: peakMemory, at: time))
                    case .shutdown(let reason):
                        perform(engine.shutdown(reason: reason, at: time))
                    case .shutdownForResume(let reason):
                        perform(engine.shutdown(reason: reason, resume: true, at: time))
                    }
                }
            }
            let time = clock.now()
            if time.monotonic - lastTick >= options.tickInterval || engine.wantsTick {
                lastTick = time.monotonic
                perform(try engine.tick(at: time))
                refusalLog.flush()
                for line in peerWarnings.summaries(at: time.monotonic) { logger.warning("\(line)") }
            }
            if let driver {
                let outputs = try driver.drive(engine, at: time)
                driverBusy = outputs.contains { if case .send = $0 { true } else { false } }
                perform(outputs)
            }
        }
        // Stopped: a shutdown the process asked for just before `stop` must still reach the workers.
        mailbox.drain { command in
            switch command {
            case .shutdown(let reason): perform(engine.shutdown(reason: reason, at: clock.now()))
            case .shutdownForResume(let reason): perform(engine.shutdown(reason: reason, resume: true, at: clock.now()))
            default: break
            }
        }
    }
}
