/// Little-endian binary encoding used by every serialized Forest type.
///
/// Layouts are explicit (fixed-width integers, IEEE-754 bit patterns, length-prefixed
/// arrays), so the bytes are identical on every platform and can be hashed for
/// fingerprints.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    public mutating func write(_ value: UInt8) { bytes.append(value) }
    public mutating func write(_ value: Bool) { bytes.append(value ? 1 : 0) }

    public mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: Double) { write(value.bitPattern) }
    public mutating func write(_ value: Float) { write(value.bitPattern) }

    public mutating func write(_ value: String) {
        let utf8 = Array(value.utf8)
        write(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    public mutating func write(bytes raw: [UInt8]) {
        write(UInt64(raw.count))
        bytes.append(contentsOf: raw)
    }

    public mutating func write<T: FixedWidthInteger>(array: [T]) {
        write(UInt64(array.count))
        array.withUnsafeBufferPointer { buffer in
            if Int(1).littleEndian == 1 {
                bytes.append(contentsOf: UnsafeRawBufferPointer(buffer))
            } else {
                for v in buffer { write(v) }
            }
        }
    }

    public mutating func write(array: [Double]) {
        write(UInt64(array.count))
        for v in array { write(v.bitPattern) }
    }

    public mutating func write(array: [Float]) {
        write(UInt64(array.count))
        for v in array { write(v.bitPattern) }
    }

    public mutating func write(strings: [String]) {
        write(UInt32(strings.count))
        for s in strings { write(s) }
    }
}

/// Reads what ``ByteWriter`` wrote; every read is bounds-checked and a short or
/// malformed buffer throws ``ForestError`` with code `.corrupted`.
///
/// Reads from an array it holds, or from memory the caller owns
/// (``init(unsafeBytes:context:onProgress:)``: a mapped file, a received `Data`), so a
/// large payload is decoded without a copy of it.
public struct ByteReader {
    private let array: [UInt8]?
    private let raw: UnsafeRawBufferPointer?
    public let count: Int
    public private(set) var offset: Int
    /// Names the thing being decoded in error messages ("model file", "extractor state").
    public let context: String
    /// Called by decoders that have finished with every byte before `offset` (after
    /// each tree): the owner of the memory may release it.
    let onProgress: ((Int) -> Void)?

    public init(_ bytes: [UInt8], offset: Int = 0, context: String) {
        array = bytes
        raw = nil
        count = bytes.count
        self.offset = offset
        self.context = context
        onProgress = nil
    }

    /// A reader of `bytes`, which must stay valid and unchanged while the reader is used.
    public init(unsafeBytes bytes: UnsafeRawBufferPointer, context: String, onProgress: ((Int) -> Void)? = nil) {
        array = nil
        raw = bytes
        count = bytes.count
        offset = 0
        self.context = context
        self.onProgress = onProgress
    }

    public var remaining: Int { count - offset }
    public var isAtEnd: Bool { offset == count }

    @inline(__always)
    private func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let raw { return try body(raw) }
        return try array!.withUnsafeBytes(body)
    }

    /// Tells the memory's owner that the bytes before `offset` are no longer needed.
    func reportProgress() { onProgress?(offset) }

    private func fail(_ what: String) -> ForestError {
        ForestError(.corrupted, "\(context): truncated or malformed data at byte \(offset) (\(what))")
    }

    public mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw fail("need \(size) bytes for \(T.self)") }
        let o = offset
        let value = withBytes { $0.loadUnaligned(fromByteOffset: o, as: T.self) }
        offset += size
        return T(littleEndian: value)
    }

    public mutating func readByte() throws -> UInt8 { try read(UInt8.self) }
    public mutating func readBool() throws -> Bool {
        let b = try readByte()
        guard b <= 1 else { throw fail("boolean byte \(b)") }
        return b == 1
    }
    public mutating func readDouble() throws -> Double { Double(bitPattern: try read(UInt64.self)) }
    public mutating func readFloat() throws -> Float { Float(bitPattern: try read(UInt32.self)) }

    /// A count that must fit in the remaining bytes at `elementSize` bytes each.
    public mutating func readCount(elementSize: Int, limit: Int = Int.max) throws -> Int {
        let raw = try read(UInt64.self)
        guard raw <= UInt64(limit), raw <= UInt64(remaining / max(elementSize, 1)) else {
            throw fail("count \(raw) exceeds the remaining data")
        }
        return Int(raw)
    }

    public mutating func readString() throws -> String {
        let n = Int(try read(UInt32.self))
        guard remaining >= n else { throw fail("string of \(n) bytes") }
        let o = offset
        let s = withBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[o..<o + n]), as: UTF8.self) }
        offset += n
        return s
    }

    public mutating func readBytes() throws -> [UInt8] {
        let n = try readCount(elementSize: 1)
        let o = offset
        let out = withBytes { Array($0[o..<o + n]) }
        offset += n
        return out
    }

    public mutating func readArray<T: FixedWidthInteger>(_: T.Type) throws -> [T] {
        let n = try readCount(elementSize: MemoryLayout<T>.size)
        let size = MemoryLayout<T>.size
        let o = offset
        var out = [T](unsafeUninitializedCapacity: n) { dest, initialized in
            withBytes { src in
                UnsafeMutableRawBufferPointer(dest).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[o..<o + n * size]))
            }
            initialized = n
        }
        offset += n * size
        if Int(1).littleEndian != 1 { out = out.map { T(littleEndian: $0) } }
        return out
    }

    public mutating func readDoubles() throws -> [Double] {
        guard Int(1).littleEndian == 1 else { return try readArray(UInt64.self).map { Double(bitPattern: $0) } }
        return try readBitwise(Double.self)
    }

    public mutating func readFloats() throws -> [Float] {
        guard Int(1).littleEndian == 1 else { return try readArray(UInt32.self).map { Float(bitPattern: $0) } }
        return try readBitwise(Float.self)
    }

    /// A length-prefixed array copied as raw bytes (little-endian hosts only).
    private mutating func readBitwise<T: BitwiseCopyable>(_: T.Type) throws -> [T] {
        let size = MemoryLayout<T>.stride
        let n = try readCount(elementSize: size)
        let o = offset
        let out = [T](unsafeUninitializedCapacity: n) { dest, initialized in
            withBytes { src in
                UnsafeMutableRawBufferPointer(dest).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[o..<o + n * size]))
            }
            initialized = n
        }
        offset += n * size
        return out
    }

    public mutating func readStrings() throws -> [String] {
        let n = Int(try read(UInt32.self))
        guard n <= remaining / 4 else { throw fail("string count \(n)") }
        var out: [String] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readString()) }
        return out
    }

    /// Throws unless every byte was consumed.
    public func expectEnd() throws {
        guard isAtEnd else { throw fail("\(remaining) unexpected trailing bytes") }
    }
}

/// A value with one canonical byte encoding (checkpoints, the wire, the model file,
/// fingerprints): `write(to:)` and `read(from:)` define it; `serialize()` and
/// `init(deserializing:)` frame it as a whole buffer, rejecting trailing bytes.
public protocol ByteCodable {
    /// Names the value in decoding errors ("tree", "data set schema").
    static var byteContext: String { get }
    func write(to w: inout ByteWriter)
    static func read(from r: inout ByteReader) throws -> Self
    /// Bytes to reserve before encoding (0: no hint).
    var encodedSizeHint: Int { get }
}

extension ByteCodable {
    public var encodedSizeHint: Int { 0 }

    /// The canonical bytes.
    public func serialize() -> [UInt8] {
        var w = ByteWriter(capacity: encodedSizeHint)
        write(to: &w)
        return w.bytes
    }

    /// Decodes exactly one value from `bytes`; a malformed or longer buffer is a ``ForestError``.
    public init(deserializing bytes: [UInt8]) throws {
        var r = ByteReader(bytes, context: Self.byteContext)
        self = try Self.read(from: &r)
        try r.expectEnd()
    }
}
