import CZeroMQ

/// The ZeroMQ socket patterns this project uses.
public enum SocketType: Sendable, Hashable, CustomStringConvertible {
    /// Addresses peers by routing id; the coordinator's socket. Received
    /// messages start with the sender's routing id frame; sent messages must.
    case router
    /// Asynchronous request/reply peer of a ROUTER; the worker's socket.
    case dealer
    /// Publisher: fans out to every subscriber; drops at the high-water mark.
    case pub
    /// Subscriber: receives messages whose first frame starts with a subscribed prefix.
    case sub
    /// Pipeline producer: load-balances messages over connected PULL sockets.
    case push
    /// Pipeline consumer.
    case pull
    /// Exclusive pair, e.g. an `inproc://` bridge between two threads.
    case pair

    var rawValue: Int32 {
        switch self {
        case .router: return ZMQ_ROUTER
        case .dealer: return ZMQ_DEALER
        case .pub: return ZMQ_PUB
        case .sub: return ZMQ_SUB
        case .push: return ZMQ_PUSH
        case .pull: return ZMQ_PULL
        case .pair: return ZMQ_PAIR
        }
    }

    public var description: String {
        switch self {
        case .router: return "ROUTER"
        case .dealer: return "DEALER"
        case .pub: return "PUB"
        case .sub: return "SUB"
        case .push: return "PUSH"
        case .pull: return "PULL"
        case .pair: return "PAIR"
        }
    }
}
