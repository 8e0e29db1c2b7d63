import CZeroMQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a frame is sent.
public struct SendFlags: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// More frames of the same message follow (`ZMQ_SNDMORE`).
    public static let more = SendFlags(rawValue: ZMQ_SNDMORE)
    /// Fail instead of blocking when the message cannot be queued
    /// (`ZMQ_DONTWAIT`); the send then returns `false`.
    public static let dontWait = SendFlags(rawValue: ZMQ_DONTWAIT)
}

extension Socket {
    // MARK: Sending

    /// Sends one frame copied from `bytes`.
    ///
    /// Blocks while the peer's queue is at its high-water mark unless
    /// `flags` contains ``SendFlags/dontWait``. A multipart message is
    /// delivered atomically: all frames or none.
    ///
    /// - Returns: `false` if the frame was not queued because of
    ///   ``SendFlags/dontWait`` or `ZMQ_SNDTIMEO`; `true` otherwise.
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, flags: SendFlags = []) throws(ZMQError) -> Bool {
        try withHandle("zmq_send") { h throws(ZMQError) in
            try ZMQCall.retryingInterruptsUnlessWouldBlock("zmq_send") {
                zmq_send(h, bytes.baseAddress, bytes.count, flags.rawValue)
            } != nil
        }
    }

    /// Sends one frame.
    @discardableResult
    public func send(_ bytes: [UInt8], flags: SendFlags = []) throws(ZMQError) -> Bool {
        try bytes.withUnsafeBytes { buffer in Result { () throws(ZMQError) in try send(buffer, flags: flags) } }.get()
    }

    /// Sends one frame.
    @discardableResult
    public func send(_ bytes: ArraySlice<UInt8>, flags: SendFlags = []) throws(ZMQError) -> Bool {
        try bytes.withUnsafeBytes { buffer in Result { () throws(ZMQError) in try send(buffer, flags: flags) } }.get()
    }

    /// Sends one frame holding the UTF-8 bytes of `string`.
    @discardableResult
    public func send(_ string: String, flags: SendFlags = []) throws(ZMQError) -> Bool {
        var string = string
        return try string.withUTF8 { buffer in
            Result { () throws(ZMQError) in try send(UnsafeRawBufferPointer(buffer), flags: flags) }
        }.get()
    }

    /// Sends every frame of `message` as one multipart message.
    ///
    /// - Parameter flags: only ``SendFlags/dontWait`` is meaningful (it
    ///   applies to the first frame; once it is queued the rest always are).
    ///   Add ``SendFlags/more`` to continue the message with further sends.
    /// - Returns: `false` if nothing was queued because of ``SendFlags/dontWait``.
    @discardableResult
    public func send(_ message: Message, flags: SendFlags = []) throws(ZMQError) -> Bool {
        let last = message.count - 1
        guard last >= 0 else {
            throw ZMQError(code: .invalidArgument, operation: "zmq_send", detail: "a message needs at least one frame")
        }
        return try message.storage.withUnsafeBytes { all in
            Result { () throws(ZMQError) -> Bool in
                try withHandle("zmq_send") { h throws(ZMQError) -> Bool in
                    var start = 0
                    for index in 0...last {
                        let end = message.ends[index]
                        var frameFlags = flags.subtracting(.more)
                        if index < last || flags.contains(.more) { frameFlags.insert(.more) }
                        if index > 0 { frameFlags.remove(.dontWait) }
                        let sent = try ZMQCall.retryingInterruptsUnlessWouldBlock("zmq_send") {
                            zmq_send(h, all.baseAddress.map { $0 + start }, end - start, frameFlags.rawValue)
                        }
                        if sent == nil { return false }
                        start = end
                    }
                    return true
                }
            }
        }.get()
    }

    /// Sends the frames as one multipart message (see ``send(_:flags:)-(Message,_)``).
    @discardableResult
    public func send(frames: [[UInt8]], flags: SendFlags = []) throws(ZMQError) -> Bool {
        try send(Message(frames: frames), flags: flags)
    }

    // MARK: Receiving

    /// Receives one whole multipart message into `message`, replacing its
    /// frames and reusing its buffer.
    ///
    /// - Parameter timeout: `nil` blocks until a message arrives (signals
    ///   are retried; only ``Context/shutdown()`` ends the wait, with
    ///   ``ZMQError/Code/contextTerminated``); `.zero` returns at once;
    ///   otherwise waits at most about this long (millisecond resolution).
    ///   Loops that must stop on request use a timeout and check a flag.
    /// - Returns: `true` if a message was received, `false` on timeout
    ///   (`message` is then empty).
    @discardableResult
    public func receive(into message: inout Message, timeout: Duration? = nil) throws(ZMQError) -> Bool {
        message.removeAll()
        return try withHandle("zmq_msg_recv") { h throws(ZMQError) -> Bool in
            guard let timeout else {
                return try receiveFrames(h, into: &message, firstFlags: 0)  // false only if ZMQ_RCVTIMEO expired
            }
            // Fast path: a message is already queued.
            if try receiveFrames(h, into: &message, firstFlags: ZMQ_DONTWAIT) { return true }
            let deadline = ContinuousClock.now.advanced(by: timeout)
            while true {
                let remaining = ContinuousClock.now.duration(to: deadline)
                if remaining <= .zero { return false }
                var item = zmq_pollitem_t(socket: h, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
                let ready = try ZMQCall.retryingInterruptsUnlessWouldBlock("zmq_poll") {
                    let rc = zmq_poll(&item, 1, remaining.roundedUpMilliseconds)
                    return rc == -1 && zmq_errno() == EINTR ? 0 : rc  // re-check the deadline
                }
                if ready == 0 { continue }
                if try receiveFrames(h, into: &message, firstFlags: ZMQ_DONTWAIT) { return true }
            }
        }
    }

    /// Receives one whole multipart message, or `nil` on timeout. Allocates
    /// a new ``Message``; loops should reuse one with ``receive(into:timeout:)``.
    public func receive(timeout: Duration? = nil) throws(ZMQError) -> Message? {
        var message = Message()
        return try receive(into: &message, timeout: timeout) ? message : nil
    }

    /// Receives one whole multipart message and calls `visit` with each
    /// frame's bytes in place, without copying them: the fastest way to
    /// decode large frames. The buffer is valid only during the call.
    ///
    /// If `visit` throws, the rest of the message is still consumed (so the
    /// next receive starts at a message boundary) and the error is rethrown.
    ///
    /// - Parameter timeout: as for ``receive(into:timeout:)``.
    /// - Returns: `true` if a message was received, `false` on timeout.
    @discardableResult
    public func receive(
        timeout: Duration? = nil,
        visitingFrames visit: (_ frame: UnsafeRawBufferPointer, _ index: Int) throws -> Void
    ) throws -> Bool {
        var failure: (any Error)?
        var index = 0
        let received = try withHandle("zmq_msg_recv") { h throws(ZMQError) -> Bool in
            if let timeout, timeout > .zero {
                guard try waitReadable(h, timeout: timeout) else { return false }
            }
            let msg = self.message
            defer {
                zmq_msg_close(msg)
                zmq_msg_init(msg)
            }
            var flags: Int32 = timeout == nil ? 0 : ZMQ_DONTWAIT
            while true {
                guard try ZMQCall.retryingInterruptsUnlessWouldBlock("zmq_msg_recv", { zmq_msg_recv(msg, h, flags) }) != nil else {
                    return false
                }
                if failure == nil {
                    do { try visit(UnsafeRawBufferPointer(start: zmq_msg_data(msg), count: zmq_msg_size(msg)), index) } catch {
                        failure = error
                    }
                }
                index += 1
                if zmq_msg_more(msg) == 0 { return true }
                flags = 0
            }
        }
        if let failure { throw failure }
        return received
    }

    /// Waits until `h` is readable or `timeout` passes; `EINTR` resumes the wait.
    private func waitReadable(_ h: UnsafeMutableRawPointer, timeout: Duration) throws(ZMQError) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            var item = zmq_pollitem_t(socket: h, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
            let remaining = ContinuousClock.now.duration(to: deadline)
            let rc = zmq_poll(&item, 1, max(0, remaining.roundedUpMilliseconds))
            if rc > 0 { return true }
            if rc == 0 { return false }
            let code = zmq_errno()
            if code == EINTR { if remaining <= .zero { return false } else { continue } }
            throw ZMQError(code: .init(rawValue: code), operation: "zmq_poll")
        }
    }

    /// Receives all frames of one message; `false` if the first frame would block.
    @inline(__always)
    private func receiveFrames(_ h: UnsafeMutableRawPointer, into message: inout Message, firstFlags: Int32) throws(ZMQError) -> Bool {
        let msg = self.message
        defer {
            // Release the last frame's buffer now rather than at the next receive.
            zmq_msg_close(msg)
            zmq_msg_init(msg)
        }
        var flags = firstFlags
        while true {
            let received = try ZMQCall.retryingInterruptsUnlessWouldBlock("zmq_msg_recv") {
                zmq_msg_recv(msg, h, flags)
            }
            guard received != nil else {
                // Only the first frame can be missing: later frames of a
                // message arrive together with it.
                return false
            }
            message.append(UnsafeRawBufferPointer(start: zmq_msg_data(msg), count: zmq_msg_size(msg)))
            if zmq_msg_more(msg) == 0 { return true }
            flags = 0
        }
    }
}

extension Duration {
    /// Milliseconds, rounded up, clamped to `Int`; negative becomes 0.
    var roundedUpMilliseconds: Int {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        if seconds > Int64(Int.max / 1000 - 1) { return Int.max / 2 }
        let ms = Int(seconds) * 1000 + Int((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        return ms
    }
}
