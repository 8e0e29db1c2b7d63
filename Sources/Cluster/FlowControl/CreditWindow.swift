/// Credit-based flow control for one stream (e.g. the row batches of one
/// attempt). The receiver grants cumulative credit in messages and bytes; the
/// sender never sends beyond it, so the receiver never buffers more than its
/// window. Grants are totals, not increments: a duplicated or reordered grant
/// cannot inflate the credit.
public enum CreditWindow {
    /// A cumulative grant: the sender may have sent at most this much in total.
    public struct Grant: Sendable, Hashable {
        public var messages: UInt64
        public var bytes: UInt64

        public init(messages: UInt64, bytes: UInt64) {
            self.messages = messages
            self.bytes = bytes
        }
    }

    /// The sending side (the coordinator for rows, a worker for predictions).
    public struct Sender: Sendable, Hashable {
        public private(set) var granted = Grant(messages: 0, bytes: 0)
        public private(set) var sentMessages: UInt64 = 0
        public private(set) var sentBytes: UInt64 = 0

        public init() {}

        /// Applies a grant from the receiver. A grant below an earlier one is a protocol error.
        public mutating func receive(_ grant: Grant) throws(ProtocolError) {
            guard grant.messages >= granted.messages, grant.bytes >= granted.bytes else {
                throw ProtocolError(
                    .outOfRange, "credit went down from \(granted.messages)/\(granted.bytes) to \(grant.messages)/\(grant.bytes)",
                    messageKind: "credit")
            }
            granted = grant
        }

        /// Whether a message of `bytes` may be sent now.
        public func canSend(bytes: Int) -> Bool {
            sentMessages < granted.messages && sentBytes + UInt64(bytes) <= granted.bytes
        }

        /// Messages that could still be sent, ignoring size.
        public var availableMessages: UInt64 { granted.messages - sentMessages }
        public var availableBytes: UInt64 { granted.bytes - sentBytes }

        /// Records a message sent; fails (and records nothing) without credit.
        public mutating func sent(bytes: Int) throws(ProtocolError) {
            guard canSend(bytes: bytes) else {
                throw ProtocolError(
                    .creditExceeded,
                    "no credit for a message of \(bytes) bytes (\(availableMessages) messages, \(availableBytes) bytes left)")
            }
            sentMessages += 1
            sentBytes += UInt64(bytes)
        }
    }

    /// The receiving side. It grants a window of `windowMessages` messages and
    /// `windowBytes` bytes beyond what it has consumed, and re-grants once half
    /// the window has been consumed (one grant per several messages).
    public struct Receiver: Sendable, Hashable {
        public let windowMessages: UInt64
        public let windowBytes: UInt64
        public private(set) var granted: Grant
        public private(set) var receivedMessages: UInt64 = 0
        public private(set) var receivedBytes: UInt64 = 0
        public private(set) var consumedMessages: UInt64 = 0
        public private(set) var consumedBytes: UInt64 = 0

        /// `windowBytes` must exceed the largest message the sender may send,
        /// or the stream stalls; `initialGrant` is the first grant to send.
        public init(windowMessages: UInt64, windowBytes: UInt64) {
            self.windowMessages = max(1, windowMessages)
            self.windowBytes = max(1, windowBytes)
            granted = Grant(messages: self.windowMessages, bytes: self.windowBytes)
        }

        public var initialGrant: Grant { Grant(messages: windowMessages, bytes: windowBytes) }

        /// Received but not yet consumed.
        public var bufferedMessages: UInt64 { receivedMessages - consumedMessages }
        public var bufferedBytes: UInt64 { receivedBytes - consumedBytes }

        /// Accounts a received message; beyond the granted credit it is a protocol error.
        public mutating func received(bytes: Int) throws(ProtocolError) {
            let b = UInt64(bytes)
            guard receivedMessages < granted.messages, receivedBytes + b <= granted.bytes else {
                throw ProtocolError(
                    .creditExceeded,
                    "message of \(bytes) bytes beyond credit (granted \(granted.messages) messages / \(granted.bytes) bytes, received \(receivedMessages) / \(receivedBytes))"
                )
            }
            receivedMessages += 1
            receivedBytes += b
        }

        /// The application finished with a received message of `bytes`.
        /// Returns a new grant to send when half the window has been consumed since the last one.
        /// Ignored (nil) when nothing is outstanding.
        public mutating func consumed(bytes: Int) -> Grant? {
            guard consumedMessages < receivedMessages else { return nil }
            consumedMessages += 1
            consumedBytes += UInt64(bytes)
            let next = Grant(messages: consumedMessages + windowMessages, bytes: consumedBytes + windowBytes)
            let messagesFreed = next.messages - granted.messages
            let bytesFreed = next.bytes - granted.bytes
            guard messagesFreed * 2 >= windowMessages || bytesFreed * 2 >= windowBytes else { return nil }
            granted = next
            return next
        }
    }
}
