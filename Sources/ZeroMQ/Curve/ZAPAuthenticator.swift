import Foundation
import Locking
import Logging

/// A ZAP handler (ZeroMQ RFC 27) that admits CURVE clients whose public key
/// is in an allow-list and refuses everyone else.
///
/// libzmq asks the handler bound at `inproc://zeromq.zap.01` in the same
/// context about every CURVE handshake; **without one, a CURVE server
/// accepts any client key**. Create one authenticator per context, before
/// the CURVE server socket accepts connections:
///
///     let auth = try ZAPAuthenticator(context: context, allowedClientKeys: workerKeys)
///     defer { auth.stop() }
///     try router.configureCurveServer(secretKey: serverKeys.secretKey)
///     try router.bind("tcp://0.0.0.0:5570")
///
/// Every refusal is logged (warning) with the peer's address and key, counted
/// in ``refusedCount`` and passed to `onDecision`. The handler runs on its own
/// thread; all methods are thread-safe.
///
/// Non-CURVE handshakes (NULL with a ZAP domain, PLAIN) are refused; sockets
/// without a ZAP domain and without CURVE (e.g. `inproc://` bridges) never
/// reach the handler.
public final class ZAPAuthenticator: Sendable {
    /// The ZAP endpoint libzmq uses.
    public static let endpoint = "inproc://zeromq.zap.01"

    /// One authentication request and its outcome.
    public struct Decision: Sendable, Hashable, CustomStringConvertible {
        /// The peer's IP address as libzmq reports it (e.g. `127.0.0.1`).
        public var address: String
        /// The ZAP domain of the server socket.
        public var domain: String
        /// The security mechanism (`CURVE`, `NULL`, `PLAIN`).
        public var mechanism: String
        /// The client's public key, for CURVE requests.
        public var clientKey: CurvePublicKey?
        /// Whether the client was admitted.
        public var accepted: Bool
        /// Why (the ZAP status text).
        public var reason: String

        public var description: String {
            let who = clientKey.map { "key \($0.fingerprint)… (\($0.z85))" } ?? "no key"
            return "\(accepted ? "accepted" : "refused") \(mechanism) client at \(address), \(who), domain '\(domain)': \(reason)"
        }
    }

    private struct State {
        var allowed: Set<CurvePublicKey>
        var accepted = 0
        var refused = 0
    }

    private let state: Locked<State>
    private let domain: String?
    private let logger: Logger
    private let onDecision: (@Sendable (Decision) -> Void)?
    private let wakeup: Mailbox<Void>
    private let thread = Locked<SocketThread?>(nil)

    /// Binds the ZAP endpoint in `context` and starts answering requests on
    /// a dedicated thread.
    ///
    /// - Parameters:
    ///   - allowedClientKeys: the client public keys to admit.
    ///   - domain: if set, requests for other ZAP domains are refused.
    ///   - logger: receives a warning for every refusal.
    ///   - onDecision: called on the handler's thread after every decision.
    /// - Throws: ``ZMQError/Code/addressInUse`` if the context already has a ZAP handler.
    public init(
        context: Context,
        allowedClientKeys: some Sequence<CurvePublicKey>,
        domain: String? = nil,
        logger: Logger = Logger(label: "spacetime.zmq.zap"),
        onDecision: (@Sendable (Decision) -> Void)? = nil
    ) throws(ZMQError) {
        state = Locked(State(allowed: Set(allowedClientKeys)))
        self.domain = domain
        self.logger = logger
        self.onDecision = onDecision
        wakeup = try Mailbox<Void>()
        let started = Locked<Result<Void, ZMQError>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let handlerThread = SocketThread(name: "zmq-zap") { [self] thread in
            let socket: Socket
            do {
                socket = try context.socket(.router)
                try socket.set(.linger, 0)
                try socket.bind(ZAPAuthenticator.endpoint)
            } catch let error as ZMQError {
                started.withLock { $0 = .failure(error) }
                ready.signal()
                return
            }
            started.withLock { $0 = .success(()) }
            ready.signal()
            defer { socket.close() }
            try serve(socket, thread: thread)
        }
        thread.withLock { $0 = handlerThread }
        ready.wait()
        if case .failure(let error) = started.withLock({ $0 }) {
            throw error
        }
    }

    /// Admits `key` from now on.
    public func allow(_ key: CurvePublicKey) {
        _ = state.withLock { $0.allowed.insert(key) }
    }

    /// Refuses `key` from now on (existing connections stay up).
    public func revoke(_ key: CurvePublicKey) {
        _ = state.withLock { $0.allowed.remove(key) }
    }

    /// The keys currently admitted.
    public var allowedClientKeys: Set<CurvePublicKey> { state.withLock { $0.allowed } }

    /// How many handshakes were admitted so far.
    public var acceptedCount: Int { state.withLock { $0.accepted } }

    /// How many handshakes were refused so far.
    public var refusedCount: Int { state.withLock { $0.refused } }

    /// Stops the handler thread and unbinds the ZAP endpoint; blocks until
    /// it has stopped. Idempotent. After this, CURVE servers in the context
    /// accept every client key again, so stop it only after closing them.
    public func stop() {
        guard let handlerThread = thread.withLock({ $0 }) else { return }
        handlerThread.requestStop()
        wakeup.close()
        try? handlerThread.join()
    }

    deinit {
        // The thread holds `self` while it runs, so reaching deinit means it ended.
    }

    // MARK: Handler loop

    private func serve(_ socket: Socket, thread: SocketThread) throws {
        var poller = Poller()
        let zapIndex = poller.add(socket)
        poller.add(wakeup)
        var request = Message()
        var reply = Message()
        while !thread.isStopRequested && !wakeup.isClosed {
            guard try poller.poll(timeout: .milliseconds(500)) > 0, poller.isReadable(zapIndex) else { continue }
            while try socket.receive(into: &request, timeout: .zero) {
                guard handle(request, reply: &reply) else { continue }
                try socket.send(reply)
            }
        }
    }

    /// Builds the reply to one request; `false` if the request has no
    /// envelope to reply to (then it is dropped).
    private func handle(_ request: Message, reply: inout Message) -> Bool {
        // ROUTER framing: routing id(s), empty delimiter, then the ZAP frames.
        guard let delimiter = request.firstIndex(where: { $0.isEmpty }) else {
            logger.warning("ZAP: dropped a request without an envelope", metadata: ["frames": "\(request.count)"])
            return false
        }
        reply.removeAll()
        for index in 0...delimiter { reply.append(request[index]) }
        let body = request[(delimiter + 1)...]
        let fields = Array(body)
        guard fields.count >= 6 else {
            reply.append("1.0")
            reply.append(fields.first ?? [])
            reply.append("400")
            reply.append("malformed ZAP request")
            reply.append("")
            reply.append("")
            logger.warning("ZAP: malformed request", metadata: ["frames": "\(fields.count)"])
            return true
        }
        let requestID = fields[1]
        var decision = Decision(
            address: String(decoding: fields[3], as: UTF8.self),
            domain: String(decoding: fields[2], as: UTF8.self),
            mechanism: String(decoding: fields[5], as: UTF8.self),
            clientKey: nil, accepted: false, reason: "")
        if String(decoding: fields[0], as: UTF8.self) != "1.0" {
            decision.reason = "unsupported ZAP version"
        } else if let domain, decision.domain != domain {
            decision.reason = "unknown ZAP domain"
        } else if decision.mechanism != "CURVE" {
            decision.reason = "mechanism \(decision.mechanism) not allowed (CURVE only)"
        } else if fields.count < 7 {
            decision.reason = "CURVE request without a client key"
        } else if let key = try? CurvePublicKey(bytes: Array(fields[6])) {
            decision.clientKey = key
            if state.withLock({ $0.allowed.contains(key) }) {
                decision.accepted = true
                decision.reason = "OK"
            } else {
                decision.reason = "client key not in the allow-list"
            }
        } else {
            decision.reason = "malformed CURVE client key"
        }
        state.withLock { s in
            if decision.accepted { s.accepted += 1 } else { s.refused += 1 }
        }
        if decision.accepted {
            logger.debug("ZAP: \(decision)")
        } else {
            logger.warning(
                "ZAP: refused client",
                metadata: [
                    "peer": "\(decision.address)",
                    "key": "\(decision.clientKey?.z85 ?? "-")",
                    "fingerprint": "\(decision.clientKey?.fingerprint ?? "-")",
                    "mechanism": "\(decision.mechanism)",
                    "domain": "\(decision.domain)",
                    "reason": "\(decision.reason)"
                ])
        }
        onDecision?(decision)
        reply.append("1.0")
        reply.append(requestID)
        reply.append(decision.accepted ? "200" : "400")
        reply.append(decision.reason)
        reply.append(decision.clientKey?.z85 ?? "")  // user id, visible to the server as "User-Id"
        reply.append("")
        return true
    }
}
