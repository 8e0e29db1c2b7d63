import CZeroMQ

/// A typed socket option: its libzmq code and the Swift type libzmq expects
/// (libzmq rejects a value of the wrong size with `EINVAL`, e.g. `Int32`
/// for `ZMQ_MAXMSGSIZE`, so the type is fixed here).
///
///     try socket.set(.maxMessageSize, 16 << 20)
///     try socket.set(.routingID, Array("worker-3".utf8))
///     let hwm = try socket.get(.receiveHighWaterMark)
public struct SocketOption<Value>: Sendable, CustomStringConvertible {
    /// The `ZMQ_*` option code.
    public let code: Int32
    /// The option's libzmq name, used in errors.
    public let name: String

    public init(code: Int32, name: String) {
        self.code = code
        self.name = name
    }

    public var description: String { name }
}

extension SocketOption where Value == Int32 {
    /// Milliseconds pending messages are kept after close (-1 forever, 0 drop).
    public static var linger: Self { .init(code: ZMQ_LINGER, name: "ZMQ_LINGER") }
    /// Outgoing queue limit per peer, in messages (0 = unlimited).
    public static var sendHighWaterMark: Self { .init(code: ZMQ_SNDHWM, name: "ZMQ_SNDHWM") }
    /// Incoming queue limit per peer, in messages (0 = unlimited).
    public static var receiveHighWaterMark: Self { .init(code: ZMQ_RCVHWM, name: "ZMQ_RCVHWM") }
    /// Milliseconds between ZMTP heartbeat PINGs (0 = off).
    public static var heartbeatInterval: Self { .init(code: ZMQ_HEARTBEAT_IVL, name: "ZMQ_HEARTBEAT_IVL") }
    /// Milliseconds without traffic after a PING before the connection is closed.
    public static var heartbeatTimeout: Self { .init(code: ZMQ_HEARTBEAT_TIMEOUT, name: "ZMQ_HEARTBEAT_TIMEOUT") }
    /// Milliseconds the remote peer should wait for traffic before closing
    /// (sent in our PINGs; libzmq rounds to deciseconds).
    public static var heartbeatTTL: Self { .init(code: ZMQ_HEARTBEAT_TTL, name: "ZMQ_HEARTBEAT_TTL") }
    /// Milliseconds before libzmq reconnects a dropped or refused connection (default 100).
    public static var reconnectInterval: Self { .init(code: ZMQ_RECONNECT_IVL, name: "ZMQ_RECONNECT_IVL") }
    /// Upper bound, in milliseconds, of the reconnect interval, which doubles on each
    /// failed attempt up to it (0: no backoff).
    public static var reconnectIntervalMax: Self { .init(code: ZMQ_RECONNECT_IVL_MAX, name: "ZMQ_RECONNECT_IVL_MAX") }
    /// OS TCP keep-alive: -1 system default, 0 off, 1 on.
    public static var tcpKeepAlive: Self { .init(code: ZMQ_TCP_KEEPALIVE, name: "ZMQ_TCP_KEEPALIVE") }
    /// Milliseconds a blocking receive waits before `EAGAIN` (-1 forever).
    public static var receiveTimeout: Self { .init(code: ZMQ_RCVTIMEO, name: "ZMQ_RCVTIMEO") }
    /// Milliseconds a blocking send waits before `EAGAIN` (-1 forever).
    public static var sendTimeout: Self { .init(code: ZMQ_SNDTIMEO, name: "ZMQ_SNDTIMEO") }
}

extension SocketOption where Value == Int64 {
    /// Largest accepted inbound message in bytes (-1 = no limit). A peer
    /// that sends a larger one is disconnected.
    public static var maxMessageSize: Self { .init(code: ZMQ_MAXMSGSIZE, name: "ZMQ_MAXMSGSIZE") }
}

extension SocketOption where Value == Bool {
    /// ROUTER: sending to an unknown or unreachable routing id fails with
    /// ``ZMQError/Code/hostUnreachable`` instead of dropping silently.
    public static var routerMandatory: Self { .init(code: ZMQ_ROUTER_MANDATORY, name: "ZMQ_ROUTER_MANDATORY") }
    /// Queue messages only to completed connections (no queueing to peers
    /// that are still connecting or gone).
    public static var immediate: Self { .init(code: ZMQ_IMMEDIATE, name: "ZMQ_IMMEDIATE") }
    /// Act as a CURVE server (see ``Socket/configureCurveServer(secretKey:zapDomain:)``).
    public static var curveServer: Self { .init(code: ZMQ_CURVE_SERVER, name: "ZMQ_CURVE_SERVER") }
    /// Whether more frames of the current message follow (read only).
    public static var receiveMore: Self { .init(code: ZMQ_RCVMORE, name: "ZMQ_RCVMORE") }
}

extension SocketOption where Value == [UInt8] {
    /// The routing id a DEALER presents to a ROUTER (1–255 bytes, not starting with 0).
    public static var routingID: Self { .init(code: ZMQ_ROUTING_ID, name: "ZMQ_ROUTING_ID") }
    /// SUB: receive messages starting with this prefix (empty = everything).
    public static var subscribe: Self { .init(code: ZMQ_SUBSCRIBE, name: "ZMQ_SUBSCRIBE") }
    /// SUB: remove a subscription.
    public static var unsubscribe: Self { .init(code: ZMQ_UNSUBSCRIBE, name: "ZMQ_UNSUBSCRIBE") }
    /// ZAP domain passed to the authenticator.
    public static var zapDomain: Self { .init(code: ZMQ_ZAP_DOMAIN, name: "ZMQ_ZAP_DOMAIN") }
    /// CURVE public key, 32 bytes.
    public static var curvePublicKey: Self { .init(code: ZMQ_CURVE_PUBLICKEY, name: "ZMQ_CURVE_PUBLICKEY") }
    /// CURVE secret key, 32 bytes.
    public static var curveSecretKey: Self { .init(code: ZMQ_CURVE_SECRETKEY, name: "ZMQ_CURVE_SECRETKEY") }
    /// CURVE server public key (client side), 32 bytes.
    public static var curveServerKey: Self { .init(code: ZMQ_CURVE_SERVERKEY, name: "ZMQ_CURVE_SERVERKEY") }
}

extension Socket {
    /// Sets an `int` option.
    public func set(_ option: SocketOption<Int32>, _ value: Int32) throws(ZMQError) {
        var v = value
        try setRaw(option.code, name: option.name, &v, MemoryLayout<Int32>.size)
    }

    /// Sets an `int64_t` option.
    public func set(_ option: SocketOption<Int64>, _ value: Int64) throws(ZMQError) {
        var v = value
        try setRaw(option.code, name: option.name, &v, MemoryLayout<Int64>.size)
    }

    /// Sets a boolean (`int` 0/1) option.
    public func set(_ option: SocketOption<Bool>, _ value: Bool) throws(ZMQError) {
        var v: Int32 = value ? 1 : 0
        try setRaw(option.code, name: option.name, &v, MemoryLayout<Int32>.size)
    }

    /// Sets a binary option.
    public func set(_ option: SocketOption<[UInt8]>, _ value: [UInt8]) throws(ZMQError) {
        try value.withUnsafeBytes { buffer in
            Result { () throws(ZMQError) in try setRaw(option.code, name: option.name, buffer.baseAddress, buffer.count) }
        }.get()
    }

    /// Reads an `int` option.
    public func get(_ option: SocketOption<Int32>) throws(ZMQError) -> Int32 {
        var v: Int32 = 0
        try getRaw(option.code, name: option.name, &v, MemoryLayout<Int32>.size)
        return v
    }

    /// Reads an `int64_t` option.
    public func get(_ option: SocketOption<Int64>) throws(ZMQError) -> Int64 {
        var v: Int64 = 0
        try getRaw(option.code, name: option.name, &v, MemoryLayout<Int64>.size)
        return v
    }

    /// Reads a boolean option.
    public func get(_ option: SocketOption<Bool>) throws(ZMQError) -> Bool {
        var v: Int32 = 0
        try getRaw(option.code, name: option.name, &v, MemoryLayout<Int32>.size)
        return v != 0
    }

    /// Reads a binary option (up to 256 bytes).
    public func get(_ option: SocketOption<[UInt8]>) throws(ZMQError) -> [UInt8] {
        try getBytes(option.code, name: option.name, capacity: 256)
    }

    func setRaw(_ code: Int32, name: String, _ value: UnsafeRawPointer?, _ size: Int) throws(ZMQError) {
        try withHandle("zmq_setsockopt(\(name))") { h throws(ZMQError) in
            _ = try ZMQCall.retryingInterrupts("zmq_setsockopt(\(name))") { zmq_setsockopt(h, code, value, size) }
        }
    }

    func getRaw(_ code: Int32, name: String, _ value: UnsafeMutableRawPointer, _ size: Int) throws(ZMQError) {
        try withHandle("zmq_getsockopt(\(name))") { h throws(ZMQError) in
            var length = size
            _ = try ZMQCall.retryingInterrupts("zmq_getsockopt(\(name))") { zmq_getsockopt(h, code, value, &length) }
        }
    }

    func getBytes(_ code: Int32, name: String, capacity: Int) throws(ZMQError) -> [UInt8] {
        try withHandle("zmq_getsockopt(\(name))") { h throws(ZMQError) in
            var bytes = [UInt8](repeating: 0, count: capacity)
            var length = capacity
            _ = try bytes.withUnsafeMutableBytes { buffer in
                Result { () throws(ZMQError) in
                    try ZMQCall.retryingInterrupts("zmq_getsockopt(\(name))") {
                        zmq_getsockopt(h, code, buffer.baseAddress, &length)
                    }
                }
            }.get()
            bytes.removeSubrange(length...)
            return bytes
        }
    }
}
