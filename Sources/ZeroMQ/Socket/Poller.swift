import CZeroMQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Readiness a ``Poller`` waits for or reports.
public struct PollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// At least one message (or byte, for a file descriptor) can be read.
    public static let readable = PollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// At least one message can be sent without blocking.
    public static let writable = PollEvents(rawValue: Int16(ZMQ_POLLOUT))
}

/// Waits until one of several sockets (or file descriptors, such as a
/// ``Mailbox``'s) is ready: `zmq_poll`.
///
///     var poller = Poller()
///     let fromWorkers = poller.add(router)
///     let fromProgram = poller.add(mailbox)
///     while !stop.isStopRequested {
///         guard try poller.poll(timeout: .milliseconds(100)) > 0 else { continue }
///         if poller.isReadable(fromWorkers) { … }
///         if poller.isReadable(fromProgram) { … }
///     }
///
/// A poller keeps its sockets alive and belongs to the thread that owns them.
public struct Poller {
    private var items: [zmq_pollitem_t] = []
    private var sockets: [Socket?] = []

    public init() {}

    /// The number of registered items.
    public var count: Int { items.count }

    /// Registers a socket; returns its index for ``events(_:)``.
    @discardableResult
    public mutating func add(_ socket: Socket, events: PollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: 0, events: events.rawValue, revents: 0))
        sockets.append(socket)
        return items.count - 1
    }

    /// Registers a file descriptor; returns its index for ``events(_:)``.
    @discardableResult
    public mutating func add(fileDescriptor: Int32, events: PollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: events.rawValue, revents: 0))
        sockets.append(nil)
        return items.count - 1
    }

    /// Registers a mailbox's wake-up descriptor; readable when it has elements.
    @discardableResult
    public mutating func add<Element>(_ mailbox: Mailbox<Element>) -> Int {
        add(fileDescriptor: mailbox.fileDescriptor, events: .readable)
    }

    /// Changes the events awaited for item `index`.
    public mutating func setEvents(_ events: PollEvents, for index: Int) {
        items[index].events = events.rawValue
    }

    /// Waits until at least one item is ready or the timeout passes.
    ///
    /// - Parameter timeout: `nil` waits forever; `.zero` checks and returns.
    ///   A signal (`EINTR`) resumes the wait for the remaining time.
    /// - Returns: the number of ready items (0 on timeout).
    @discardableResult
    public mutating func poll(timeout: Duration?) throws(ZMQError) -> Int {
        for index in items.indices {
            items[index].revents = 0
            if let socket = sockets[index] {
                // A closed socket must not reach zmq_poll (ENOTSOCK at best).
                guard let handle = socket.handle else {
                    throw ZMQError(code: .notASocket, operation: "zmq_poll", detail: "item \(index) is a closed socket")
                }
                items[index].socket = handle
            }
        }
        let deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        let sockets = self.sockets
        return try withExtendedLifetime(sockets) { () throws(ZMQError) -> Int in
            while true {
                let milliseconds = deadline.map { ContinuousClock.now.duration(to: $0).roundedUpMilliseconds } ?? -1
                let count = Int32(items.count)
                let rc = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, count, milliseconds) }
                if rc >= 0 { return Int(rc) }
                let code = zmq_errno()
                if code == EINTR {
                    if milliseconds == 0 { return 0 }
                    continue
                }
                throw ZMQError(code: .init(rawValue: code), operation: "zmq_poll")
            }
        }
    }

    /// The events item `index` reported in the last ``poll(timeout:)``.
    public func events(_ index: Int) -> PollEvents {
        PollEvents(rawValue: items[index].revents)
    }

    /// Whether item `index` was readable in the last ``poll(timeout:)``.
    public func isReadable(_ index: Int) -> Bool {
        events(index).contains(.readable)
    }

    /// Whether item `index` was writable in the last ``poll(timeout:)``.
    public func isWritable(_ index: Int) -> Bool {
        events(index).contains(.writable)
    }
}
