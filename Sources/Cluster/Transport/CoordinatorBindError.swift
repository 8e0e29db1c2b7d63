import Foundation
import SpaceTime
import ZeroMQ

/// A coordinator could not bind its endpoint: the endpoint, libzmq's error and
/// what to do about it, in words (libzmq itself only says e.g. `ENODEV` for
/// `tcp://localhost:5555`, because it binds addresses and interface names,
/// never host names).
public struct CoordinatorBindError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The endpoint as given, e.g. `tcp://localhost:5555`.
    public var endpoint: String
    /// The errno libzmq reported, when it reported one.
    public var errno: Int32?
    /// Why, and what to give instead.
    public var reason: String

    /// A bind of `endpoint` that failed with `error` (a `ZMQError` names its errno).
    public init(endpoint: String, error: any Error) {
        self.endpoint = endpoint
        if let zmq = error as? ZMQError {
            errno = zmq.code.rawValue
            reason = Self.reason(endpoint: endpoint, errno: zmq.code.rawValue, detail: zmq.code.description)
        } else {
            errno = nil
            reason = "\(error)"
        }
    }

    /// A bind of `endpoint` that failed for `reason`.
    public init(endpoint: String, reason: String) {
        self.endpoint = endpoint
        errno = nil
        self.reason = reason
    }

    public var description: String { "cannot bind \(endpoint): \(reason)" }

    /// The port of a `tcp://HOST:PORT` endpoint (`*` kept), or nil.
    static func port(of endpoint: String) -> String? {
        guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":") else { return nil }
        let port = endpoint[endpoint.index(after: colon)...]
        return port.isEmpty || port.contains("]") ? nil : String(port)
    }

    /// The host part of a `tcp://HOST:PORT` endpoint, or nil.
    static func host(of endpoint: String) -> String? {
        guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":") else { return nil }
        let host = endpoint[endpoint.index(endpoint.startIndex, offsetBy: 6)..<colon]
        return host.isEmpty ? nil : String(host)
    }

    /// What `errno` means for a bind of `endpoint`, and what to give instead (pure).
    static func reason(endpoint: String, errno: Int32, detail: String) -> String {
        let port = port(of: endpoint) ?? "PORT"
        let host = host(of: endpoint).map { quoteForMessage($0) } ?? "the host"
        switch errno {
        case ENODEV:
            return
                "\(host) is neither an IP address nor a network interface of this host (\(detail)): libzmq binds addresses, not host names; use an IP address such as tcp://127.0.0.1:\(port) (this host only) or tcp://0.0.0.0:\(port) (every interface)"
        case EADDRINUSE:
            return
                "port \(port) is already in use (\(detail)): another process listens there, perhaps a coordinator still running (`ss -ltnp 'sport = :\(port)'` names it); stop it or choose another port"
        case EADDRNOTAVAIL:
            return
                "\(host) is not an address of this host (\(detail)); use one of its addresses (`ip -brief address`) or tcp://0.0.0.0:\(port)"
        case EACCES:
            return "permission denied (\(detail)): ports below 1024 need privileges; choose a port of 1024 or more"
        case EINVAL, EPROTONOSUPPORT:
            return "not an endpoint libzmq can bind (\(detail)); give tcp://IP:PORT, e.g. tcp://0.0.0.0:5555 or tcp://127.0.0.1:*"
        default:
            return detail
        }
    }
}
