/// A multipart message: its frames stored back to back in one byte buffer.
///
/// Reuse one `Message` for every receive in a loop: ``Socket/receive(into:timeout:)``
/// empties it while keeping its capacity, so the hot path allocates only
/// when a message is larger than any before it.
///
///     var message = Message()
///     while try router.receive(into: &message, timeout: .milliseconds(100)) {
///         let peer = message[0]      // ROUTER: the sender's routing id
///         let body = message[1]
///         …
///     }
///
/// `Message` is a value (copy-on-write) and `Sendable`: a copy can be handed
/// to another thread; the next receive then allocates a fresh buffer.
public struct Message: Sendable, Hashable, RandomAccessCollection, CustomStringConvertible {
    /// The frames' bytes, back to back, in `storage[0..<usedBytes]`; bytes
    /// beyond are spare capacity kept initialised so reuse costs no work.
    @usableFromInline var storage: [UInt8]
    /// End offset of each frame in `storage`; only the first `frameCount` are valid.
    @usableFromInline var ends: [Int]
    @usableFromInline var usedBytes: Int
    @usableFromInline var frameCount: Int

    /// An empty message (no frames).
    public init() {
        storage = []
        ends = []
        usedBytes = 0
        frameCount = 0
    }

    /// A message with the given frames.
    public init(_ frames: [UInt8]...) {
        self.init(frames: frames)
    }

    /// A message with the given frames.
    public init<S: Sequence>(frames: S) where S.Element == [UInt8] {
        self.init()
        for frame in frames { append(frame) }
    }

    /// A message whose frames are the UTF-8 bytes of the given strings.
    public init(strings: [String]) {
        self.init()
        for s in strings { append(s) }
    }

    public static func == (lhs: Message, rhs: Message) -> Bool {
        lhs.frameCount == rhs.frameCount
            && lhs.ends[..<lhs.frameCount] == rhs.ends[..<rhs.frameCount]
            && lhs.storage[..<lhs.usedBytes] == rhs.storage[..<rhs.usedBytes]
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(frameCount)
        for end in ends[..<frameCount] { hasher.combine(end) }
        storage.withUnsafeBytes { hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: $0[..<usedBytes])) }
    }

    // MARK: Collection of frames

    public typealias Index = Int
    public typealias Element = ArraySlice<UInt8>

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { frameCount }

    /// The bytes of frame `index` (no copy; a slice of the message's buffer).
    @inlinable
    public subscript(index: Int) -> ArraySlice<UInt8> {
        storage[frameRange(index)]
    }

    /// The byte range of frame `index` in ``bytes``.
    @inlinable
    public func frameRange(_ index: Int) -> Range<Int> {
        precondition(index >= 0 && index < frameCount, "frame index \(index) out of range 0..<\(frameCount)")
        return (index == 0 ? 0 : ends[index - 1])..<ends[index]
    }

    /// The concatenated bytes of all frames.
    @inlinable public var bytes: ArraySlice<UInt8> { storage[..<usedBytes] }

    /// Total size of all frames, in bytes.
    @inlinable public var byteCount: Int { usedBytes }

    /// The number of bytes the message can hold before it must grow.
    public var capacity: Int { storage.count }

    /// Calls `body` with frame `index`'s bytes (no copy, no allocation).
    @inlinable
    public func withFrame<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let range = frameRange(index)
        return try storage.withUnsafeBytes { all in
            try body(UnsafeRawBufferPointer(rebasing: all[range]))
        }
    }

    /// Frame `index` decoded as UTF-8 (invalid bytes become U+FFFD).
    public func string(at index: Int) -> String {
        withFrame(index) { String(decoding: $0, as: UTF8.self) }
    }

    // MARK: Building

    /// Removes every frame, keeping the buffer for reuse (no work, no allocation).
    @inlinable
    public mutating func removeAll() {
        usedBytes = 0
        frameCount = 0
    }

    /// Appends a frame.
    @inlinable
    public mutating func append(_ frame: [UInt8]) {
        frame.withUnsafeBytes { append($0) }
    }

    /// Appends a frame.
    @inlinable
    public mutating func append(_ frame: ArraySlice<UInt8>) {
        frame.withUnsafeBytes { append($0) }
    }

    /// Appends a frame holding the UTF-8 bytes of `string`.
    @inlinable
    public mutating func append(_ string: String) {
        var string = string
        string.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// Appends a frame copied from raw memory.
    @inlinable
    public mutating func append(_ frame: UnsafeRawBufferPointer) {
        let end = usedBytes + frame.count
        if end > storage.count {
            storage.append(contentsOf: repeatElement(0, count: Swift.max(end, 2 * storage.count) - storage.count))
        }
        if frame.count > 0 {
            let start = usedBytes
            storage.withUnsafeMutableBytes { ($0.baseAddress! + start).copyMemory(from: frame.baseAddress!, byteCount: frame.count) }
        }
        usedBytes = end
        if frameCount < ends.count {
            ends[frameCount] = end
        } else {
            ends.append(end)
        }
        frameCount += 1
    }

    /// Reserves room for `bytes` bytes in `frames` frames.
    public mutating func reserveCapacity(bytes: Int, frames: Int) {
        if storage.count < bytes { storage.append(contentsOf: repeatElement(0, count: bytes - storage.count)) }
        ends.reserveCapacity(frames)
    }

    public var description: String {
        "Message(\(count) frames: \(map { $0.count }) bytes)"
    }
}
