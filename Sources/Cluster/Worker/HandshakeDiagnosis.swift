import Foundation
import ZeroMQ

/// Why the coordinator refused this worker's connection, read from the DEALER
/// socket's monitor events (pure; `WorkerClient` feeds it).
///
/// A refused worker gets no application message: the coordinator's libzmq
/// drops the connection in the ZMTP/CURVE handshake. What the worker's own
/// socket reports is enough to tell the causes apart (seen with libzmq 4.3):
///
/// | the worker sees | cause |
/// |---|---|
/// | `HANDSHAKE_FAILED_AUTH` with ZAP status 400 | its CURVE key is not in the coordinator's allow-list |
/// | `HANDSHAKE_FAILED_PROTOCOL`, mechanism mismatch | one side uses CURVE, the other does not |
/// | connections closed in the handshake, no reason, while it uses CURVE | the coordinator could not decrypt its hello (`--coordinator-key` is not the coordinator's key), or (a race with the mismatch above) it does not use CURVE |
/// | the same, for a worker without CURVE | most likely a CURVE coordinator (the mismatch race again) |
/// | no connection made | nothing listens at the endpoint |
public struct HandshakeDiagnosis: Sendable {
    /// What the worker knows of its own set-up, for the advice.
    public struct Setup: Sendable, Hashable {
        public var endpoint: String
        /// This worker's public key fingerprint (first 8 Z85 characters) when it uses CURVE.
        public var workerKey: String?
        /// The fingerprint of the coordinator key it was given (`--coordinator-key`).
        public var coordinatorKey: String?

        public init(endpoint: String, workerKey: String? = nil, coordinatorKey: String? = nil) {
            self.endpoint = endpoint
            self.workerKey = workerKey
            self.coordinatorKey = coordinatorKey
        }

        var usesCurve: Bool { workerKey != nil }
    }

    public let setup: Setup
    /// Whether a TCP connection was made since the socket was created.
    public private(set) var connected = false
    /// A connection is open and its handshake has neither succeeded nor failed yet.
    private var handshaking = false
    /// Connections closed in their handshake in a row without a reason given.
    private var silentCloses = 0
    /// The last refusal libzmq gave a reason for: later closes without one have the same cause
    /// (a refused peer is sometimes cut off before the reason reaches it).
    private var lastRefusal: String?

    public init(setup: Setup) {
        self.setup = setup
    }

    /// A new socket: whether it connects is not known yet (what was learnt of the coordinator is kept).
    public mutating func newSocket() {
        connected = false
        handshaking = false
    }

    /// Feeds one monitor event; returns why the connection was refused when
    /// the event says so.
    ///
    /// A connection closed in its handshake with no reason is what a CURVE worker
    /// with the wrong coordinator key sees, but also, now and then, a worker
    /// racing a refusal that gives the reason on the next attempt: it is
    /// reported only the second time in a row, and as the last refusal that had a
    /// reason when there was one.
    public mutating func observe(_ event: MonitorEvent) -> String? {
        switch event.kind {
        case .connected:
            connected = true
            handshaking = true
        case .handshakeSucceeded:
            handshaking = false
            silentCloses = 0
            lastRefusal = nil
        case .handshakeFailedAuth:
            handshaking = false
            silentCloses = 0
            lastRefusal = authenticationRefused(status: event.value)
            return lastRefusal
        case .handshakeFailedProtocol:
            handshaking = false
            silentCloses = 0
            lastRefusal = protocolError(code: event.value)
            return lastRefusal
        case .handshakeFailedNoDetail, .disconnected:
            guard handshaking else { break }
            handshaking = false
            silentCloses += 1
            if let lastRefusal { return lastRefusal }
            guard silentCloses >= 2 else { break }
            if setup.usesCurve {
                return
                    "the coordinator closed the connection during the CURVE handshake, giving no reason: either --coordinator-key (fingerprint \(setup.coordinatorKey ?? "?")) is not the coordinator's public key (compare it with the coordinator's curve.public: head -c 8 curve.public), or the coordinator does not use CURVE"
            }
            return
                "\(setup.endpoint) closed the connection during the handshake, giving no reason: the coordinator probably requires CURVE (give this worker --curve-secret and --coordinator-key, and add its curve.public to the coordinator's --allow-workers), or it is not a SpaceTime coordinator"
        default:
            break
        }
        return nil
    }

    /// Why no welcome came, when the events tell more than the timeout: nothing listens at the endpoint.
    public var silenceReason: String? {
        connected
            ? nil
            : "no coordinator accepts connections at \(setup.endpoint) (connection refused or unreachable); is it running, and is this the endpoint it binds?"
    }

    func authenticationRefused(status: UInt32) -> String {
        let key = setup.workerKey.map { "this worker's key (fingerprint \($0))" } ?? "this worker"
        switch status {
        case 400:
            return
                "the coordinator refused \(key): add this worker's curve.public to its --allow-workers directory (or file) and restart the coordinator (with --resume a running job continues)"
        case 300:
            return "the coordinator could not check \(key) for now (ZAP status 300, temporary); retrying"
        case 500:
            return "the coordinator's key check failed (ZAP status 500, an internal error there); see the coordinator's log"
        default:
            return "the coordinator refused \(key) (ZAP status \(status))"
        }
    }

    func protocolError(code: UInt32) -> String {
        let cause = RefusedConnection.Cause.protocolError(code: code)
        if cause.isMechanismMismatch {
            return setup.usesCurve
                ? "the coordinator does not use CURVE (it runs without --curve-secret): start this worker without --curve-secret and --coordinator-key, or the coordinator with its keys"
                : "the coordinator requires CURVE: give this worker --curve-secret (its key pair, from spacetime keygen) and --coordinator-key (the coordinator's curve.public), and add its curve.public to the coordinator's --allow-workers"
        }
        return "the handshake with the coordinator failed: \(RefusedConnection(address: nil, cause: cause).reason)"
    }
}
