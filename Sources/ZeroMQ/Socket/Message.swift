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
    /// All frames' bytes, concatenated.
    @usableFromInline var storage: [UInt8]
    /// End offset of each frame in `storage`.
    @usableFromInline var ends: [Int]

    /// An empty message (no frames).
    public init() {
        storage = []
        ends = []
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

    // MARK: Collection of frames

    public typealias Index = Int
    public typealias Element = ArraySlice<UInt8>

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { ends.count }

    /// The bytes of frame `index` (no copy; a slice of the message's buffer).
    @inlinable
    public subscript(index: Int) -> ArraySlice<UInt8> {
        storage[frameRange(index)]
    }

    /// The byte range of frame `index` in ``bytes``.
    @inlinable
    public func frameRange(_ index: Int) -> Range<Int> {
        (index == 0 ? 0 : ends[index - 1])..<ends[index]
    }

    /// The concatenated bytes of all frames.
    @inlinable public var bytes: [UInt8] { storage }

    /// Total size of all frames, in bytes.
    @inlinable public var byteCount: Int { storage.count }

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

    /// Removes every frame, keeping the capacity for reuse.
    @inlinable
    public mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }

    /// Appends a frame.
    @inlinable
    public mutating func append(_ frame: [UInt8]) {
        storage.append(contentsOf: frame)
        ends.append(storage.count)
    }

    /// Appends a frame.
    @inlinable
    public mutating func append(_ frame: ArraySlice<UInt8>) {
        storage.append(contentsOf: frame)
        ends.append(storage.count)
    }

    /// Appends a frame holding the UTF-8 bytes of `string`.
    @inlinable
    public mutating func append(_ string: String) {
        storage.append(contentsOf: string.utf8)
        ends.append(storage.count)
    }

    /// Appends a frame copied from raw memory.
    @inlinable
    public mutating func append(_ frame: UnsafeRawBufferPointer) {
        if frame.count > 0 {
            storage.append(contentsOf: frame.assumingMemoryBound(to: UInt8.self))
        }
        ends.append(storage.count)
    }

    /// Reserves room for `bytes` bytes in `frames` frames.
    public mutating func reserveCapacity(bytes: Int, frames: Int) {
        storage.reserveCapacity(bytes)
        ends.reserveCapacity(frames)
    }

    public var description: String {
        "Message(\(count) frames: \(map { $0.count }) bytes)"
    }
}
